"""`GET /api/v1/material/{id}/routes` (issue 11 item 4): every candidate destination for a
material, ranked by LoopCost, with the one the protocol selects and why."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.bootstrap import Container
from loopnode.services.access.apikeys import Principal
from loopnode.services.routing.batch import allocate
from loopnode.web.auth import container, reader, writer
from loopnode.web.concurrency import call, offload
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse
from loopnode.web.routes.routing_bodies import read_exact_object

router = APIRouter(prefix="/api/v1", tags=["Routing"])
logger = logging.getLogger(__name__)


@router.get(
    "/material/{material_id}/routes",
    response_class=JSONResponse,
    summary="Rank the destinations of a material by LoopCost and say which one is selected",
    description="Candidates: local demand listings, peers' bids (`federate/offer`), and peers "
    "whose published signals name the category (tentative). Selection: the lowest LoopCost "
    "among firm, eligible candidates; local wins ties. `base_price` overrides the material's.",
    responses=errors(400, 401, 404),
)
async def routes(
    request: Request,
    material_id: str,
    _p: Annotated[Principal, Depends(reader)],
    base_price: str | None = None,
) -> Response:
    calculator = container(request).routing.routes
    await calculator.refresh_signals()
    return JSONResponse(await call(request, calculator.routes, material_id, base_price))


@router.post(
    "/material/{material_id}/routes/confirm",
    response_class=JSONResponse,
    summary="Carry out a proposed routing decision (overflow_auto_select = false)",
    responses=errors(401, 403, 404, 409),
)
async def confirm(
    request: Request, material_id: str, _p: Annotated[Principal, Depends(writer)]
) -> Response:
    overflow = container(request).routing.overflow
    await overflow.refresh_signals()
    return JSONResponse(await call(request, overflow.confirm, material_id))


@router.get(
    "/routing/overflow",
    response_class=JSONResponse,
    summary="Where each local material stands in the overflow policy, with its last decision",
    responses=errors(400, 401),
)
async def overflow_states(
    request: Request, _p: Annotated[Principal, Depends(reader)], state: str | None = None
) -> Response:
    overflow = container(request).routing.overflow
    return JSONResponse(await call(request, overflow.listing, state))


@router.post(
    "/routing/step",
    response_class=JSONResponse,
    summary="Run one overflow step now (what the background task does every overflow_poll_s)",
    responses=errors(401, 403),
)
async def step(request: Request, _p: Annotated[Principal, Depends(writer)]) -> Response:
    overflow = container(request).routing.overflow
    await overflow.refresh_signals()
    return JSONResponse(await offload(overflow.step))


async def start(app: Any, services: Container) -> asyncio.Task[None] | None:
    """The overflow background task, when `overflow_worker` is set."""
    if not services.settings.overflow_worker:
        return None
    return asyncio.create_task(_loop(services))


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _loop(services: Container) -> None:
    overflow = services.routing.overflow
    while True:
        await asyncio.sleep(services.settings.overflow_poll_s)
        try:
            await overflow.refresh_signals()
            await offload(overflow.step)
        except Exception:
            logger.exception("overflow step failed")


@router.post(
    "/route/batch",
    response_class=JSONResponse,
    summary="Allocate many lots to many demands at the least total LoopCost",
    description="Input `{nodes, distances, supplies, demands}`; answers `{allocations: [{supply, "
    "demand, quantity, loop_cost}], total_loop_cost, moved_quantity, local_share, km_moved, "
    "greedy: {...}}` (docs/routing.md).",
    responses=errors(400, 401, 403, 413, 415),
)
async def batch(request: Request, _p: Annotated[Principal, Depends(writer)]) -> Response:
    services = container(request)
    _plain, exact = await read_exact_object(request, services.settings.max_body_bytes)
    return JSONResponse(await offload(allocate, exact))
