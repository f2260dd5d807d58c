"""The ports of the core-dp exchange: its storage, the peer trust store, the wire, the key.

Rows cross the boundary as the frozen dataclasses below. Peer keys and peer addresses are the
federation's stores (`uow.federation.peer_keys`, `uow.federation.peers`); the outbox and the
seen-message cache are the messaging stack's (`uow.messaging`). The stores below hang off the
node's one `UnitOfWork` (services/ports.py, `uow.coredp`): one transaction holds a conversation
step, its lifecycle change, its evidence entries and the message it queues.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.services.messaging.ports import (
    DEAD,
    OutboxRow,
    PeerResponse,
    Transport,
)

__all__ = [
    "Conversation",
    "ConversationStore",
    "CoreDpReply",
    "CoreDpStores",
    "CoreDpTransport",
    "OutboundMessage",
    "ResultStore",
    "SigningKey",
    "StoredResult",
]

# The node's current signing key and its key id (`keys.key_id(public key, node id)`).
SigningKey = Callable[[], tuple[Ed25519PrivateKey, str]]


@dataclass(frozen=True, slots=True)
class Conversation:
    """What this node knows of one choreography conversation with one peer.

    `role` is this node's role (origin or counterparty); `state` the last accepted state, which
    this node either authored or accepted from the peer; `previous_state` the state before it.
    `attempt` is the attempt number of the last accepted message. `partitioned_us` is the first
    time the peer was found unreachable since the last successful contact.
    """

    conversation_id: str
    peer_node: str
    role: str
    subject_type: str
    subject_id: str
    state: str
    authoritative_role: str
    last_message_type: str
    attempt: int
    timeout_at_us: int
    created_us: int
    updated_us: int
    previous_state: str | None = None
    last_message_id: str | None = None
    local_evidence_hash: str | None = None
    peer_evidence_hash: str | None = None
    convergence_hash: str | None = None
    accepted_profile_version: str | None = None
    peer_key_id: str | None = None
    partitioned_us: int | None = None
    partitions: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The first answer given under (sender, idempotency key), with the request's fingerprint."""

    sender_node: str
    idempotency_key: str
    fingerprint: str
    message_type: str
    message_id: str
    conversation_id: str | None
    status: int
    response: dict[str, Any]
    created_us: int
    expires_us: int


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """How the core-dp exchange shows a message it authored (a view of a messaging outbox row).

    `body` is the message body without per-attempt fields; every attempt is a fresh envelope.
    `attempt` counts the attempts that may have reached the peer (0 before the first);
    `first_message_id` is the first of them (the `duplicate_of` of later ones); `unreached`
    counts attempts the peer certainly never saw (connection refused). A dead letter of the
    outbox is `failed` here (the core-dp vocabulary).
    """

    id: int
    peer_node: str
    message_type: str
    conversation_id: str | None
    idempotency_key: str
    body: dict[str, Any]
    status: str
    attempt: int
    next_attempt_us: int
    deadline_us: int
    created_us: int
    updated_us: int
    first_message_id: str | None = None
    last_message_id: str | None = None
    unreached: int = 0
    last_error: str | None = None
    delivered_us: int | None = None

    @classmethod
    def of(cls, row: OutboxRow) -> OutboundMessage:
        return cls(
            id=row.id,
            peer_node=row.peer_id,
            message_type=row.kind,
            conversation_id=row.correlation_id,
            idempotency_key=row.dedupe_key or "",
            body=orjson.loads(row.body),
            status="failed" if row.status == DEAD else row.status,
            attempt=row.attempts,
            next_attempt_us=row.next_attempt_us,
            deadline_us=row.deadline_us or 0,
            created_us=row.created_us,
            updated_us=row.updated_us,
            first_message_id=row.first_message_id,
            last_message_id=row.last_message_id,
            unreached=row.unreached,
            last_error=row.last_error,
            delivered_us=row.delivered_us,
        )


class ConversationStore(Protocol):
    def get(self, conversation_id: str, *, lock: bool = False) -> Conversation | None: ...

    def insert(self, row: Conversation) -> None:
        """Raises `Conflict` when the conversation id is taken."""

    def update(self, row: Conversation) -> None: ...

    def overdue(self, now_us: int, states: tuple[str, ...], limit: int) -> list[Conversation]:
        """Conversations in `states` whose `timeout_at` has passed, oldest first."""

    def page(
        self,
        *,
        peer_node: str | None,
        subject_id: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[Conversation]: ...


class ResultStore(Protocol):
    def get(self, sender_node: str, idempotency_key: str) -> StoredResult | None: ...

    def insert(self, row: StoredResult) -> None: ...

    def replace_response(
        self, sender_node: str, idempotency_key: str, response: dict[str, Any]
    ) -> None: ...

    def purge(self, now_us: int) -> int: ...


class CoreDpStores(Protocol):
    @property
    def conversations(self) -> ConversationStore: ...

    @property
    def results(self) -> ResultStore: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: leaving it by an exception undoes only what ran inside."""


# -- the wire: the one messaging transport ----------------------------------------------------
CoreDpReply = PeerResponse
CoreDpTransport = Transport
