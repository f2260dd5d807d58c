"""Cross-cutting HTTP behaviour: request ids, access logs, request metrics, security headers.

`RequestContextMiddleware` (outermost) takes `X-Request-ID` from the client when it is a sane
token (else makes one), returns it on the response, sets it for the logs, measures the request
by route template (`/api/v1/material/{record_id}`, not the concrete path, so the metric has a
bounded number of series) and writes one JSON access-log line when `access_log` is on.
`SecurityHeadersMiddleware` adds HSTS (on https, or always in production) and the usual
hardening headers; a strict Content-Security-Policy goes on JSON answers only, so that HTML
pages (`/docs`, a dashboard) keep working.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopnode.web.ops import Metrics
from loopnode.web.ops_logging import request_id

REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
access = logging.getLogger("loopnode.access")


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, also those of included routers (FastAPI keeps those as one entry each)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from flat_routes(nested.routes)
        else:
            yield route


def route_template(scope: Scope, routes: list[BaseRoute]) -> str:
    """The matched route's path template, e.g. `/api/v1/material/{record_id}`."""
    route = scope.get("route")
    path: object = getattr(route, "path", None)
    if isinstance(path, str) and "original_router" not in vars(type(route)):
        return path
    for candidate in flat_routes(routes):
        if candidate.matches(scope)[0] is Match.FULL:
            return str(getattr(candidate, "path", "<unmatched>"))
    return "<unmatched>"


def _incoming_id(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        routes: Callable[[], list[BaseRoute]],
        access_log: bool,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope, self._routes())
            self._metrics.observe(scope["method"], route, status, elapsed)
            if self._access_log:
                self._log(scope, route, status, elapsed, rid)
            request_id.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, elapsed: float, rid: str) -> None:
        client = scope.get("client")
        access.info(
            "request",
            extra={
                "request_id": rid,
                "fields": {
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                },
            },
        )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int, always_hsts: bool) -> None:
        self.app = app
        self._hsts = f"max-age={hsts_max_age_s}; includeSubDomains"
        self._always_hsts = always_hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cross-Origin-Resource-Policy", "same-site")
                if "json" in headers.get("content-type", ""):
                    headers.setdefault(
                        "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
                    )
                if https or self._always_hsts:
                    headers.setdefault("Strict-Transport-Security", self._hsts)
            await send(message)

        await self.app(scope, receive, send_with_headers)
