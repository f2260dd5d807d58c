"""The middleware stack, outermost first: request context, (Starlette's server-error handler),
CORS, security headers, rate limits.

Request ids, metrics and security headers therefore cover every answer, 429s included; CORS
answers preflights before they are charged to a quota.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from loopnode.bootstrap import Container
from loopnode.domain.errors import LoopError
from loopnode.web.dashboard_pass import DashboardPasses
from loopnode.web.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from loopnode.web.node_auth import signed_peer
from loopnode.web.ops import Metrics
from loopnode.web.ratelimit import RateLimitMiddleware

CORS_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key", "X-Request-ID"]


def install_middleware(app: FastAPI, container: Container) -> None:
    settings = container.settings
    metrics = Metrics(container.ops)
    app.state.metrics = metrics
    container.rate_limits.on_refusal(metrics.refused)
    writes = container.writes
    metrics.add_gauge("loopnode_write_batches", "group-commit batches", writes.batches)
    metrics.add_gauge("loopnode_batched_writes", "writes in group-commit batches", writes.batched)
    # Starlette runs the last added middleware first.
    passes = DashboardPasses(lambda: node_secret(container))
    app.state.dashboard_passes = passes
    app.add_middleware(
        RateLimitMiddleware,
        limits=container.rate_limits,
        dashboard_passes=passes,
        authenticate=container.auth.authenticator.authenticate,
        routes=lambda: app.routes,
        signed_guard=signed_peer,
        verify_peer=container.federation.trust.verify,
        max_body=settings.max_body_bytes,
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts_max_age_s=settings.hsts_max_age_s,
        always_hsts=settings.environment == "production",
    )
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=CORS_HEADERS,
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    # Outside Starlette's ServerErrorMiddleware, so a 500 also carries its X-Request-ID and
    # the traceback logged for it names the request.
    build_stack = app.build_middleware_stack

    def outermost() -> ASGIApp:
        return RequestContextMiddleware(
            build_stack(),
            metrics=metrics,
            routes=lambda: app.routes,
            access_log=settings.access_log,
        )

    app.build_middleware_stack = outermost  # type: ignore[method-assign]


def node_secret(container: Container) -> bytes | None:
    """The node's private key bytes, to derive keys every worker shares (None without one)."""
    try:
        key, _ = container.federation.keys.signing_key()
    except LoopError:
        return None
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
