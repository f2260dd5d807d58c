"""The passport read (`GET /api/v1/{material|product}/{record_id}`) as a plain ASGI route.

It is the most frequent request, and FastAPI's route machinery (included-router matching done
twice, dependency solving, the request handler) cost about as much CPU as the read itself
(docs/performance.md, "Session 3"). This route is placed before FastAPI's router and answers
exactly what `web/routes/registry.py`'s `read` answers; that one stays registered, unreachable
for GET, so `/openapi.json` documents the operation as before. Everything else still applies:
the middleware (rate limits, security headers, request ids, RDF negotiation) wraps the router,
errors raised here reach `web/errors.py` through Starlette's exception middleware, and access
is decided by `web/authz.authorize` from POLICY with this route's template, like any APIRoute.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from loopnode.web.auth import container
from loopnode.web.authz import authorize
from loopnode.web.concurrency import call
from loopnode.web.responses import LD_JSON

KINDS = ("material", "product")


class AuthorizedRoute(Route):
    """A Starlette route that runs `authorize` itself (tests/integration/test_authz.py tells
    these apart from public plain routes by this class)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self  # what authorize and the request metrics read
        return match, child_scope


def read_route(kind: str) -> AuthorizedRoute:
    async def read(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await authorize(request)
        record_id: str = scope["path_params"]["record_id"]
        services = container(request)
        document = await call(request, services.registry.document_json, kind, record_id)
        await Response(document, media_type=LD_JSON)(scope, receive, send)

    route = AuthorizedRoute(f"/api/v1/{kind}/{{record_id}}", read, methods=["GET"])
    route.app = read  # the endpoint is raw ASGI: no request_response wrapper around it
    return route


def fast_routes() -> list[AuthorizedRoute]:
    return [read_route(kind) for kind in KINDS]
