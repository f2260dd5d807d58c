"""SQLAlchemy Core implementations of the core-dp stores, identical on SQLite and PostgreSQL.

All stores share the unit of work's connection (`uow.coredp`). "Insert unless present" relies
on primary keys inside a savepoint, so a duplicate never aborts the surrounding transaction on
PostgreSQL. Claiming the head of a peer's outbox locks it (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite's single writer makes the claim exclusive already).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Row, delete, func, insert, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from loopnode.adapters.storage.coredp_tables import conversations, outbox, results, seen_messages
from loopnode.domain.errors import Conflict
from loopnode.services.coredp_ports import Conversation, OutboundMessage, StoredResult

__all__ = ["SqlCoreDpStores"]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _insert_unless_present(c: Connection, statement: Any, values: dict[str, Any]) -> bool:
    savepoint = c.begin_nested()
    try:
        c.execute(statement, values)
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


class SqlCoreDpStores:
    """Every core-dp store on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self.conversations = SqlConversationStore(connection)
        self.seen = SqlSeenMessages(connection)
        self.results = SqlResultStore(connection)
        self.outbox = SqlCoreDpOutbox(connection)

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
        if not _insert_unless_present(self._c, insert(conversations), values):
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
class SqlSeenMessages:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def remember(self, replay_key: str, expires_us: int) -> bool:
        values = {"replay_key": replay_key, "expires_us": expires_us}
        return _insert_unless_present(self._c, insert(seen_messages), values)

    def prune(self, now_us: int) -> int:
        result = self._c.execute(delete(seen_messages).where(seen_messages.c.expires_us <= now_us))
        return int(result.rowcount or 0)


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
        if not _insert_unless_present(self._c, insert(results), values):
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


# -- outbound --------------------------------------------------------------------------------
class SqlCoreDpOutbox:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, row: OutboundMessage) -> int:
        values = _outbox_values(row)
        result = self._c.execute(insert(outbox).returning(outbox.c.id), values)
        return int(result.scalar_one())

    def get(self, row_id: int) -> OutboundMessage | None:
        found = self._c.execute(select(outbox).where(outbox.c.id == row_id)).first()
        return None if found is None else _outbound(found)

    def head(self, now_us: int, peer_node: str | None) -> OutboundMessage | None:
        pending = outbox.c.status == "pending"
        heads = select(func.min(outbox.c.id)).where(pending).group_by(outbox.c.peer_node)
        if peer_node is not None:
            heads = heads.where(outbox.c.peer_node == peer_node)
        statement = (
            select(outbox)
            .where(outbox.c.id.in_(heads.scalar_subquery()), outbox.c.next_attempt_us <= now_us)
            .order_by(outbox.c.next_attempt_us, outbox.c.id)
            .limit(1)
        )
        if self._c.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        found = self._c.execute(statement).first()
        return None if found is None else _outbound(found)

    def update(self, row: OutboundMessage) -> None:
        values = _outbox_values(row)
        self._c.execute(update(outbox).where(outbox.c.id == row.id).values(**values))

    def of_conversation(self, conversation_id: str) -> list[OutboundMessage]:
        statement = (
            select(outbox).where(outbox.c.conversation_id == conversation_id).order_by(outbox.c.id)
        )
        return [_outbound(r) for r in self._c.execute(statement)]

    def page(self, status: str | None, after_id: int, limit: int) -> list[OutboundMessage]:
        statement = select(outbox).where(outbox.c.id > after_id)
        if status is not None:
            statement = statement.where(outbox.c.status == status)
        return [_outbound(r) for r in self._c.execute(statement.order_by(outbox.c.id).limit(limit))]


def _outbox_values(row: OutboundMessage) -> dict[str, Any]:
    return {
        "peer_node": row.peer_node,
        "message_type": row.message_type,
        "conversation_id": row.conversation_id,
        "idempotency_key": row.idempotency_key,
        "body": _json(row.body),
        "subject_document": None if row.subject_document is None else _json(row.subject_document),
        "status": row.status,
        "attempt": row.attempt,
        "first_message_id": row.first_message_id,
        "last_message_id": row.last_message_id,
        "unreached": row.unreached,
        "next_attempt_us": row.next_attempt_us,
        "deadline_us": row.deadline_us,
        "last_error": row.last_error,
        "created_us": row.created_us,
        "updated_us": row.updated_us,
        "delivered_us": row.delivered_us,
    }


def _outbound(row: Row[Any]) -> OutboundMessage:
    m = row._mapping
    document = m["subject_document"]
    return OutboundMessage(
        id=int(m["id"]),
        peer_node=m["peer_node"],
        message_type=m["message_type"],
        conversation_id=m["conversation_id"],
        idempotency_key=m["idempotency_key"],
        body=orjson.loads(m["body"]),
        subject_document=None if document is None else orjson.loads(document),
        status=m["status"],
        attempt=int(m["attempt"]),
        next_attempt_us=int(m["next_attempt_us"]),
        deadline_us=int(m["deadline_us"]),
        created_us=int(m["created_us"]),
        updated_us=int(m["updated_us"]),
        first_message_id=m["first_message_id"],
        last_message_id=m["last_message_id"],
        unreached=int(m["unreached"]),
        last_error=m["last_error"],
        delivered_us=m["delivered_us"],
    )
