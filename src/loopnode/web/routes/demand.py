"""Demand listings (issue 11 item 3): `POST/GET /api/v1/demand`, one listing, withdrawal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader, writer
from loopnode.web.bodies import read_json_object
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import WRITE_ERRORS, errors
from loopnode.web.responses import JSONResponse
from loopnode.web.routes.routing_bodies import read_exact_object

router = APIRouter(prefix="/api/v1", tags=["Demand"])
Writer = Annotated[Principal, Depends(writer)]
Reader = Annotated[Principal, Depends(reader)]

DEMAND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["category", "quantity", "valid_until", "requester"],
                    "additionalProperties": False,
                    "properties": {
                        "category": {"type": "string", "examples": ["organic-food"]},
                        "quantity": {
                            "type": "object",
                            "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
                        },
                        "max_price": {"type": ["number", "string"], "examples": ["70.00"]},
                        "location": {
                            "type": "object",
                            "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                        },
                        "valid_until": {"type": "string", "format": "date-time"},
                        "requester": {
                            "type": "string",
                            "examples": ["business:b-7f3a@munich.loop"],
                        },
                        "notes": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


@router.post(
    "/demand",
    status_code=201,
    response_class=JSONResponse,
    summary="Publish a wanted listing",
    responses=errors(*WRITE_ERRORS),
    openapi_extra=DEMAND_BODY,
)
async def create(request: Request, principal: Writer) -> Response:
    services = container(request)
    _plain, exact = await read_exact_object(request, services.settings.max_body_bytes)
    created = await call(request, services.routing.demand.create, exact, principal)
    return JSONResponse(created, 201)


@router.get(
    "/demand",
    response_class=JSONResponse,
    summary="Search wanted listings (category with a * suffix, status; unexpired by default)",
    responses=errors(400, 401),
)
async def search(
    request: Request,
    _p: Reader,
    category: str | None = None,
    status: str | None = "open",
    include_expired: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    service = container(request).routing.demand
    found = await call(request, service.search, category, status, include_expired, limit)
    return JSONResponse(found)


@router.get(
    "/demand/{demand_id}",
    response_class=JSONResponse,
    summary="One wanted listing",
    responses=errors(401, 404),
)
async def one(request: Request, demand_id: str, _p: Reader) -> Response:
    return JSONResponse(await call(request, container(request).routing.demand.get, demand_id))


@router.post(
    "/demand/{demand_id}/status",
    response_class=JSONResponse,
    summary='Withdraw a listing: {"status": "withdrawn"}',
    responses=errors(400, 401, 403, 404, 409),
)
async def status(request: Request, demand_id: str, principal: Writer) -> Response:
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    service = services.routing.demand
    return JSONResponse(await call(request, service.set_status, demand_id, body, principal))
