"""Rate limits on HTTP (§10.4): whom each request is charged to, and the 429 answer.

`RateLimitMiddleware` charges every request before routing, except `/health`, `/ready`,
`/metrics`, static files (`STATIC_PREFIXES`) and requests to node-signed routes:
- a valid API key (`Authorization: Bearer` or `X-API-Key`) is charged to that credential
  (`user` quota); the check is the key service's own, remembered for a few seconds;
- everything else, including a credential that does not verify, is charged to the client
  address (`anonymous` quota; IPv6 by /64), so inventing credentials buys no extra quota;
- `POST /api/v1/<kind>/search` is charged again, to the same identity, against `search`;
- a read (GET/HEAD under `/api/`, or a search) carrying a valid dashboard page pass
  (`X-Dashboard-Pass`, web/dashboard_pass.py) is charged to the `dashboard` quota of the
  client address instead (a search also to its search quota).
Node-signed routes (those guarded by `signed_peer`) are charged in that dependency, after the
signature verified, to the peer's node id (`node` quota): an unverified claim to be a node
cannot spend that node's quota. A peer's signed cross-node search goes to a public route that
checks no signature, so the middleware verifies it itself (signature, key, approval, replay
cache: `PeerTrust.verify`) and charges the peer's node quota instead of the search quota; a
search whose signature does not verify is charged like any other request. Refusals are
answered through `web/errors.py` (429, `RATE_LIMITED`, `Retry-After`). Behind a reverse
proxy the client address is the one uvicorn takes from `X-Forwarded-For` of the
`trusted_proxies`.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopnode.domain.errors import LoopError, RateLimited
from loopnode.services.access.ratelimit import RateLimitService, credential_identity
from loopnode.services.federation.trust import RawRequest, SignedCaller
from loopnode.web import errors
from loopnode.web.concurrency import offload
from loopnode.web.dashboard_pass import HEADER, DashboardPasses
from loopnode.web.middleware import flat_routes

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
# Static files of the dashboard and of /docs: one page load fetches many, each costs nothing.
STATIC_PREFIXES = ("/ui/static/", "/docs/assets/")
SEARCH_PATH = re.compile(r"/api/v1/[a-z][a-z-]*/search")
DASHBOARD_HEADER = HEADER.encode()
CREDENTIAL_TTL_S = 30.0
CREDENTIAL_CACHE_SIZE = 10_000


def client_identity(scope: Scope) -> str:
    """The client address as the anonymous identity; IPv6 clients by their /64 network."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _target(scope: Scope) -> str:
    """Path and query exactly as sent: what a node signature covers (as `signed_peer` reads)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def presented_credential(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None
    return _header(scope, b"x-api-key")


def _uses(route: BaseRoute, guard: Callable[..., Any]) -> bool:
    if not isinstance(route, APIRoute):
        return False
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is guard:
            return True
        pending.extend(dependant.dependencies)
    return False


class RateLimitMiddleware:
    """Charge each request to its identity before the application sees it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RateLimitService,
        authenticate: Callable[[str], object],
        routes: Callable[[], list[BaseRoute]],
        signed_guard: Callable[..., Any],
        verify_peer: Callable[[RawRequest], SignedCaller] | None = None,
        max_body: int = 1024 * 1024,
        dashboard_passes: DashboardPasses | None = None,
    ) -> None:
        self.app = app
        self._passes = dashboard_passes
        self._verify_peer = verify_peer
        self._max_body = max_body
        self._limits = limits
        self._authenticate = authenticate
        self._routes = routes
        self._guard = signed_guard
        self._signed: list[BaseRoute] | None = None
        self._verified: dict[str, tuple[float, str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self._limits.enabled
            or scope["path"] in EXEMPT_PATHS
            or (scope["method"] in ("GET", "HEAD") and scope["path"].startswith(STATIC_PREFIXES))
            or self._signed_route(scope)
        ):
            await self.app(scope, receive, send)
            return
        search = scope["method"] == "POST" and SEARCH_PATH.fullmatch(scope["path"]) is not None
        try:
            peer = None
            if search and _header(scope, b"x-node-signature") is not None:
                peer, receive = await self._signed_search(scope, receive)
            if peer is not None:
                await self._limits.charge("node", peer)
            elif self._dashboard_read(scope, search):
                address = client_identity(scope)
                await self._limits.charge("dashboard", address)
                if search:
                    await self._limits.charge("search", f"dashboard:{address}")
            else:
                scope_name, identity = await self._identity(scope)
                await self._limits.charge(scope_name, identity)
                if search:
                    await self._limits.charge("search", f"{scope_name}:{identity}")
        except RateLimited as exc:
            await errors.respond(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _signed_search(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        """A peer's signed cross-node search: verify it (once; the route does not) to charge
        the peer's node quota. Any failure just means "not a verified peer"."""
        if self._verify_peer is None:
            return None, receive
        body, replay = await _buffer(receive, self._max_body)
        if body is None:
            return None, replay
        raw = RawRequest(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            scope["method"],
            _target(scope),
            body,
        )
        try:
            caller = await offload(self._verify_peer, raw)
        except LoopError:
            return None, replay
        return caller.node_id, replay

    def _dashboard_read(self, scope: Scope, search: bool) -> bool:
        """A read under /api/ (a search too) carrying a valid pass of a dashboard page served to
        this address."""
        if self._passes is None or not (search or scope["method"] in ("GET", "HEAD")):
            return False
        presented = _header(scope, DASHBOARD_HEADER)
        if presented is None or not scope["path"].startswith("/api/"):
            return False
        return self._passes.valid(presented, client_identity(scope))

    def _signed_route(self, scope: Scope) -> bool:
        if _header(scope, b"x-node-signature") is None:
            return False
        if self._signed is None:
            self._signed = [r for r in flat_routes(self._routes()) if _uses(r, self._guard)]
        return any(route.matches(scope)[0] is Match.FULL for route in self._signed)

    async def _identity(self, scope: Scope) -> tuple[Any, str]:
        secret = presented_credential(scope)
        if secret is not None:
            user = await self._verify(credential_identity(secret), secret)
            if user is not None:
                return "user", user
        return "anonymous", client_identity(scope)

    async def _verify(self, identity: str, secret: str) -> str | None:
        """The user a valid credential belongs to (None if invalid), cached briefly.

        Bearer tokens of one subject share one quota: a fresh token is not a fresh quota."""
        now = time.monotonic()
        cached = self._verified.get(identity)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            principal = await offload(self._authenticate, secret)
        except LoopError:
            return None
        subject = getattr(principal, "subject", None)
        kind = getattr(principal, "kind", "")
        user = credential_identity(f"{kind}:{subject}") if subject else identity
        if len(self._verified) >= CREDENTIAL_CACHE_SIZE:
            self._verified.clear()
        self._verified[identity] = (now + CREDENTIAL_TTL_S, user)
        return user


async def _buffer(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the body (None when it exceeds `limit`) and a `receive` that replays it."""
    messages: list[Message] = []
    size = 0
    more = True
    while more and size <= limit:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    complete = not more and size <= limit and messages[-1]["type"] == "http.request"
    body = b"".join(m.get("body", b"") for m in messages) if complete else None

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay


async def charge_node(request: Request, node_id: str) -> None:
    """Charge a verified node-signed request to the peer (called by `signed_peer`)."""
    limits: RateLimitService = request.app.state.container.rate_limits
    await limits.charge("node", node_id)
