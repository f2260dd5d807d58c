"""The federation channel of the one delivery worker (`services/messaging/delivery.py`).

A federation row is a request as queued: method, path below the peer's API base, the exact
body bytes; it is signed at send time with the current key by the transport. The channel
only checks that the peer is still approved and classifies the answer (`resilience.classify`):
2xx delivered; 408, 425, 429, 5xx and 401/403 retried; any other 4xx dead at once. Transport
failures and 5xx/429 count against the peer's breaker. Every attempt counts, reached or not,
so an unreachable peer's rows become dead letters after `max_attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loopnode.services.messaging.delivery import Request, Verdict
from loopnode.services.messaging.ports import (
    FEDERATION,
    OutboxRow,
    PeerAddress,
    PeerResponse,
    TransportError,
)
from loopnode.services.messaging.resilience import Outcome, classify

__all__ = ["FederationChannel"]


@dataclass(frozen=True, slots=True)
class FederationChannel:
    """Uses the worker's default retry policy and timeout (the `federation_*` settings)."""

    name: str = FEDERATION
    policy: None = None
    timeout_s: None = None
    lease_s: None = None

    def prepare(
        self, uow: Any, row: OutboxRow, now: datetime
    ) -> tuple[OutboxRow, Request] | Verdict:
        peer = uow.federation.peers.get(row.peer_id)
        if peer is None or not peer.approved:
            return Verdict(Outcome.DEAD, "not an approved peer of this node")
        request = Request(PeerAddress.of(peer), row.method, row.path, row.body.encode())
        return row, request

    def settle(
        self, uow: Any, row: OutboxRow, result: PeerResponse | TransportError, now: datetime
    ) -> Verdict:
        if isinstance(result, TransportError):
            return Verdict(Outcome.RETRY, f"{result.reason}: {result.message}", peer_failure=True)
        outcome = classify(result.status)
        if outcome is Outcome.DELIVERED:
            return Verdict(outcome)
        detail = result.body[:300].decode("utf-8", "replace")
        failure = result.status >= 500 or result.status == 429
        return Verdict(outcome, f"HTTP {result.status}: {detail}", peer_failure=failure)

    def dead(self, uow: Any, row: OutboxRow, error: str, now: datetime) -> None:
        """Nothing to note beside the row itself."""
