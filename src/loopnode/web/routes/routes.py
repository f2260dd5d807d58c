"""`GET /api/v1/material/{id}/routes` (issue 11 item 4): every candidate destination for a
material, ranked by LoopCost, with the one the protocol selects and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.services.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["Routing"])


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
