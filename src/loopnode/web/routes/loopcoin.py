"""LoopCoin routes (issue 10; docs/ledger.md): config, accounts, balances, statements, supply,
issuance, redemption and transfers; the clearing rounds this node applied
(docs/clearing-rounds.md).

Bodies are parsed with JSON numbers as exact decimals (`Decimal`), never through a binary
float, so `9.01` is 901 cents and `9.001` is refused. Operator calls (issue, redeem) take any
API key until roles exist; so does paying from an account (docs/ledger.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import TimestampError, parse_timestamp
from loopnode.services.access.apikeys import Principal
from loopnode.services.ledger.clearing_round import scheduled_rounds
from loopnode.web.auth import container, reader, writer
from loopnode.web.bodies import read_body
from loopnode.web.concurrency import call
from loopnode.web.node_auth import SignedRequest, signed_peer
from loopnode.web.openapi_docs import WRITE_ERRORS, errors
from loopnode.web.responses import JSONResponse, LDJSONResponse

__all__ = ["clearing_router", "federate_router", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/loopcoin", tags=["LoopCoin"])
Writer = Annotated[Principal, Depends(writer)]
Reader = Annotated[Principal, Depends(reader)]
At = Annotated[str | None, Query(description="RFC 3339 time to project to (not in the past)")]


def _refuse_constant(name: str) -> Any:
    raise InvalidRequest("NaN and Infinity are not JSON numbers", {"value": name})


async def exact_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object whose non-integer numbers are `Decimal`."""
    raw = await read_body(request, container(request).settings.max_body_bytes)
    if not raw.strip():
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        document = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the request body is not valid JSON", {"reason": str(exc)}) from exc
    if not isinstance(document, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return document


def holder_of(principal: Principal) -> str | None:
    """Who holds an account this principal opens: its credential's pseudonymous subject."""
    return principal.subject


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise InvalidRequest("at must be an RFC 3339 date-time", {"at": value}) from exc


@router.get(
    "/config",
    response_class=LDJSONResponse,
    summary="This node's LoopCoinConfig (public), with the live current_supply",
)
async def loopcoin_config(request: Request) -> Response:
    return LDJSONResponse(await call(request, container(request).ledger.loopcoin_config))


@router.get(
    "/supply",
    response_class=JSONResponse,
    summary="Issued, redeemed, circulating, community fund and reserve",
    description="`circulating + community_fund = issued − redeemed`; `?at=` projects decay.",
    responses=errors(400, 401),
)
async def supply(request: Request, _p: Reader, at: At = None) -> Response:
    return JSONResponse(await call(request, container(request).ledger.supply, _at(at)))


@router.post(
    "/accounts",
    status_code=201,
    response_class=JSONResponse,
    summary='Open a pseudonymous account: {"kind": "user"|"business"}',
    responses=errors(*WRITE_ERRORS),
)
async def open_account(request: Request, principal: Writer) -> Response:
    body = await exact_json_object(request)
    ledger = container(request).ledger
    answer = await call(request, ledger.open_account, body, holder_of(principal))
    location = f"/api/v1/loopcoin/accounts/{answer['id']}"
    return JSONResponse(answer, status_code=201, headers={"Location": location})


@router.get(
    "/accounts/{account_id}",
    response_class=JSONResponse,
    summary="An account's balance and lots (oldest first)",
    responses=errors(400, 401, 404),
)
async def account(request: Request, account_id: str, _p: Reader, at: At = None) -> Response:
    ledger = container(request).ledger
    return JSONResponse(await call(request, ledger.account, account_id, _at(at)))


@router.get(
    "/accounts/{account_id}/statement",
    response_class=JSONResponse,
    summary="An account's postings, oldest first (`next_after` → `after`)",
    responses=errors(400, 401, 404),
)
async def statement(
    request: Request,
    account_id: str,
    _p: Reader,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    ledger = container(request).ledger
    return JSONResponse(await call(request, ledger.statement, account_id, after, limit))


def _operator_write(path: str, summary: str, action: str) -> None:
    """Issue and redemption: the ledger's answer and status, as JSON."""

    @router.post(
        path,
        status_code=201,
        response_class=JSONResponse,
        summary=summary,
        responses=errors(*WRITE_ERRORS),
        name=action,
    )
    async def write(request: Request, principal: Writer) -> Response:
        body = await exact_json_object(request)
        ledger_action = getattr(container(request).ledger, action)
        status, answer = await call(request, ledger_action, body, principal.name)
        return JSONResponse(answer, status_code=status)


_operator_write("/issue", 'Issue LoopCoin: {"to", "amount", "reserve_deposit"} (operator)', "issue")
_operator_write("/redeem", 'Redeem LoopCoin: {"from", "amount"} (operator)', "redeem")


@router.post(
    "/transfer",
    status_code=201,
    response_class=LDJSONResponse,
    summary="Pay with a LoopCoinTransfer (idempotent by id)",
    description="201 the stored transfer; the same body again 200; the same id with another "
    "body 409; insufficient funds 409; an amount below 0.01 or not a multiple of it 400.",
    responses=errors(*WRITE_ERRORS),
)
async def transfer(request: Request, principal: Writer) -> Response:
    body = await exact_json_object(request)
    ledger = container(request).ledger
    status, answer = await call(request, ledger.transfer, body, principal.name, principal)
    headers = {"Location": f"/api/v1/loopcoin/transfer/{answer['id']}"}
    return LDJSONResponse(answer, status_code=status, headers=headers)


@router.get(
    "/transfer/{transfer_id}",
    response_class=LDJSONResponse,
    summary="A stored LoopCoinTransfer",
    responses=errors(401, 404),
)
async def read_transfer(request: Request, transfer_id: str, _p: Reader) -> Response:
    ledger = container(request).ledger
    return LDJSONResponse(await call(request, ledger.transfer_record, transfer_id))


@asynccontextmanager
async def clearing_schedule(app: Any) -> AsyncIterator[None]:
    """The scheduled clearing round (`loopcoin_clearing_interval_h`, daily by default)."""
    services = app.state.container
    interval_h = services.settings.loopcoin_clearing_interval_h
    task = None
    if interval_h > 0 and services.federation.run_worker:
        task = asyncio.create_task(
            scheduled_rounds(
                services.ledger.rounds,
                services.uow,
                services.federation.transport_factory,
                services.clock,
                interval_h * 3600,
                services.settings.federation_timeout_s,
                tick_s=min(60.0, max(interval_h * 360, 0.5)),
                log=log.info,
            )
        )
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


federate_router = APIRouter(prefix="/api/v1", tags=["LoopCoin"], lifespan=clearing_schedule)


@federate_router.post(
    "/federate/settlement",
    status_code=202,
    response_class=JSONResponse,
    summary="Receive a peer's InterNodeSettlement or §7.4 Settlement (signed request)",
    description="Reconciled into an open bilateral obligation owed to this node; the same "
    "document again is answered the same way.",
    responses=errors(400, 401, 403),
)
async def receive_settlement(
    request: Request, signed: Annotated[SignedRequest, Depends(signed_peer)]
) -> Response:
    payload = signed.json_object()
    inbox = container(request).ledger.inbox
    return JSONResponse(await call(request, inbox.receive, signed.node_id, payload), 202)


@router.get(
    "/obligations",
    response_class=JSONResponse,
    summary="Bilateral obligations between this node and its peers (backing currency)",
    responses=errors(401),
)
async def obligations(request: Request, _p: Writer) -> Response:
    inbox = container(request).ledger.inbox
    return JSONResponse({"obligations": await call(request, inbox.obligations)})


@federate_router.post(
    "/federate/clearing/obligations",
    response_class=JSONResponse,
    summary="A clearing round gathers this node's open obligations (signed request)",
    responses=errors(400, 401, 403),
)
async def clearing_obligations(
    request: Request, _signed: Annotated[SignedRequest, Depends(signed_peer)]
) -> Response:
    rounds = container(request).ledger.rounds
    return JSONResponse(await call(request, rounds.open_obligations))


@federate_router.post(
    "/federate/clearing/result",
    response_class=JSONResponse,
    summary="A clearing round's signed result: verified, then this node's part applied",
    responses=errors(400, 401, 403),
)
async def clearing_result(
    request: Request, signed: Annotated[SignedRequest, Depends(signed_peer)]
) -> Response:
    rounds = container(request).ledger.rounds
    answer = await call(request, rounds.apply, signed.node_id, signed.json_object())
    return JSONResponse(answer)


clearing_router = APIRouter(prefix="/api/v1/clearing", tags=["LoopCoin"])
ROUNDS_EXAMPLE = {
    "id": "6f1c0e9a-2b7d-4c1e-9a51-0d3f3c2b9e10",
    "coordinator": "munich.loop",
    "applied_at": "2026-12-06T21:00:00Z",
    "participants": ["berlin.loop", "munich.loop", "vienna.loop"],
    "total": "500.00",
    "cleared": "300.00",
    "remaining": "200.00",
    "bilateral_netting": "100.00",
    "part": {
        "obligations": ["munich.loop:tx-1", "vienna.loop:tx-2"],
        "remaining": [],
        "owed_before": "100.00",
        "owed_after": "0.00",
        "owed_to_before": "100.00",
        "owed_to_after": "0.00",
    },
}
ROUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "coordinator",
        "applied_at",
        "participants",
        "total",
        "cleared",
        "remaining",
        "part",
    ],
    "properties": {
        "id": {"type": "string"},
        "coordinator": {"type": "string"},
        "applied_at": {"type": "string", "format": "date-time"},
        "participants": {"type": "array", "items": {"type": "string"}},
        "total": {"type": "string", "description": "inputs, backing currency"},
        "cleared": {"type": "string", "description": "total − remaining"},
        "remaining": {"type": "string"},
        "bilateral_netting": {"type": "string", "description": "pairwise netting alone"},
        "part": {"type": "object", "description": "this node's obligations before and after"},
    },
}


