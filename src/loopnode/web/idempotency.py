"""The `Idempotency-Key` header on POST routes (semantics in `services/idempotency.py`).

Routes whose service runs the change in one unit of work pass the request on, and the service
stores the response in that same transaction (the registry too: `RegistryService.registration`).
`run_once` is for actions that must open their own transactions: it claims the key before and
stores the response after, so a crash in between leaves a pending key for five minutes.
Replayed responses carry `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from loopnode.services.apikeys import Principal
from loopnode.services.idempotency import IdempotencyRequest, Outcome
from loopnode.web.auth import container
from loopnode.web.concurrency import call
from loopnode.web.responses import LDJSONResponse

__all__ = ["HEADER", "REPLAYED", "idempotency_request", "respond", "run_once"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def idempotency_request(
    request: Request, principal: Principal, body: Any
) -> IdempotencyRequest | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    return IdempotencyRequest.of(principal.name, key, request.method, request.url.path, body)


def respond(outcome: Outcome) -> Response:
    headers = dict(outcome.headers)
    if outcome.replayed:
        headers[REPLAYED] = "true"
    return LDJSONResponse(outcome.body, outcome.status, headers)


async def run_once(
    request: Request,
    principal: Principal,
    body: Any,
    action: Callable[[], Awaitable[Outcome]],
) -> Response:
    """Run `action` at most once per idempotency key, for actions with their own transactions."""
    idem = idempotency_request(request, principal, body)
    if idem is None:
        return respond(await action())
    service = container(request).idempotency
    stored = await call(request, service.begin, idem)
    if stored is not None:
        return respond(stored)
    try:
        outcome = await action()
    except Exception:
        await call(request, service.abandon, idem)
        raise
    await call(request, service.finish, idem, outcome)
    return respond(outcome)
