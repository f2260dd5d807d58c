"""SQLAlchemy Core implementations of the core-dp stores, identical on SQLite and PostgreSQL.

All stores share the unit of work's connection (`uow.coredp`). "Insert unless present" relies
on primary keys inside a savepoint, so a duplicate never aborts the surrounding transaction on
PostgreSQL. The outbox and the seen-message cache are the messaging stack's (`messaging_sql`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Row, delete, insert, select, tuple_, update
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.savepoints import insert_unless_present
from loopnode.adapters.storage.tables.coredp import conversations, results
from loopnode.domain.errors import Conflict
from loopnode.services.coredp.ports import Conversation, StoredResult

__all__ = ["SqlCoreDpStores"]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class SqlCoreDpStores:
    """Every core-dp store on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self.conversations = SqlConversationStore(connection)
        self.results = SqlResultStore(connection)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        nested = self._c.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            raise
        nested.commit()


# -- conversations ---------------------------------------------------------------------------
_CONVERSATION_FIELDS = (
    "conversation_id",
    "peer_node",
    "role",
    "subject_type",
    "subject_id",
    "state",
    "previous_state",
    "authoritative_role",
    "last_message_id",
    "last_message_type",
    "attempt",
    "timeout_at_us",
    "local_evidence_hash",
    "peer_evidence_hash",
    "convergence_hash",
    "accepted_profile_version",
    "peer_key_id",
    "partitioned_us",
    "partitions",
    "last_error",
    "created_us",
    "updated_us",
)


class SqlConversationStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, conversation_id: str, *, lock: bool = False) -> Conversation | None:
        statement = select(conversations).where(conversations.c.conversation_id == conversation_id)
        if lock:
            statement = statement.with_for_update()
        found = self._c.execute(statement).first()
        return None if found is None else _conversation(found)

    def insert(self, row: Conversation) -> None:
        values = {name: getattr(row, name) for name in _CONVERSATION_FIELDS}
        if not insert_unless_present(self._c, insert(conversations), values):
            raise Conflict(
                f"conversation {row.conversation_id} already exists",
                {"conversation_id": row.conversation_id},
            )

    def update(self, row: Conversation) -> None:
        values = {name: getattr(row, name) for name in _CONVERSATION_FIELDS[1:]}
        self._c.execute(
            update(conversations)
            .where(conversations.c.conversation_id == row.conversation_id)
            .values(**values)
        )

    def overdue(self, now_us: int, states: tuple[str, ...], limit: int) -> list[Conversation]:
        statement = (
            select(conversations)
            .where(conversations.c.state.in_(states), conversations.c.timeout_at_us <= now_us)
            .order_by(conversations.c.timeout_at_us, conversations.c.conversation_id)
            .limit(limit)
        )
        return [_conversation(r) for r in self._c.execute(statement)]

    def page(
        self,
        *,
        peer_node: str | None,
        subject_id: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[Conversation]:
        c = conversations.c
        statement = select(conversations)
        if peer_node is not None:
            statement = statement.where(c.peer_node == peer_node)
        if subject_id is not None:
            statement = statement.where(c.subject_id == subject_id)
        if after is not None:
            statement = statement.where(tuple_(c.created_us, c.conversation_id) > tuple_(*after))
        statement = statement.order_by(c.created_us, c.conversation_id).limit(limit)
        return [_conversation(r) for r in self._c.execute(statement)]


def _conversation(row: Row[Any]) -> Conversation:
    m = row._mapping
    return Conversation(**{name: m[name] for name in _CONVERSATION_FIELDS})


# -- inbound ---------------------------------------------------------------------------------
class SqlResultStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, sender_node: str, idempotency_key: str) -> StoredResult | None:
        found = self._c.execute(
            select(results).where(
                results.c.sender_node == sender_node,
                results.c.idempotency_key == idempotency_key,
            )
        ).first()
        if found is None:
            return None
        m = found._mapping
        return StoredResult(
            sender_node=m["sender_node"],
            idempotency_key=m["idempotency_key"],
            fingerprint=m["fingerprint"],
            message_type=m["message_type"],
            message_id=m["message_id"],
            conversation_id=m["conversation_id"],
            status=int(m["status"]),
            response=orjson.loads(m["response"]),
            created_us=int(m["created_us"]),
            expires_us=int(m["expires_us"]),
        )

    def insert(self, row: StoredResult) -> None:
        values = {
            "sender_node": row.sender_node,
            "idempotency_key": row.idempotency_key,
            "fingerprint": row.fingerprint,
            "message_type": row.message_type,
            "message_id": row.message_id,
            "conversation_id": row.conversation_id,
            "status": row.status,
            "response": _json(row.response),
            "created_us": row.created_us,
            "expires_us": row.expires_us,
        }
        if not insert_unless_present(self._c, insert(results), values):
            raise Conflict(
                f"idempotency key {row.idempotency_key} was used concurrently",
                {"idempotency_key": row.idempotency_key},
            )

    def replace_response(
        self, sender_node: str, idempotency_key: str, response: dict[str, Any]
    ) -> None:
        self._c.execute(
            update(results)
            .where(
                results.c.sender_node == sender_node,
                results.c.idempotency_key == idempotency_key,
            )
            .values(response=_json(response))
        )

    def purge(self, now_us: int) -> int:
        result = self._c.execute(delete(results).where(results.c.expires_us <= now_us))
        return int(result.rowcount or 0)
