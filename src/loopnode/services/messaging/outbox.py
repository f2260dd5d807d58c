"""Queueing a message for a peer: the messaging stack's one entry point for producers.

Call `enqueue` inside the write transaction that decides to send (the unit of work of the
change it announces), so the message is queued if and only if that change commits. The one
delivery worker sends it through the channel named here (docs/messaging.md, "Adding a
channel").
"""

from __future__ import annotations

from typing import Any

from loopnode.services.messaging.ports import FEDERATION, OutboxDraft

__all__ = ["enqueue"]


def enqueue(
    uow: Any,
    peer_node_id: str,
    kind: str,
    path: str,
    body: str,
    idempotency_key: str | None,
    *,
    now_us: int,
    channel: str = FEDERATION,
    lane: str | None = None,
    deadline_us: int | None = None,
    correlation_id: str | None = None,
) -> int | None:
    """Queue one POST of `body` (JSON text) to `path` below the peer's API base.

    Returns the row id, or None when (channel, peer, idempotency key) is queued already (so
    retrying the producing transaction never sends twice). `lane`: messages with the same
    lane for one peer are delivered strictly in order. `deadline_us`: not sent after it.
    """
    draft = OutboxDraft(
        peer_node_id,
        kind,
        "POST",
        path,
        body,
        idempotency_key,
        channel=channel,
        lane=lane,
        deadline_us=deadline_us,
        correlation_id=correlation_id,
    )
    row_id: int | None = uow.messaging.outbox.add(draft, now_us)
    return row_id
