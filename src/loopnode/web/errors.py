"""The one mapping from errors to HTTP: §8.3 bodies everywhere, core-dp bodies on its route.

`{"error": {"code", "message", "details"}}` for every failure, including the framework's own
404/405 and query-parameter errors. Unexpected exceptions, and our own failures (`NodeFailure`),
become a 500 INTERNAL_ERROR; the traceback goes to the log. The core-dp route answers with the
core-dp error body (`DP/error.schema.json`) and the statuses of `COREDP_STATUS` instead.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from loopnode.bootstrap import DATABASE_FAULTS
from loopnode.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    LoopError,
    NotFound,
    RateLimited,
    StorageUnavailable,
    Unauthorized,
)
from loopnode.protocol.coredp.errors import ErrorCode
from loopnode.protocol.coredp.errors import error_body as coredp_error_body
from loopnode.protocol.validation import json_pointer
from loopnode.web.responses import JSONResponse

log = logging.getLogger("loopnode.web")

STATUS: dict[type[LoopError], int] = {
    InvalidRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
}
_FAILED = "the node failed to handle the request"
HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT"}

# SPEC-DIGEST §2.6: the reference backend's mapping of core-dp error codes to HTTP statuses.
COREDP_STATUS: Final[dict[str, int]] = {
    "invalid_request": 400,
    "unsupported_profile_version": 400,
    "schema_invalid": 400,
    "unauthorized": 401,
    "signature_invalid": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "duplicate": 409,
    "stale_message": 409,
    "internal_error": 500,
    "partition": 503,
    "timeout": 504,
}


class HTTPProblem(LoopError):
    """A transport-level failure with its own status (405, 413, 415)."""

    code = "INVALID_REQUEST"

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.status = status


class Unavailable(HTTPProblem):
    """The database is unreachable or too slow: 503 with `Retry-After` (DECISIONS: code
    INTERNAL_ERROR, the nearest §8.3 code)."""

    code = "INTERNAL_ERROR"
    retry_after_s = 5

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def status_for(error: LoopError) -> int:
    if isinstance(error, HTTPProblem):
        return error.status
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def respond(error: LoopError) -> Response:
    status = status_for(error)
    if status >= 500:
        log.error("node failure: %s", error.message, exc_info=error)
    if isinstance(error, StorageUnavailable):  # names nothing internal, as an unexpected error
        return JSONResponse(error_body("INTERNAL_ERROR", _FAILED), status)
    headers = {"WWW-Authenticate": 'Bearer realm="loopnode"'} if status == 401 else None
    if status == 429 and "retry_after_s" in error.details:
        headers = {"Retry-After": str(error.details["retry_after_s"])}
    elif isinstance(error, Unavailable):
        headers = {"Retry-After": str(error.retry_after_s)}
    return JSONResponse(error_body(error.code, error.message, error.details), status, headers)


def coredp_response(
    code: ErrorCode, message: str, correlation_id: str, status: int | None = None
) -> Response:
    """A core-dp error body with the status of `COREDP_STATUS` (or `status`, for 413/415)."""
    body = coredp_error_body(code, message, correlation_id)
    return JSONResponse(body, status or COREDP_STATUS[code])


async def _loop_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoopError)
    return respond(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = "no such resource on this node"
    elif exc.status_code == 405:
        message = "method not allowed on this resource"
    else:
        message = str(exc.detail)
    code = HTTP_CODES.get(
        exc.status_code, "INVALID_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR"
    )
    return JSONResponse(error_body(code, message), exc.status_code, getattr(exc, "headers", None))


async def _request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"pointer": json_pointer(tuple(err["loc"])), "message": err["msg"]} for err in exc.errors()
    ]
    return JSONResponse(
        error_body("INVALID_REQUEST", "the request parameters are invalid", {"validation": issues}),
        400,
    )


async def _database_down(_request: Request, exc: Exception) -> Response:
    # One line, not a traceback per request: an outage would otherwise flood the log.
    log.warning("database unavailable: %s", str(exc).splitlines()[0][:300])
    return respond(Unavailable("the database is unavailable; retry later"))


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    # An aborted upload is the client's choice, not our failure: one line, no traceback.
    log.info("client disconnected before sending the whole request body")
    return JSONResponse(error_body("INVALID_REQUEST", "the request body was not completed"), 400)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("INTERNAL_ERROR", _FAILED), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoopError, _loop_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    for fault in DATABASE_FAULTS:
        app.add_exception_handler(fault, _database_down)
    app.add_exception_handler(Exception, _unexpected)
