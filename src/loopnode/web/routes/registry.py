"""MaterialDNA and ProductDNA routes (spec §8.1), one router per kind from one definition."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader, writer
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import WRITE_ERRORS, errors, json_body
from loopnode.web.responses import JSONResponse, LDJSONResponse
from loopnode.web.routes.registry_reads import read_answer, search_answer
from loopnode.web.routes.registry_register import register_answer

ENTITY = {"material": "MaterialDNA", "product": "ProductDNA"}
SEARCH_SCHEMA = {"material": "MaterialSearchRequest", "product": "ProductSearchRequest"}


def registry_router(kind: str) -> APIRouter:
    entity = ENTITY[kind]
    router = APIRouter(prefix=f"/api/v1/{kind}", tags=[entity])

    @router.post(
        "",
        status_code=201,
        response_class=LDJSONResponse,
        summary=f"Register a {entity}",
        description=f"Validates and stores a {entity}; mints an id when none is sent. "
        'Answers the stored record plus `"status": "registered"`.',
        responses=errors(*WRITE_ERRORS),
        openapi_extra=json_body(entity, f"A {entity} passport"),
    )
    async def register(
        request: Request, principal: Annotated[Principal, Depends(writer)]
    ) -> Response:
        return await register_answer(request, kind, principal)

    @router.get(
        "",
        response_class=JSONResponse,
        summary=f"List {entity} records",
        description="Keyset pagination in (updated_at, id) order; filters: category, "
        "origin_city, current_city, availability (available|reserved|withdrawn), source_node, "
        "updated_since. Pass `next_cursor` back as `cursor` with the same filters.",
        responses=errors(400, 401),
    )
    async def list_records(
        request: Request,
        _principal: Annotated[Principal, Depends(reader)],
        cursor: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=100)] = None,
        category: str | None = None,
        origin_city: str | None = None,
        current_city: str | None = None,
        availability: str | None = None,
        source_node: str | None = None,
        updated_since: str | None = None,
    ) -> Response:
        raw = {
            "category": category,
            "origin_city": origin_city,
            "current_city": current_city,
            "availability": availability,
            "source_node": source_node,
            "updated_since": updated_since,
        }
        params = {k: v for k, v in raw.items() if v is not None}
        services = container(request)
        page = await call(request, services.search.list_records, kind, params, cursor, limit)
        return JSONResponse(page)

    @router.post(
        "/search",
        response_class=JSONResponse,
        summary=f"Search {entity} records",
        description="Protocol mode (openapi `MaterialSearchRequest`: category with `*` suffix "
        "wildcard, radius_km around this node, min_quantity in kg/l/pieces) or core-dp mode "
        "(the search-contract searchRequest, selected by `limit` or `entity_type`). In "
        "protocol mode the next page is the `next` URL (`?cursor=`).",
        responses=errors(400, 401, 413, 415),
        openapi_extra=json_body(SEARCH_SCHEMA[kind], "A protocol or core-dp search request"),
    )
    async def search(
        request: Request,
        _principal: Annotated[Principal, Depends(reader)],
        cursor: str | None = None,
    ) -> Response:
        return await search_answer(request, kind, cursor)

    @router.get(
        "/{record_id}",
        response_class=LDJSONResponse,
        summary=f"Read a {entity}",
        responses=errors(401, 404),
    )
    async def read(
        request: Request,
        record_id: str,
        _principal: Annotated[Principal, Depends(reader)],
    ) -> Response:
        return await read_answer(request, kind, record_id)

    return router
