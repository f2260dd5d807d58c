"""Write routes: the `Idempotency-Key` header, and how a service's result is answered.

Every write route that takes an `Idempotency-Key` answers through `write`: a retry is replayed
before the body is validated, the change runs in one unit of work with its stored response
(services/idempotency.py), and the result becomes a response here, where status codes and
headers are chosen: `Created` is 201 with `Location`, `Changed` is 200. Replayed responses are
the stored ones with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.services.idempotency import IdempotencyRequest
from loopnode.services.results import Change, Created, Replayed, Result, StoredResponse
from loopnode.web.auth import container
from loopnode.web.concurrency import call
from loopnode.web.responses import LDJSONResponse

__all__ = ["HEADER", "REPLAYED", "idempotency_request", "render", "respond", "write"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def idempotency_request(
    request: Request, principal: Principal, body: Any
) -> IdempotencyRequest | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    return IdempotencyRequest.of(principal.name, key, request.method, request.url.path, body)


def render(result: Result) -> StoredResponse:
    if isinstance(result, Created):
        return StoredResponse(201, result.document, {"Location": result.path})
    return StoredResponse(200, result.document)


def respond(result: Result | Replayed) -> Response:
    if isinstance(result, Replayed):
        stored = result.response
        return LDJSONResponse(stored.body, stored.status, {**stored.headers, REPLAYED: "true"})
    answer = render(result)
    return LDJSONResponse(answer.body, answer.status, answer.headers)


async def write(
    request: Request, principal: Principal, body: Any, plan: Callable[[], Change[Any]]
) -> Response:
    """Answer a write: the stored response for a retry, else `plan()`'s change, run once.

    `plan` validates the body and returns the change; it is not called for a replay, so a
    retry is answered the same whatever the body's validity.
    """
    idem = idempotency_request(request, principal, body)
    writes = container(request).idempotency

    def once() -> Result | Replayed:
        replayed = writes.replay(idem)
        if replayed is not None:
            return replayed
        return writes.run(idem, plan(), render)

    return respond(await call(request, once))
