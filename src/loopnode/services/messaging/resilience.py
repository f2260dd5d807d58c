"""Retry timing, per-peer circuit breakers and response classification (pure rules).

Backoff: attempt n (1-based) waits `d = min(cap, base * 2**(n-1))`, then "equal jitter" picks
uniformly in `[d/2, d]` from an injected source `jitter() -> [0, 1)`. The floor keeps retries
from bunching at zero; the jitter spreads retries of many senders after a shared outage.

Circuit breaker per peer (state kept in the database so every worker and process agrees):
`closed` counts consecutive failures; at `threshold` it opens for `cooldown` (doubled for each
further failure while open, capped at `cooldown_cap`); when the cooldown ends it is `half_open`:
one request is let through; success closes it, failure opens it again.

Classification of a peer's answer: 2xx is delivered; 408, 425, 429, 5xx and 401/403 are
retried (a peer that has not approved us yet answers 403; one that has not yet learned our new
key answers 401); every other 4xx is the request's own fault and goes straight to dead letters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from loopnode.services.messaging.ports import CircuitRow

US = 1_000_000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 1.0
    cap_s: float = 300.0
    max_attempts: int = 16
    breaker_threshold: int = 5
    cooldown_s: float = 30.0
    cooldown_cap_s: float = 600.0


def backoff_s(attempt: int, policy: RetryPolicy, jitter: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    exponent = min(max(attempt, 1) - 1, 62)
    ceiling = min(policy.cap_s, policy.base_s * 2.0**exponent)
    fraction = min(max(jitter(), 0.0), 1.0)
    return ceiling / 2 + fraction * ceiling / 2


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in RETRYABLE_4XX:
        return Outcome.RETRY
    return Outcome.DEAD


def breaker_allows(row: CircuitRow | None, now_us: int) -> bool:
    """May a request go to this peer now? (An open breaker past its cooldown is half-open.)"""
    if row is None or row.state == "closed":
        return True
    return row.open_until_us is None or now_us >= row.open_until_us


def breaker_success(peer_id: str, now_us: int) -> CircuitRow:
    return CircuitRow(peer_id, "closed", 0, None, now_us)


def breaker_failure(
    row: CircuitRow | None, peer_id: str, now_us: int, policy: RetryPolicy
) -> CircuitRow:
    current = row or CircuitRow(peer_id, "closed", 0, None, now_us)
    failures = current.failures + 1
    if failures < policy.breaker_threshold:
        return replace(current, state="closed", failures=failures, updated_us=now_us)
    beyond = failures - policy.breaker_threshold
    cooldown = min(policy.cooldown_cap_s, policy.cooldown_s * 2.0 ** min(beyond, 30))
    return CircuitRow(peer_id, "open", failures, now_us + int(cooldown * US), now_us)


def breaker_view(row: CircuitRow | None, now_us: int) -> str:
    """The state an operator should see: `open` turns `half_open` once its cooldown is over."""
    if row is None:
        return "closed"
    if row.state == "open" and row.open_until_us is not None and now_us >= row.open_until_us:
        return "half_open"
    return row.state