def _ok(schema: dict[str, Any], example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    content = {"application/json": {"schema": schema, "example": example}}
    return {200: {"description": "OK", "content": content}}


@clearing_router.get(
    "/rounds",
    response_class=JSONResponse,
    summary="The clearing rounds this node applied, newest first (`next_cursor` → `cursor`)",
    responses={
        **_ok(
            {
                "type": "object",
                "required": ["rounds", "next_cursor"],
                "properties": {
                    "rounds": {"type": "array", "items": ROUND_SCHEMA},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
            {"rounds": [ROUNDS_EXAMPLE], "next_cursor": None},
        ),
        **errors(400, 401, 403),
    },
)
async def clearing_rounds(
    request: Request,
    _p: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    rounds = container(request).ledger.rounds
    return JSONResponse(await call(request, rounds.history, limit, cursor))


@clearing_router.get(
    "/rounds/{round_id}",
    response_class=JSONResponse,
    summary="One clearing round this node applied",
    responses={**_ok(ROUND_SCHEMA, ROUNDS_EXAMPLE), **errors(400, 401, 403, 404)},
)
async def clearing_round(request: Request, round_id: str, _p: Reader) -> Response:
    rounds = container(request).ledger.rounds
    return JSONResponse(await call(request, rounds.round, round_id))
