"""`POST /api/v1/loopcost` (spec §7, DECISIONS 14): a LoopCost quote with its breakdown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse
from loopnode.web.routes.routing_bodies import read_exact_object

router = APIRouter(prefix="/api/v1", tags=["Routing"])

QUOTE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["category", "base_price", "origin_node", "destination_node"],
                    "additionalProperties": False,
                    "properties": {
                        "category": {"type": "string", "examples": ["organic-food"]},
                        "base_price": {"type": ["number", "string"], "examples": ["60.00"]},
                        "origin_node": {"type": "string", "examples": ["munich.loop"]},
                        "destination_node": {"type": "string", "examples": ["vienna.loop"]},
                        "origin_signal": {"type": "number", "minimum": 0, "maximum": 1},
                        "destination_signal": {"type": "number", "minimum": 0, "maximum": 1},
                        "distance_km": {"type": "number", "minimum": 0},
                    },
                }
            }
        },
    }
}


@router.post(
    "/loopcost",
    response_class=JSONResponse,
    summary="Quote the LoopCost of moving a lot between two nodes",
    description="Local (same node) = base price only; otherwise base + base × origin signal + "
    "base × destination signal + 0.02 LC/km. Missing signals come from this node's and the "
    "peers' published configs, missing distance from the nodes' registered locations. "
    "Amounts are decimal strings.",
    responses=errors(400, 401, 413, 415),
    openapi_extra=QUOTE_BODY,
)
async def loopcost(request: Request, _p: Annotated[Principal, Depends(reader)]) -> Response:
    services = container(request)
    _plain, exact = await read_exact_object(request, services.settings.max_body_bytes)
    cost = services.routing.cost
    await cost.directory.refresh(cost.nodes_needing_signals(exact))
    return JSONResponse(await call(request, cost.quote, exact))
