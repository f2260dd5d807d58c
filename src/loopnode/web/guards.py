"""The request guard: one check of the path, query string and headers before any route runs.

Bodies are checked where they are parsed (`web.bodies.parse_json` and the core-dp route, both
through `protocol.input_limits.check_json`); everything else a client controls is checked
here, for every route, including those added later. A NUL character anywhere (PostgreSQL
cannot store or even compare it), a bare integer outside 64 bits in a path segment or query
value (it would overflow a BIGINT column), or a path or query longer than any legitimate
request is answered 400 with the §8.3 body, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.input_limits import check_integer, check_text
from loopnode.web.errors import respond

MAX_PATH_CHARS = 2048
MAX_QUERY_BYTES = 8192
_INTEGER = re.compile(r"^[+-]?[0-9]{19,}\Z")
_DIGIT_RUN = re.compile(r"[0-9]{19}")


def check_request_target(path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Raise InvalidRequest for a target no route could handle safely."""
    if len(path) > MAX_PATH_CHARS:
        raise InvalidRequest(f"the path is longer than {MAX_PATH_CHARS} characters")
    check_text(path, "the path")
    if _DIGIT_RUN.search(path):  # else no segment can be an integer past 64 bits
        for segment in path.split("/"):
            _check_number(segment, "a path segment")
    if len(query) > MAX_QUERY_BYTES:
        raise InvalidRequest(f"the query string is longer than {MAX_QUERY_BYTES} bytes")
    if query:
        _check_query(query)
    for name_bytes, value_bytes in headers:
        if b"\x00" in value_bytes:
            raise InvalidRequest(
                f"header {name_bytes.decode('latin-1')!r} contains a NUL character"
            )


def _check_query(query: bytes) -> None:
    text = query.decode("latin-1")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the query string is not valid UTF-8") from exc
    for name, value in pairs:
        check_text(name, "a query parameter name")
        check_text(value, f"query parameter {name!r}")
        _check_number(value, f"query parameter {name!r}")


def _check_number(value: str, where: str) -> None:
    if _INTEGER.match(value):
        check_integer(int(value), where)


class RequestGuard:
    """Pure ASGI middleware: refuses hostile request targets before routing (400, §8.3)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                check_request_target(
                    scope.get("path", ""), scope.get("query_string", b""), scope.get("headers", [])
                )
            except InvalidRequest as exc:
                await respond(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)
