"""In-memory messaging stores and a unit of work for the delivery worker's unit tests.

Same contracts as `adapters/storage/sql/messaging.py` (the SQL tests pin those on SQLite and
PostgreSQL): `due` returns pending rows due now, oldest due first, only the head of each
(peer, lane). Writes apply at once; a failing unit of work is not rolled back (the worker's
unit tests do not depend on rollback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from loopnode.services.federation.ports import PeerRow
from loopnode.services.messaging.ports import DEAD, CircuitRow, OutboxDraft, OutboxRow


class MemoryOutbox:
    def __init__(self) -> None:
        self.rows: dict[int, OutboxRow] = {}

    def add(self, draft: OutboxDraft, now_us: int) -> int | None:
        if draft.dedupe_key is not None and any(
            (r.channel, r.peer_id, r.dedupe_key) == (draft.channel, draft.peer_id, draft.dedupe_key)
            for r in self.rows.values()
        ):
            return None
        row_id = len(self.rows) + 1
        self.rows[row_id] = OutboxRow(
            id=row_id,
            peer_id=draft.peer_id,
            kind=draft.kind,
            method=draft.method,
            path=draft.path,
            body=draft.body,
            dedupe_key=draft.dedupe_key,
            status="pending",
            attempts=0,
            next_attempt_us=now_us + draft.hold_us,
            last_error=None,
            created_us=now_us,
            updated_us=now_us,
            channel=draft.channel,
            lane=draft.lane,
            deadline_us=draft.deadline_us,
            correlation_id=draft.correlation_id,
            attachment=draft.attachment,
            last_message_id=draft.message_id,
        )
        return row_id

    def get(self, row_id: int) -> OutboxRow | None:
        return self.rows.get(row_id)

    def due(
        self,
        now_us: int,
        limit: int,
        *,
        peer_id: str | None = None,
        channel: str | None = None,
        fresh_within_us: int = 0,
    ) -> list[OutboxRow]:
        pending = [r for r in self.rows.values() if r.status == "pending"]
        heads = {}
        for row in sorted(pending, key=lambda r: r.id):
            if row.lane is not None:
                heads.setdefault((row.peer_id, row.lane), row.id)
        found = [
            r
            for r in pending
            if (
                r.next_attempt_us <= now_us
                or (
                    r.attempts == 0
                    and r.unreached == 0
                    and r.next_attempt_us <= now_us + fresh_within_us
                )
            )
            and (peer_id is None or r.peer_id == peer_id)
            and (channel is None or r.channel == channel)
            and (r.lane is None or heads[(r.peer_id, r.lane)] == r.id)
        ]
        return sorted(found, key=lambda r: (r.next_attempt_us, r.id))[:limit]

    def update(self, row: OutboxRow) -> None:
        self.rows[row.id] = row

    def release(self, ids: Sequence[int], now_us: int) -> None:
        for row_id in ids:
            row = self.rows[row_id]
            if row.status == "pending":
                self.rows[row_id] = replace(
                    row, next_attempt_us=now_us, attempts=row.attempts - 1, updated_us=now_us
                )

    def of_correlation(self, correlation_id: str) -> list[OutboxRow]:
        return [r for r in self.rows.values() if r.correlation_id == correlation_id]

    def page(
        self, status: str | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[OutboxRow]:
        rows = [
            r
            for r in sorted(self.rows.values(), key=lambda r: r.id)
            if r.id > after_id
            and (status is None or r.status == status)
            and (channel is None or r.channel == channel)
        ]
        return rows[:limit]

    def counts(self, *, channel: str | None = None) -> dict[str, int]:
        rows = [r for r in self.rows.values() if channel is None or r.channel == channel]
        return {s: sum(r.status == s for r in rows) for s in ("pending", "delivered", DEAD)}

    def retry_dead(
        self, now_us: int, peer_id: str | None = None, *, channel: str | None = None
    ) -> int:
        revived = 0
        for row in list(self.rows.values()):
            if row.status != DEAD or peer_id not in (None, row.peer_id):
                continue
            if channel not in (None, row.channel):
                continue
            self.rows[row.id] = replace(
                row, status="pending", attempts=0, next_attempt_us=now_us, updated_us=now_us
            )
            revived += 1
        return revived


class MemoryCircuits:
    def __init__(self) -> None:
        self.rows: dict[str, CircuitRow] = {}

    def get(self, peer_id: str) -> CircuitRow | None:
        return self.rows.get(peer_id)

    def all(self) -> list[CircuitRow]:
        return [self.rows[k] for k in sorted(self.rows)]

    def put(self, row: CircuitRow) -> None:
        self.rows[row.peer_id] = row


class MemorySeen:
    def __init__(self) -> None:
        self.keys: dict[str, int] = {}

    def remember(self, key: str, expires_us: int) -> bool:
        if key in self.keys:
            return False
        self.keys[key] = expires_us
        return True

    def prune(self, now_us: int) -> int:
        gone = [k for k, expires in self.keys.items() if expires <= now_us]
        for key in gone:
            del self.keys[key]
        return len(gone)


@dataclass
class MemoryMessaging:
    outbox: MemoryOutbox = field(default_factory=MemoryOutbox)
    circuits: MemoryCircuits = field(default_factory=MemoryCircuits)
    seen: MemorySeen = field(default_factory=MemorySeen)


class MemoryPeers:
    def __init__(self) -> None:
        self.rows: dict[str, PeerRow] = {}

    def get(self, node_id: str, *, for_update: bool = False) -> PeerRow | None:
        return self.rows.get(node_id)

    def all(self, status: str | None = None) -> list[PeerRow]:
        return [p for p in self.rows.values() if status is None or p.status == status]

    def put(self, row: PeerRow) -> None:
        self.rows[row.node_id] = row


@dataclass
class _Federation:
    peers: MemoryPeers


class MemoryMessagingUow:
    """`uow.messaging` and `uow.federation.peers` over shared in-memory state; call it like
    the SQL unit of work's factory (`uow()`, `uow(write=True)`)."""

    def __init__(self) -> None:
        self.messaging = MemoryMessaging()
        self.federation = _Federation(MemoryPeers())
        self.transactions = 0

    def __call__(self, *, write: bool = False) -> MemoryMessagingUow:
        return self

    def __enter__(self) -> MemoryMessagingUow:
        self.transactions += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def add_peer(self, node_id: str, *, status: str = "approved", **extra: Any) -> None:
        self.federation.peers.put(
            PeerRow(
                node_id=node_id,
                name=node_id,
                endpoint=f"https://{node_id}.example/api/v1",
                status=status,
                capabilities=(),
                created_us=0,
                updated_us=0,
                **extra,
            )
        )
