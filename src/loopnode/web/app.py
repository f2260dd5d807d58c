"""The FastAPI application: routes, error mapping, OpenAPI with the protocol's schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema

from loopnode import __version__
from loopnode.bootstrap import DATABASE_FAULTS, Container, build
from loopnode.config import Settings
from loopnode.protocol.search_request import SearchRequest
from loopnode.protocol.validation import ENTITY_MODELS
from loopnode.web import auth_routes, dashboard, docs_ui, errors, openapi_contract, ops
from loopnode.web.authz import access_for, authorize
from loopnode.web.guards import RequestGuard
from loopnode.web.middleware_setup import install_middleware
from loopnode.web.openapi_docs import ERROR_SCHEMA, document_guard
from loopnode.web.rdf import RdfNegotiation
from loopnode.web.routes import (
    coredp,
    credentials,
    demand,
    did,
    dpp,
    epcis,
    evidence_checkpoint,
    federation,
    loopcost,
    node,
    routes,
    signals,
    stream,
    ui_evidence,
)
from loopnode.web.routes.lifecycle import lifecycle_router
from loopnode.web.routes.lifecycle import plain_routes as lifecycle_plain_routes
from loopnode.web.routes.loopcoin import clearing_router
from loopnode.web.routes.loopcoin import federate_router as settlement_router
from loopnode.web.routes.loopcoin import router as loopcoin_router
from loopnode.web.routes.registry import registry_router
from loopnode.web.routes.registry_reads import fast_routes

LIFECYCLE_SCHEMAS = ("Offer", "Match", "Transfer", "MaterialStatusUpdate", "MaterialTransaction")
MATERIAL_SEARCH_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "category": {"type": "string", "description": "exact category or prefix ending in *"},
        "radius_km": {"type": "number", "description": "around this node's location"},
        "min_quantity": {"type": "number", "description": "in kg, l, pieces or bundles"},
        "max_loop_cost": {
            "type": "number",
            "description": "LoopCost to this node at most this (records priced by base_price)",
        },
    },
}


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    if container is None:
        if settings is None:
            raise ValueError("create_app needs settings or a container")
        container = build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = await federation.start(_app, container)
        overflow_worker = await routes.start(_app, container)
        witness = await evidence_checkpoint.start(_app, container)
        container.start_wal_checkpoints()
        yield
        await evidence_checkpoint.stop(witness)
        await routes.stop(overflow_worker)
        await coredp.stop(_app, container)
        await federation.stop(_app, worker)
        await container.rate_limits.close()
        container.close()

    app = FastAPI(
        title="loopnode",
        version=__version__,
        summary="A node for LOOP, the Local Optimization with Overflow Protocol (v0.2.0)",
        lifespan=lifespan,
        docs_url=None,  # served from the package's own assets by docs_ui.install
        redoc_url=None,
        dependencies=[Depends(authorize)],  # every route's access, from web/authz.POLICY
    )
    app.state.container = container
    app.state.inline_calls = container.inline_calls
    app.state.stall_guard = container.stall_guard
    app.state.request_deadline_s = container.settings.request_deadline_s
    app.state.database_calls = container.settings.database_pool_size
    errors.install(app, DATABASE_FAULTS)
    docs_ui.install(app)
    app.add_middleware(RdfNegotiation, base_url=container.settings.base_url)
    app.add_middleware(RequestGuard)
    app.include_router(registry_router("material"))
    app.include_router(registry_router("product"))
    app.include_router(node.router)
    app.include_router(lifecycle_router())
    app.include_router(stream.router)
    app.include_router(federation.router)
    app.include_router(coredp.router)
    app.include_router(ui_evidence.router)
    app.include_router(evidence_checkpoint.router)
    dashboard.install(app)
    app.include_router(credentials.router)
    app.include_router(did.router)
    app.include_router(epcis.router)
    app.include_router(dpp.router)
    app.include_router(ops.router)
    app.include_router(auth_routes.router)
    install_middleware(app, container)
    app.include_router(signals.router)
    app.include_router(loopcost.router)
    app.include_router(demand.router)
    app.include_router(routes.router)
    app.include_router(loopcoin_router)
    app.include_router(clearing_router)
    app.include_router(settlement_router)
    # Matched first: the hot reads and writes without FastAPI's route machinery; the APIRoutes
    # they shadow stay registered so that /openapi.json documents them (registry_reads.py).
    app.router.routes[0:0] = [*fast_routes(), *lifecycle_plain_routes()]
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = ERROR_SCHEMA
    document_guard(schema)
    for name in ("MaterialDNA", "ProductDNA", *LIFECYCLE_SCHEMAS):
        components[name] = _model_schema(ENTITY_MODELS[name], components)
    components["MaterialSearchRequest"] = {
        "oneOf": [MATERIAL_SEARCH_REQUEST, {"$ref": "#/components/schemas/SearchContractRequest"}]
    }
    components["ProductSearchRequest"] = components["MaterialSearchRequest"]
    components["SearchContractRequest"] = _model_schema(SearchRequest, components)
    schema["components"]["securitySchemes"] = {
        "BearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key or a JWT"},
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    openapi_contract.complete(schema, _model_schema)
    openapi_contract.document_answers(schema, access_for)
    app.openapi_schema = schema
    return schema


class _LenientSchema(GenerateJsonSchema):
    """Document custom-validated fields as unconstrained rather than failing the whole page."""

    def handle_invalid_for_json_schema(
        self, schema: CoreSchema, error_info: str
    ) -> JsonSchemaValue:
        return {}


def _model_schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    generated: dict[str, Any] = model.model_json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=_LenientSchema
    )
    for name, definition in generated.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return generated
