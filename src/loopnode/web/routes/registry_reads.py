"""The passport read and search (`GET /api/v1/{kind}/{record_id}`, `POST /api/v1/{kind}/search`)
as plain ASGI routes, and the registration (`POST /api/v1/{kind}`, its answer in
`registry_register.py`) beside them.

They are the most frequent requests, and FastAPI's route machinery (included-router matching
done twice, dependency solving, the request handler) cost about as much CPU as a read itself
(docs/performance.md, "Session 3"). These routes are placed before FastAPI's router and give
the same answers as the APIRoutes of `web/routes/registry.py`, which call the same functions
and stay registered (unreachable for these methods) so that `/openapi.json` documents the
operations as before. Everything else still applies: the middleware (rate limits, security
headers, request ids, RDF negotiation) wraps the router, errors raised here reach
`web/errors.py` through Starlette's exception middleware, and access is decided by
`web/authz.authorize` from POLICY with the route's template, as for an APIRoute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from loopnode.services.registry.search import is_core_dp_request
from loopnode.web.auth import container, writer
from loopnode.web.authz import authorize
from loopnode.web.bodies import read_json_object
from loopnode.web.concurrency import call, offload
from loopnode.web.responses import LD_JSON, JSONResponse
from loopnode.web.routes.registry_register import register_answer

KINDS = ("material", "product")


async def read_answer(request: Request, kind: str, record_id: str) -> Response:
    document = await call(request, container(request).registry.document_json, kind, record_id)
    return Response(document, media_type=LD_JSON)


async def search_answer(request: Request, kind: str, cursor: str | None) -> Response:
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    result: dict[str, Any]
    if is_core_dp_request(body):
        # A cross-node search waits on peers for seconds: never on the event loop.
        run = offload if body.get("scope") == "cross-node" else partial(call, request)
        result = await run(services.search.core_dp_search, kind, body)
    else:
        path = request.url.path
        result = await call(request, services.search.protocol_search, kind, body, cursor, path)
    return JSONResponse(result)


class AuthorizedRoute(Route):
    """A Starlette route whose endpoint runs `authorize` first
    (tests/integration/access/test_authz.py tells these apart from the public plain routes by
    this class)."""

    def __init__(
        self, path: str, method: str, answer: Callable[[Request], Awaitable[Response]]
    ) -> None:
        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive)
            await authorize(request)
            response = await answer(request)
            await response(scope, receive, send)

        super().__init__(path, endpoint, methods=[method])
        self.app = endpoint  # raw ASGI: no request_response wrapper around it

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self  # what authorize and the request metrics read
        return match, child_scope


def fast_routes() -> list[AuthorizedRoute]:
    routes = []
    for kind in KINDS:

        def read(request: Request, kind: str = kind) -> Awaitable[Response]:
            return read_answer(request, kind, request.path_params["record_id"])

        def search(request: Request, kind: str = kind) -> Awaitable[Response]:
            return search_answer(request, kind, request.query_params.get("cursor"))

        async def register(request: Request, kind: str = kind) -> Response:
            # What the APIRoute's `writer` dependency adds to `authorize`: a role is needed.
            return await register_answer(request, kind, await writer(request))

        routes.append(AuthorizedRoute(f"/api/v1/{kind}", "POST", register))
        routes.append(AuthorizedRoute(f"/api/v1/{kind}/search", "POST", search))
        routes.append(AuthorizedRoute(f"/api/v1/{kind}/{{record_id}}", "GET", read))
    return routes
