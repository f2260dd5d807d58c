"""SQLAlchemy Core implementations of the messaging stores, identical on SQLite and PostgreSQL.

All stores share the unit of work's connection (`uow.messaging`). Claiming due rows locks them
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers take disjoint rows; SQLite's single
writer makes the claim exclusive already). A lane's head is its oldest pending row. "Insert
unless present" runs inside a savepoint, so a duplicate never aborts the surrounding
transaction on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.savepoints import insert_returning_id, insert_unless_present
from loopnode.adapters.storage.sql.driver import insert_rows
from loopnode.adapters.storage.tables.federation import circuits
from loopnode.adapters.storage.tables.messaging import outbox, seen
from loopnode.services.messaging.ports import DEAD, CircuitRow, OutboxDraft, OutboxRow

__all__ = ["SqlCircuitStore", "SqlMessagingStores", "SqlOutboxStore", "SqlReplayStore"]


class SqlMessagingStores:
    """The outbox, the circuit breakers and the replay store on one connection."""

    def __init__(self, connection: Connection) -> None:
        self.outbox = SqlOutboxStore(connection)
        self.circuits = SqlCircuitStore(connection)
        self.seen = SqlReplayStore(connection)


_MUTABLE = (
    "status",
    "attempts",
    "unreached",
    "next_attempt_us",
    "first_message_id",
    "last_message_id",
    "last_error",
    "updated_us",
    "delivered_us",
)


def _values(draft: OutboxDraft, now_us: int) -> dict[str, Any]:
    return {
        "channel": draft.channel,
        "peer_id": draft.peer_id,
        "kind": draft.kind,
        "method": draft.method,
        "path": draft.path,
        "body": draft.body,
        "dedupe_key": draft.dedupe_key,
        "lane": draft.lane,
        "status": "pending",
        "attempts": 0,
        "unreached": 0,
        "next_attempt_us": now_us + draft.hold_us,
        "deadline_us": draft.deadline_us,
        "correlation_id": draft.correlation_id,
        "attachment": draft.attachment,
        "last_message_id": draft.message_id,
        "created_us": now_us,
        "updated_us": now_us,
    }


_COLUMNS = tuple(_values(OutboxDraft("", "", "", "", ""), 0))


class SqlOutboxStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, draft: OutboxDraft, now_us: int) -> int | None:
        values = _values(draft, now_us)
        statement = insert(outbox).returning(outbox.c.id)
        if draft.dedupe_key is None:
            return int(self._c.execute(statement, values).scalar_one())
        return insert_returning_id(self._c, statement, values)

    def add_many(self, drafts: Sequence[OutboxDraft], now_us: int) -> int:
        rows = [tuple(_values(draft, now_us).values()) for draft in drafts]
        return insert_rows(self._c, "msg_outbox", _COLUMNS, rows, on_conflict="DO NOTHING")

    def get(self, row_id: int) -> OutboxRow | None:
        found = self._c.execute(select(outbox).where(outbox.c.id == row_id)).first()
        return None if found is None else _row(found)

    def due(
        self,
        now_us: int,
        limit: int,
        *,
        peer_id: str | None = None,
        channel: str | None = None,
        fresh_within_us: int = 0,
    ) -> list[OutboxRow]:
        c = outbox.c
        pending = c.status == "pending"
        heads = (
            select(func.min(c.id)).where(pending, c.lane.is_not(None)).group_by(c.peer_id, c.lane)
        )
        due = c.next_attempt_us <= now_us
        if fresh_within_us:
            fresh = and_(
                c.attempts == 0, c.unreached == 0, c.next_attempt_us <= now_us + fresh_within_us
            )
            due = or_(due, fresh)
        conditions = [pending, due]
        if peer_id is not None:
            conditions.append(c.peer_id == peer_id)
            heads = heads.where(c.peer_id == peer_id)
        if channel is not None:
            conditions.append(c.channel == channel)
        conditions.append(or_(c.lane.is_(None), c.id.in_(heads.scalar_subquery())))
        statement = select(outbox).where(*conditions).order_by(c.next_attempt_us, c.id).limit(limit)
        if self._c.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        return [_row(r) for r in self._c.execute(statement)]

    def update(self, row: OutboxRow) -> None:
        values = {name: getattr(row, name) for name in _MUTABLE}
        self._c.execute(update(outbox).where(outbox.c.id == row.id).values(**values))

    def release(self, ids: Sequence[int], now_us: int) -> None:
        if not ids:
            return
        self._c.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)), outbox.c.status == "pending")
            .values(next_attempt_us=now_us, attempts=outbox.c.attempts - 1, updated_us=now_us)
        )

    def of_correlation(self, correlation_id: str) -> list[OutboxRow]:
        statement = (
            select(outbox).where(outbox.c.correlation_id == correlation_id).order_by(outbox.c.id)
        )
        return [_row(r) for r in self._c.execute(statement)]

    def page(
        self, status: str | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[OutboxRow]:
        statement = select(outbox).where(outbox.c.id > after_id)
        if status is not None:
            statement = statement.where(outbox.c.status == status)
        if channel is not None:
            statement = statement.where(outbox.c.channel == channel)
        return [_row(r) for r in self._c.execute(statement.order_by(outbox.c.id).limit(limit))]

    def counts(self, *, channel: str | None = None) -> dict[str, int]:
        statement = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if channel is not None:
            statement = statement.where(outbox.c.channel == channel)
        found = {status: int(n) for status, n in self._c.execute(statement)}
        return {status: found.get(status, 0) for status in ("pending", "delivered", DEAD)}

    def retry_dead(
        self, now_us: int, peer_id: str | None = None, *, channel: str | None = None
    ) -> int:
        condition = outbox.c.status == DEAD
        if peer_id is not None:
            condition = and_(condition, outbox.c.peer_id == peer_id)
        if channel is not None:
            condition = and_(condition, outbox.c.channel == channel)
        result = self._c.execute(
            update(outbox)
            .where(condition)
            .values(status="pending", attempts=0, next_attempt_us=now_us, updated_us=now_us)
        )
        return int(result.rowcount or 0)


def _row(row: Row[Any]) -> OutboxRow:
    m = row._mapping
    return OutboxRow(
        id=int(m["id"]),
        peer_id=m["peer_id"],
        kind=m["kind"],
        method=m["method"],
        path=m["path"],
        body=m["body"],
        dedupe_key=m["dedupe_key"],
        status=m["status"],
        attempts=int(m["attempts"]),
        next_attempt_us=int(m["next_attempt_us"]),
        last_error=m["last_error"],
        created_us=int(m["created_us"]),
        updated_us=int(m["updated_us"]),
        delivered_us=m["delivered_us"],
        channel=m["channel"],
        lane=m["lane"],
        deadline_us=m["deadline_us"],
        correlation_id=m["correlation_id"],
        attachment=m["attachment"],
        first_message_id=m["first_message_id"],
        last_message_id=m["last_message_id"],
        unreached=int(m["unreached"]),
    )


class SqlCircuitStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, peer_id: str) -> CircuitRow | None:
        row = self._c.execute(select(circuits).where(circuits.c.peer_id == peer_id)).first()
        return None if row is None else _circuit(row)

    def all(self) -> list[CircuitRow]:
        return [_circuit(r) for r in self._c.execute(select(circuits).order_by(circuits.c.peer_id))]

    def put(self, row: CircuitRow) -> None:
        values = {
            "state": row.state,
            "failures": row.failures,
            "open_until_us": row.open_until_us,
            "updated_us": row.updated_us,
        }
        found = self._c.execute(
            update(circuits).where(circuits.c.peer_id == row.peer_id).values(**values)
        )
        if not found.rowcount:
            self._c.execute(insert(circuits), {"peer_id": row.peer_id, **values})


def _circuit(row: Row[Any]) -> CircuitRow:
    m = row._mapping
    return CircuitRow(
        peer_id=m["peer_id"],
        state=m["state"],
        failures=int(m["failures"]),
        open_until_us=m["open_until_us"],
        updated_us=int(m["updated_us"]),
    )


class SqlReplayStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def remember(self, key: str, expires_us: int) -> bool:
        values = {"replay_key": key, "expires_us": expires_us}
        return insert_unless_present(self._c, insert(seen), values)

    def prune(self, now_us: int) -> int:
        result = self._c.execute(delete(seen).where(seen.c.expires_us <= now_us))
        return int(result.rowcount or 0)
