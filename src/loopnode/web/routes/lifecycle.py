"""Exchange lifecycle routes (DECISIONS 7): offers, matches, transfers, material status updates,
transactions, status transitions and passport history.

Every POST takes an optional `Idempotency-Key` header. Entities are answered as JSON-LD
(`application/ld+json`); listings as `application/json` with `next_cursor` keyset pagination.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.services.access.ownership import bound
from loopnode.web.auth import container, reader, writer
from loopnode.web.bodies import read_json_object
from loopnode.web.concurrency import call
from loopnode.web.idempotency import HEADER, idempotency_request, write
from loopnode.web.openapi_docs import WRITE_ERRORS, errors, json_body
from loopnode.web.responses import JSONResponse, LDJSONResponse
from loopnode.web.routes.registry_reads import AuthorizedRoute

__all__ = ["lifecycle_router"]

ENTITIES = {"offer": "Offer", "match": "Match", "transfer": "Transfer"}
FILTERS = {
    "offer": ("status", "material_id", "product_id"),
    "match": ("status", "material_id", "product_id", "offer_id"),
    "transfer": ("status", "material_id", "product_id", "offer_id", "match_id"),
    "material-status": ("status", "material_id"),
    "transaction": ("status", "material_id"),
}
PAGING = ("cursor", "limit")
TRANSITION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "additionalProperties": False,
                    "properties": {
                        "status": {"type": "string"},
                        "reason": {"type": "string", "maxLength": 200},
                    },
                }
            }
        },
    }
}
IDEMPOTENCY_HEADER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Retries with the same key and body replay the first response (24 h).",
}

Writer = Annotated[Principal, Depends(writer)]
Reader = Annotated[Principal, Depends(reader)]


async def create_answer(request: Request, entity: str, principal: Principal) -> Response:
    """`POST /api/v1/{offer,match,transfer}`: the APIRoute's answer and the plain route's."""
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    if bound(principal):  # a registrar changes only its organisation's records
        await call(request, services.ownership.check_subject, principal, body)
    plan = partial(services.lifecycle.create_change, entity, body, principal.name)
    return await write(request, principal, body, plan)


def plain_routes() -> list[AuthorizedRoute]:
    """The creations, the hot writes of every exchange, served before FastAPI's router without
    its dependency solving (as the passport routes: web/routes/registry_reads.py); the
    APIRoutes stay registered so that /openapi.json documents them."""
    routes = []
    for entity in ENTITIES:

        async def create(request: Request, entity: str = entity) -> Response:
            return await create_answer(request, entity, await writer(request))

        routes.append(AuthorizedRoute(f"/api/v1/{entity}", "POST", create))
    return routes


def lifecycle_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for entity in ENTITIES:
        _exchange_routes(router, entity)
    _status_update_routes(router)
    _transaction_routes(router)
    _history_routes(router)
    return router


def _listing(entity: str) -> dict[str, Any]:
    names = (*FILTERS[entity], *PAGING)
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in names
        ]
    }


def _writing(schema: str | None, description: str) -> dict[str, Any]:
    extra = dict(TRANSITION_BODY) if schema is None else json_body(schema, description)
    return {**extra, "parameters": [IDEMPOTENCY_HEADER]}


def _params(request: Request, entity: str) -> tuple[dict[str, str], str | None, int | None]:
    query = request.query_params
    params = {k: v for k, v in query.items() if k not in PAGING}
    limit = query.get("limit")
    if limit is not None and not limit.isdigit():
        limit = "0"  # the service answers 400 for a limit out of range
    return params, query.get("cursor"), None if limit is None else int(limit)


def _exchange_routes(router: APIRouter, entity: str) -> None:
    name = ENTITIES[entity]
    article = "an" if name[0] in "AEIOU" else "a"
    plural = name + ("es" if name.endswith("ch") else "s")
    tags: list[str | Any] = [name]

    @router.post(
        f"/{entity}",
        status_code=201,
        tags=tags,
        response_class=LDJSONResponse,
        summary=f"Create {article} {name}",
        description=f"Validates and stores a {name} (an id is minted when absent). It may be "
        "created in any state reachable from its initial one; the node applies what the "
        "implied transitions mean. Invariants: DECISIONS 9-11.",
        responses=errors(*WRITE_ERRORS),
        openapi_extra=_writing(name, f"A {name}"),
        name=f"create_{entity}",
    )
    async def create(request: Request, principal: Writer) -> Response:
        return await create_answer(request, entity, principal)

    @router.get(
        f"/{entity}",
        tags=tags,
        response_class=JSONResponse,
        summary=f"List {plural}",
        description=f"Creation order, keyset pagination (`next_cursor` → `cursor`); filters: "
        f"{', '.join(FILTERS[entity])}.",
        responses=errors(400, 401),
        openapi_extra=_listing(entity),
        name=f"list_{entity}",
    )
    async def listing(request: Request, _p: Reader) -> Response:
        params, cursor, limit = _params(request, entity)
        service = container(request).lifecycle
        return JSONResponse(await call(request, service.list, entity, params, cursor, limit))

    @router.get(
        f"/{entity}/{{entity_id}}",
        tags=tags,
        response_class=LDJSONResponse,
        summary=f"Read {article} {name}",
        responses=errors(401, 404),
        name=f"read_{entity}",
    )
    async def read(request: Request, entity_id: str, _p: Reader) -> Response:
        service = container(request).lifecycle
        return LDJSONResponse(await call(request, service.get, entity, entity_id))

    @router.post(
        f"/{entity}/{{entity_id}}/status",
        tags=tags,
        response_class=LDJSONResponse,
        summary=f"Change {article} {name}'s status",
        description='Body `{"status": ..., "reason"?: ...}`. A transition the state table '
        "does not allow, or one that would break an invariant, is 409 naming the current state.",
        responses=errors(*WRITE_ERRORS, 404),
        openapi_extra=_writing(None, "The target status"),
        name=f"transition_{entity}",
    )
    async def transition(request: Request, entity_id: str, principal: Writer) -> Response:
        services = container(request)
        body = await read_json_object(request, services.settings.max_body_bytes)
        if bound(principal):  # a registrar changes only its organisation's records
            await call(request, services.ownership.check_exchange, principal, entity, entity_id)
        service = services.lifecycle
        plan = partial(service.transition_change, entity, entity_id, body, principal.name)
        return await write(request, principal, body, plan)


def _status_update_routes(router: APIRouter) -> None:
    tags: list[str | Any] = ["MaterialStatusUpdate"]

    @router.post(
        "/material-status",
        status_code=201,
        tags=tags,
        response_class=LDJSONResponse,
        summary="Record a MaterialStatusUpdate (availability)",
        responses=errors(*WRITE_ERRORS),
        openapi_extra=_writing("MaterialStatusUpdate", "A MaterialStatusUpdate"),
    )
    async def create(request: Request, principal: Writer) -> Response:
        services = container(request)
        body = await read_json_object(request, services.settings.max_body_bytes)
        idempotency_request(request, principal, body)  # a malformed key is 400 before 403
        await call(
            request, services.ownership.check, principal, "material", body.get("material_id")
        )
        plan = partial(services.material_status.record_change, body, principal.name)
        return await write(request, principal, body, plan)

    @router.get(
        "/material-status",
        tags=tags,
        response_class=JSONResponse,
        summary="List MaterialStatusUpdates",
        responses=errors(400, 401),
        openapi_extra=_listing("material-status"),
    )
    async def listing(request: Request, _p: Reader) -> Response:
        params, cursor, limit = _params(request, "material-status")
        service = container(request).material_status
        return JSONResponse(await call(request, service.list, params, cursor, limit))

    @router.get(
        "/material-status/{update_id}",
        tags=tags,
        response_class=LDJSONResponse,
        summary="Read a MaterialStatusUpdate",
        responses=errors(401, 404),
    )
    async def read(request: Request, update_id: str, _p: Reader) -> Response:
        service = container(request).material_status
        return LDJSONResponse(await call(request, service.get, update_id))


def _transaction_routes(router: APIRouter) -> None:
    tags: list[str | Any] = ["Transaction"]

    @router.post(
        "/transaction",
        status_code=201,
        tags=tags,
        response_class=LDJSONResponse,
        summary="Record a MaterialTransaction, Settlement or TransactionStatus",
        description="Answers the transaction's TransactionStatus; `settlement_url` is the "
        "transaction's URL.",
        responses=errors(*WRITE_ERRORS),
        openapi_extra=_writing("MaterialTransaction", "A transaction document"),
    )
    async def submit(request: Request, principal: Writer) -> Response:
        services = container(request)
        body = await read_json_object(request, services.settings.max_body_bytes)
        if bound(principal):  # a registrar changes only its organisation's records
            await call(request, services.ownership.check_subject, principal, body)
        plan = partial(services.transactions.submit_change, body, principal.name)
        return await write(request, principal, body, plan)

    @router.get(
        "/transaction",
        tags=tags,
        response_class=JSONResponse,
        summary="List transactions (as TransactionStatus)",
        responses=errors(400, 401),
        openapi_extra=_listing("transaction"),
    )
    async def listing(request: Request, _p: Reader) -> Response:
        params, cursor, limit = _params(request, "transaction")
        service = container(request).transactions
        return JSONResponse(await call(request, service.list, params, cursor, limit))

    @router.get(
        "/transaction/{transaction_id}",
        tags=tags,
        response_class=LDJSONResponse,
        summary="Read a transaction: its TransactionStatus with the stored documents",
        responses=errors(401, 404),
    )
    async def read(request: Request, transaction_id: str, _p: Reader) -> Response:
        service = container(request).transactions
        return LDJSONResponse(await call(request, service.get, transaction_id))

    @router.post(
        "/transaction/{transaction_id}/status",
        tags=tags,
        response_class=LDJSONResponse,
        summary="Change a transaction's status",
        responses=errors(*WRITE_ERRORS, 404),
        openapi_extra=_writing(None, "The target status"),
    )
    async def transition(request: Request, transaction_id: str, principal: Writer) -> Response:
        services = container(request)
        body = await read_json_object(request, services.settings.max_body_bytes)
        if bound(principal):  # a registrar changes only its organisation's records
            await call(request, services.ownership.check_transaction, principal, transaction_id)
        service = services.transactions
        plan = partial(service.transition_change, transaction_id, body, principal.name)
        return await write(request, principal, body, plan)


def _history_routes(router: APIRouter) -> None:
    for kind, name in (("material", "MaterialDNA"), ("product", "ProductDNA")):
        _history_route(router, kind, name)


def _history_route(router: APIRouter, kind: str, name: str) -> None:
    @router.get(
        f"/{kind}/{{record_id}}/history",
        tags=[name],
        response_class=JSONResponse,
        summary=f"A {name}'s chain of custody, availability history and offers",
        responses=errors(401, 404),
        name=f"{kind}_history",
    )
    async def history(request: Request, record_id: str, _p: Reader) -> Response:
        service = container(request).lifecycle
        return JSONResponse(await call(request, service.history, kind, record_id))
