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
import secrets
import time
from collections.abc import Callable, Iterable, Iterator

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
    return secrets.token_hex(16)


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
        raw_id = rid.encode()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", raw_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope, self._routes())
            self._metrics.observe(scope["method"], route, status, elapsed)
            if self._access_log:
                self._log(scope, route, status, elapsed)
            request_id.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, elapsed: float) -> None:
        client = scope.get("client")
        access.info(
            "request",
            extra={
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
        self._always_hsts = always_hsts
        self._hsts = (
            b"strict-transport-security",
            f"max-age={hsts_max_age_s}; includeSubDomains".encode(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hsts = scope.get("scheme") == "https" or self._always_hsts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(list(message.get("headers", ())), hsts and self._hsts)
            await send(message)

        await self.app(scope, receive, send_with_headers)


HARDENING = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
)
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


_HARDENING_NAMES = frozenset(name for name, _ in (*HARDENING, JSON_CSP)) | {
    b"strict-transport-security",
    b"content-type",
}


def _secured(
    headers: list[tuple[bytes, bytes]], hsts: tuple[bytes, bytes] | bool
) -> list[tuple[bytes, bytes]]:
    """Add each hardening header the application did not set itself."""
    content_type = b""
    present: set[bytes] = set()
    for name, value in headers:  # one pass; only the names that matter are kept
        lowered = name.lower()
        if lowered in _HARDENING_NAMES:
            present.add(lowered)
            if lowered == b"content-type" and not content_type:
                content_type = value
    if not present - {b"content-type"}:  # the usual case: the application set none of them
        headers.extend(HARDENING)
    else:
        headers.extend(pair for pair in HARDENING if pair[0] not in present)
    if b"json" in content_type and JSON_CSP[0] not in present:
        headers.append(JSON_CSP)
    if isinstance(hsts, tuple) and hsts[0] not in present:
        headers.append(hsts)
    return headers
