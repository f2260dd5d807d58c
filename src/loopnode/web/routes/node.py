"""`GET /api/v1/node/info` (spec §8.1) and the evidence log (DECISIONS 22)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse, LDJSONResponse

router = APIRouter(prefix="/api/v1")


@router.get(
    "/node/info",
    tags=["Node"],
    response_class=LDJSONResponse,
    summary="This node's NodeInfo, with live statistics",
    responses=errors(401),
)
async def node_info(request: Request, _p: Annotated[Principal, Depends(reader)]) -> Response:
    return LDJSONResponse(await call(request, container(request).node_info.node_info))


@router.get(
    "/evidence",
    tags=["Evidence"],
    response_class=JSONResponse,
    summary="Page through the append-only evidence log",
    description="Entries after sequence `after`, oldest first. `format=core-dp` exports the "
    "entries whose subject the core-dp evidence-entry schema covers, in that schema.",
    responses=errors(400, 401),
)
async def evidence(
    request: Request,
    _p: Annotated[Principal, Depends(reader)],
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    format: Literal["native", "core-dp"] = "native",
) -> Response:
    page = await call(request, container(request).evidence.page, after, limit, format)
    return JSONResponse(page)
