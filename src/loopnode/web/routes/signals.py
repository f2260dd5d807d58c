"""LoopSignal routes (spec §6, DECISIONS 17, 25): the published config (always public),
proposals, ballots and closing a vote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, writer
from loopnode.web.bodies import read_json_object
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import WRITE_ERRORS, errors
from loopnode.web.responses import JSONResponse, LDJSONResponse
from loopnode.web.routes.routing_bodies import read_exact_object

router = APIRouter(prefix="/api/v1", tags=["Signals"])
Writer = Annotated[Principal, Depends(writer)]

BALLOT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["voter", "choice"],
                    "additionalProperties": False,
                    "properties": {
                        "voter": {"type": "string", "examples": ["user:u-4f2a@munich.loop"]},
                        "choice": {"type": "string", "enum": ["for", "against"]},
                    },
                }
            }
        },
    }
}


@router.get(
    "/signals",
    response_class=LDJSONResponse,
    summary="The LoopSignalConfig in force (always public, §6.2)",
)
async def signals(request: Request) -> Response:
    service = container(request).routing.signals
    return LDJSONResponse(await call(request, service.config))


@router.get(
    "/signals/history",
    response_class=JSONResponse,
    summary="Every published LoopSignalConfig, newest first (public)",
)
async def history(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    service = container(request).routing.signals
    return JSONResponse({"results": await call(request, service.history, limit)})


@router.post(
    "/signals/proposals",
    status_code=201,
    response_class=JSONResponse,
    summary="Submit a SignalProposal",
    description="Each change's `current` must equal the value in force; a change may move a "
    "category by at most 0.10, and all proposals closing in the same month together by at most "
    "0.10 (DECISIONS 17). Answers the stored proposal with its `id`.",
    responses=errors(*WRITE_ERRORS),
)
async def propose(request: Request, _p: Writer) -> Response:
    services = container(request)
    plain, exact = await read_exact_object(request, services.settings.max_body_bytes)
    created = await call(request, services.routing.signals.propose, plain, exact)
    return JSONResponse(created, status_code=201)


@router.get(
    "/signals/proposals",
    response_class=JSONResponse,
    summary="Signal proposals with their state and ballot counts (public)",
    responses=errors(400),
)
async def proposals(
    request: Request,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    service = container(request).routing.signals
    return JSONResponse(await call(request, service.proposals, state, limit))


@router.get(
    "/signals/proposals/{proposal_id}",
    response_class=JSONResponse,
    summary="One signal proposal (public)",
    responses=errors(404),
)
async def proposal(request: Request, proposal_id: str) -> Response:
    service = container(request).routing.signals
    return JSONResponse(await call(request, service.proposal, proposal_id))


@router.post(
    "/signals/proposals/{proposal_id}/ballots",
    status_code=201,
    response_class=JSONResponse,
    summary="Cast a ballot: one voter, one ballot, while voting is open",
    responses=errors(*WRITE_ERRORS, 404),
    openapi_extra=BALLOT_BODY,
)
async def ballot(request: Request, proposal_id: str, principal: Writer) -> Response:
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    cast = await call(request, services.routing.signals.ballot, proposal_id, body, principal)
    return JSONResponse(cast, status_code=201)


@router.post(
    "/signals/proposals/{proposal_id}/close",
    response_class=LDJSONResponse,
    summary="Count the ballots after voting closes: a LoopVote; a passed proposal is published",
    responses=errors(401, 403, 404, 409),
)
async def close(request: Request, proposal_id: str, _p: Writer) -> Response:
    service = container(request).routing.signals
    return LDJSONResponse(await call(request, service.close, proposal_id))
