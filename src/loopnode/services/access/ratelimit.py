"""Rate limits (§10.4): who may make how many requests per window, over a counter port.

Every request is charged to exactly one identity: an authenticated credential (`user`), a
verified peer node (`node`) or, for everything else, the client address (`anonymous`). A
search is charged a second time against the search quota of the same identity. The counters
live behind `CounterStore`: in memory for one process, in Redis when several workers or hosts
must share them (adapters/ratelimit_limits.py). A refusal is `RateLimited` (429) whose details
carry `retry_after_s`, which the HTTP layer turns into `Retry-After`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from loopnode.domain.errors import NodeFailure, RateLimited

Scope = Literal["user", "node", "anonymous", "search", "dashboard"]
SCOPES: tuple[Scope, ...] = ("user", "node", "anonymous", "search", "dashboard")
log = logging.getLogger("loopnode.ratelimit")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


class CounterStore(Protocol):
    """Atomically counts one hit of `identity` under `limit` ("100/minute")."""

    async def hit(self, limit: str, scope: str, identity: str) -> Decision: ...

    async def close(self) -> None: ...


class StoreUnavailable(NodeFailure):
    """The shared counter store cannot be reached."""


@dataclass(frozen=True, slots=True)
class Quotas:
    user: str = "100/minute"
    node: str = "1000/minute"
    search: str = "10/minute"
    anonymous: str = "100/minute"
    dashboard: str = "600/minute"  # a dashboard page's reads, per address (web/dashboard_pass.py)

    def of(self, scope: Scope) -> str:
        limit: str = getattr(self, scope)
        return limit


def credential_identity(secret: str) -> str:
    """A stable, non-reversible name for a credential (the secret never reaches the store)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class RateLimitService:
    """Charges requests to identities; refusals raise `RateLimited`.

    A store failure lets the request through (the node stays available when Redis is down) and
    is logged; `on_refusal` lets the metrics count refusals per scope.
    """

    def __init__(
        self,
        store: CounterStore,
        quotas: Quotas,
        *,
        enabled: bool = True,
        on_refusal: Callable[[Scope], None] | None = None,
    ) -> None:
        self._store = store
        self.quotas = quotas
        self.enabled = enabled
        self._listeners: list[Callable[[Scope], None]] = [on_refusal] if on_refusal else []

    def on_refusal(self, listener: Callable[[Scope], None]) -> None:
        self._listeners.append(listener)

    async def charge(self, scope: Scope, identity: str) -> None:
        """Count one request of `identity` in `scope`; raise RateLimited when over the quota."""
        if not self.enabled:
            return
        limit = self.quotas.of(scope)
        try:
            decision = await self._store.hit(limit, scope, identity)
        except StoreUnavailable as exc:
            log.warning("rate-limit store unavailable, request let through: %s", exc)
            return
        if decision.allowed:
            return
        for listener in self._listeners:
            listener(scope)
        raise RateLimited(
            f"too many requests: the {scope} limit is {limit}",
            {"scope": scope, "limit": limit, "retry_after_s": decision.retry_after_s},
        )

    async def close(self) -> None:
        await self._store.close()
