"""The outbox: durable outbound requests, queued in the same transaction as their cause.

A row names the peer, the method, the path below the peer's API base (`/federate/announce`),
the exact body bytes (JSON text) and an optional dedupe key that makes queueing idempotent per
peer. The rows are the federation channel's of the one messaging outbox; the one delivery worker
(`services/messaging/delivery.py`) signs and sends them; this module queues and shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import format_timestamp, from_us, to_us
from loopnode.services.federation.ports import FederationUnitOfWork, FederationUowFactory
from loopnode.services.messaging import outbox as messaging
from loopnode.services.messaging.ports import FEDERATION, OutboxRow
from loopnode.services.messaging.resilience import breaker_view
from loopnode.services.ports import Clock

ANNOUNCE_PATH = "/federate/announce"
OFFER_PATH = "/federate/offer"
KEYS_PATH = "/federation/keys"
STATUSES = ("pending", "delivered", "dead")
MAX_PAGE = 500


def dumps(body: Any) -> str:
    return orjson.dumps(body).decode()


def enqueue(
    uow: FederationUnitOfWork,
    peer_ids: Iterable[str],
    *,
    kind: str,
    path: str,
    body: str,
    dedupe_key: str | None,
    now_us: int,
) -> int:
    """Queue one POST per peer; returns how many rows were new."""
    added = 0
    for peer_id in peer_ids:
        added += (
            messaging.enqueue(uow, peer_id, kind, path, body, dedupe_key, now_us=now_us) is not None
        )
    return added


def approved_peer_ids(uow: FederationUnitOfWork) -> list[str]:
    return [peer.node_id for peer in uow.federation.peers.all("approved")]


class OutboxService:
    """What operators see of the outbox (`GET /federation/outbox`, `loopnode federation outbox`)."""

    def __init__(self, uow: FederationUowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def page(self, status: str | None, after: int, limit: int) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        now_us = to_us(self._clock.now())
        with self._uow() as uow:
            rows = uow.messaging.outbox.page(status, after, limit + 1, channel=FEDERATION)
            counts = uow.messaging.outbox.counts(channel=FEDERATION)
            breakers = {c.peer_id: breaker_view(c, now_us) for c in uow.messaging.circuits.all()}
        page, more = rows[:limit], len(rows) > limit
        return {
            "counts": counts,
            "circuits": breakers,
            "entries": [render(row) for row in page],
            "next_after": page[-1].id if more else None,
        }

    def retry_dead(self, peer_id: str | None = None) -> int:
        with self._uow(write=True) as uow:
            now_us = to_us(self._clock.now())
            return uow.messaging.outbox.retry_dead(now_us, peer_id, channel=FEDERATION)


def render(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "peer_id": row.peer_id,
        "kind": row.kind,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": format_timestamp(from_us(row.next_attempt_us)),
        "last_error": row.last_error,
        "created_at": format_timestamp(from_us(row.created_us)),
        "delivered_at": format_timestamp(from_us(row.delivered_us)) if row.delivered_us else None,
        "body_bytes": len(row.body.encode()),
    }
