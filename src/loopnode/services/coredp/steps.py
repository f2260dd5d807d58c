"""Applying one accepted choreography message to this node: conversation, lifecycle, evidence.

Theory of operation (SPEC-DIGEST §4.6; core-dp README "Two-Node Authority and Convergence";
DECISIONS 8-11, 20, 22; docs/core-dp.md):

- A conversation is one §4.6 exchange about one subject (capabilities, an offer, a match or a
  transfer) between this node and one peer. Its row holds the last state this node knows: a
  state it authored or accepted. A message is accepted only when its declared predecessor is
  the local state (`choreography.transition`); otherwise the answer is `stale_message` when
  the conversation is already terminal (terminal states are absorbing) and `conflict` when it
  is not, each with the local `authoritative_state`. The one exception is the profile's:
  a `transfer.ack` created before the local timeout still finishes a timed-out transfer.
- Lifecycle effects go through the lifecycle engine (`services.exchange.Exchange`), which owns
  every invariant; this module only decides which of its operations a step means:
  offer.publish mirrors the origin's Offer, match.propose mirrors and accepts the Match,
  transfer.dispatch mirrors the Transfer and (with `auto_receive`) completes it; at the origin,
  match.accept/reject and transfer.receive advance its own Match and Transfer. Mirrors come
  from the subject snapshot (coredp_messages); without one the step is only linked (the
  conversation names the subject, no local entity is made). A lifecycle call runs inside a
  savepoint with its own journal, so a refusal leaves nothing behind.
- Evidence: lifecycle entries are the lifecycle engine's (their payload is the entity document,
  identical on both nodes, so the payload hashes agree). Choreography entries (`offer.acked`,
  `offer.rejected`, `capabilities.confirmed`, `transfer.acked`, and link-only steps) hash the
  body of the message that announced the state, which both nodes hold byte for byte.
- `local_evidence_hash_sha256` in a body is the sha256 of the sender's entity document in the
  state the step announces; `transfer.ack` carries both nodes' hashes and
  `convergence_hash_sha256` (`choreography.convergence_hash`), and is sent only when they agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from loopnode.domain.errors import Conflict, Forbidden, InvalidRequest, LoopError, NotFound
from loopnode.domain.times import format_timestamp, from_us, timestamp_or_none, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.coredp.choreography import (
    FINAL_ACK_ROLE,
    PROFILE_VERSION,
    RECOVERY_STATES,
    RULES,
    TERMINAL_STATES,
    convergence_hash,
)
from loopnode.protocol.coredp.envelope import new_idempotency_key, new_message_id
from loopnode.protocol.coredp.errors import ErrorCode
from loopnode.services.coredp.messages import CoreDpRefusal, CoreDpSettings, choreography_body
from loopnode.services.coredp.ports import Conversation
from loopnode.services.lifecycle.engine import Exchange
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.lifecycle.service import ENTITY_TYPES, prepare
from loopnode.services.ports import ExchangeRow, UnitOfWork

__all__ = ["NON_TERMINAL_STATES", "Authored", "Inbound", "StepOutcome", "Steps", "refusal_for"]

log = logging.getLogger("loopnode.coredp")
T = TypeVar("T")

NON_TERMINAL_STATES = tuple(sorted({rule.state for rule in RULES.values()} - TERMINAL_STATES))
# Lifecycle-equivalent evidence for a step whose subject is only linked (no local entity).
_LINKED_EVENTS = {
    "match.accept": ("match.accepted", "match"),
    "match.reject": ("match.rejected", "match"),
    "transfer.receive": ("transfer.completed", "transfer"),
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """A verified envelope (and its checked subject snapshot) from a peer."""

    envelope: dict[str, Any]
    snapshot: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.envelope["body"]
        return body

    @property
    def message_type(self) -> str:
        return str(self.envelope["message_type"])

    @property
    def message_id(self) -> str:
        return str(self.envelope["message_id"])

    @property
    def sender(self) -> str:
        return str(self.envelope["sender"]["node_id"])

    @property
    def key_id(self) -> str:
        return str(self.envelope["signature"]["key_id"])

    @property
    def created_at(self) -> datetime:
        moment = timestamp_or_none(self.envelope["created_at"])
        assert moment is not None  # verify_envelope refuses unparsable timestamps
        return moment


@dataclass(frozen=True, slots=True)
class Authored:
    """A message this node authors; `message_id` is used by its first delivery attempt."""

    message_type: str
    body: dict[str, Any]
    message_id: str
    idempotency_key: str
    subject_document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    conversation: Conversation
    reply: Authored | None


# Mirrors a peer's snapshot of an entity here, in a journal of its own.
Mirror = Callable[[Journal, dict[str, Any]], ExchangeRow]


def refusal_for(error: LoopError) -> CoreDpRefusal:
    """A lifecycle refusal as a core-dp error."""
    code: ErrorCode = "invalid_request"
    if isinstance(error, Conflict):
        code = "conflict"
    elif isinstance(error, NotFound):
        code = "not_found"
    elif isinstance(error, Forbidden):
        code = "forbidden"
    elif not isinstance(error, InvalidRequest):
        code = "internal_error"
    return CoreDpRefusal(code, error.message, error.details)


class Steps:
    def __init__(self, node_id: str, exchange: Exchange, settings: CoreDpSettings) -> None:
        self._me = node_id
        self._exchange = exchange
        self._settings = settings

    # -- entry point ----------------------------------------------------------------------------
    def accept(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> StepOutcome:
        """Apply `inbound` (verified, not a replay); raises `CoreDpRefusal`."""
        role = self._role(inbound)
        body = inbound.body
        conv = uow.coredp.conversations.get(body["conversation_id"], lock=True)
        _check_same_conversation(conv, inbound, role)
        if body["state"] in RECOVERY_STATES:
            return StepOutcome(self._recovery(uow, now, inbound, conv), None)
        _check_transition(conv, inbound)
        handler: Callable[..., StepOutcome] = getattr(self, HANDLERS[inbound.message_type])
        return handler(uow, now, inbound, conv)

    def _role(self, inbound: Inbound) -> str:
        body = inbound.body
        parties = {body["origin_node"], body["counterparty_node"]}
        if parties != {inbound.sender, self._me}:
            raise CoreDpRefusal(
                "forbidden",
                "the conversation's origin and counterparty must be the sender and this node",
                {
                    "origin_node": body["origin_node"],
                    "counterparty_node": body["counterparty_node"],
                },
            )
        return "origin" if body["origin_node"] == self._me else "counterparty"

    # -- the counterparty's side: messages the origin authors --------------------------------
    def _capabilities_announce(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, _conv: Conversation | None
    ) -> StepOutcome:
        reply = self._reply(
            inbound, "capabilities.response", accepted_profile_version=PROFILE_VERSION
        )
        conv = self._authored(
            self._new(inbound, "counterparty", now),
            reply,
            now,
            accepted_profile_version=PROFILE_VERSION,
        )
        uow.coredp.conversations.insert(conv)
        self._record(
            uow,
            now,
            inbound.sender,
            "capabilities.confirmed",
            "envelope",
            conv.conversation_id,
            reply.body,
        )
        return StepOutcome(conv, reply)

    def _offer_publish(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, _conv: Conversation | None
    ) -> StepOutcome:
        conv, reply, _row, error = self._mirrored_answer(
            uow, now, inbound, self._mirror_offer, ("offer.ack", "offer.reject")
        )
        event = "offer.rejected" if error else "offer.acked"
        self._record(uow, now, inbound.sender, event, "offer", conv.subject_id, reply.body)
        return StepOutcome(conv, reply)

    def _match_propose(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, _conv: Conversation | None
    ) -> StepOutcome:
        conv, reply, row, _error = self._mirrored_answer(
            uow, now, inbound, self._accept_match, ("match.accept", "match.reject")
        )
        if row is None:
            self._record_linked(uow, now, inbound.sender, reply)
        return StepOutcome(conv, reply)

    def _mirrored_answer(
        self,
        uow: UnitOfWork,
        now: datetime,
        inbound: Inbound,
        mirror: Mirror,
        verbs: tuple[str, str],
    ) -> tuple[Conversation, Authored, ExchangeRow | None, LoopError | None]:
        """The counterparty's answer to a proposal: the sender's snapshot mirrored here (in its
        own savepoint), the answer `verbs[0]` or, when that failed, `verbs[1]` with the reason,
        both sides' evidence hashes, and the new conversation stored."""
        row: ExchangeRow | None = None
        error: LoopError | None = None
        if inbound.snapshot is not None:
            snapshot = inbound.snapshot
            row, error = self._lifecycle(uow, now, inbound.sender, lambda j: mirror(j, snapshot))
        local = None if row is None else sha256_hex(row.document)
        peer = inbound.body.get("local_evidence_hash_sha256")
        reply = self._reply(
            inbound,
            verbs[1] if error else verbs[0],
            reason=None if error is None else error.message[:500],
            local_evidence_hash_sha256=local,
            peer_evidence_hash_sha256=peer,
        )
        conv = self._authored(
            self._new(inbound, "counterparty", now),
            reply,
            now,
            local_evidence_hash=local,
            peer_evidence_hash=peer,
            last_error=None if error is None else error.message,
        )
        uow.coredp.conversations.insert(conv)
        return conv, reply, row, error

    def _mirror_offer(self, j: Journal, snapshot: dict[str, Any]) -> ExchangeRow:
        return self._mirror(j, "offer", snapshot)

    def _accept_match(self, j: Journal, snapshot: dict[str, Any]) -> ExchangeRow:
        row = self._mirror(j, "match", snapshot)
        if row.status == "proposed":
            row = self._exchange.transition(j, "match", row.id, "accepted", "core-dp match.accept")
        if row.status != "accepted":
            raise Conflict(f"match {row.id} is {row.status} here", {"current": row.status})
        return row

    def _transfer_dispatch(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, _conv: Conversation | None
    ) -> StepOutcome:
        receive = self._settings.auto_receive
        row = None
        if inbound.snapshot is not None:
            snapshot = inbound.snapshot
            row, error = self._lifecycle(
                uow, now, inbound.sender, lambda j: self._mirror_transfer(j, snapshot, receive)
            )
            if error is not None:
                raise refusal_for(error)  # the choreography has no transfer.reject
        conv = replace(
            self._new(inbound, "counterparty", now),
            peer_evidence_hash=inbound.body.get("local_evidence_hash_sha256"),
            local_evidence_hash=None if row is None else sha256_hex(row.document),
        )
        uow.coredp.conversations.insert(conv)
        if not receive:
            return StepOutcome(conv, None)
        return self._author_receipt(uow, now, inbound, conv, row)

    def _mirror_transfer(self, j: Journal, snapshot: dict[str, Any], receive: bool) -> ExchangeRow:
        row = self._mirror(j, "transfer", snapshot)
        if receive and row.status == "in_transit":
            row = self._exchange.transition(
                j, "transfer", row.id, "completed", "core-dp transfer.receive"
            )
        return row

    def _author_receipt(
        self,
        uow: UnitOfWork,
        now: datetime,
        inbound: Inbound,
        conv: Conversation,
        row: ExchangeRow | None,
    ) -> StepOutcome:
        """transfer.receive by this node (the counterparty), for the dispatch in `inbound`."""
        local = None if row is None else sha256_hex(row.document)
        reply = self._reply(
            inbound,
            "transfer.receive",
            local_evidence_hash_sha256=local,
            peer_evidence_hash_sha256=conv.peer_evidence_hash,
        )
        conv = self._authored(conv, reply, now, local_evidence_hash=local)
        uow.coredp.conversations.update(conv)
        if row is None:
            self._record_linked(uow, now, inbound.sender, reply)
        return StepOutcome(conv, reply)

    def receipt(
        self, uow: UnitOfWork, now: datetime, conversation_id: str
    ) -> tuple[Conversation, Authored]:
        """This node (the counterparty) confirms receipt of a dispatched transfer later."""
        conv = uow.coredp.conversations.get(conversation_id, lock=True)
        if conv is None or conv.role != "counterparty" or conv.subject_type != "transfer":
            raise NotFound(f"no incoming transfer conversation {conversation_id}")
        if conv.state != "transfer-dispatched":
            raise Conflict(
                f"conversation {conversation_id} is {conv.state}", {"current": conv.state}
            )
        subject_id = conv.subject_id
        row, error = self._lifecycle(uow, now, self._me, lambda j: self._complete(j, subject_id))
        if error is not None:
            raise error
        local = None if row is None else sha256_hex(row.document)
        body = choreography_body(
            "transfer.receive",
            conversation_id=conv.conversation_id,
            origin_node=conv.peer_node,
            counterparty_node=self._me,
            subject_type="transfer",
            subject_id=conv.subject_id,
            timeout_at=_timestamp(conv.timeout_at_us),
            idempotency_key=new_idempotency_key(),
            local_evidence_hash_sha256=local,
            peer_evidence_hash_sha256=conv.peer_evidence_hash,
        )
        message = Authored("transfer.receive", body, new_message_id(), body["idempotency_key"])
        conv = self._authored(conv, message, now, local_evidence_hash=local)
        uow.coredp.conversations.update(conv)
        if row is None:
            self._record_linked(uow, now, self._me, message)
        return conv, message

    def _complete(self, j: Journal, transfer_id: str) -> ExchangeRow | None:
        row = j.uow.exchange.get("transfer", transfer_id)
        if row is None:
            return None
        if row.status == "in_transit":
            row = self._exchange.transition(
                j, "transfer", row.id, "completed", "core-dp transfer.receive"
            )
        return row

    def _transfer_ack(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        assert conv is not None  # _check_transition: the ack needs transfer-received here
        body = inbound.body
        if body.get("acknowledges_message_id") != conv.last_message_id:
            raise CoreDpRefusal(
                "conflict",
                "transfer.ack does not acknowledge this node's transfer.receive",
                {
                    "authoritative_state": conv.state,
                    "last_accepted_message_id": conv.last_message_id,
                },
            )
        ours = conv.local_evidence_hash
        if ours is not None and body.get("peer_evidence_hash_sha256") != ours:
            raise CoreDpRefusal(
                "conflict",
                "transfer.ack evidence hashes differ from this node's transfer evidence",
                {"local_evidence_hash_sha256": ours, "authoritative_state": conv.state},
            )
        conv = self._advance(
            conv,
            inbound,
            now,
            peer_evidence_hash=body.get("local_evidence_hash_sha256"),
            convergence_hash=body.get("convergence_hash_sha256"),
        )
        uow.coredp.conversations.update(conv)
        self._record(uow, now, inbound.sender, "transfer.acked", "transfer", conv.subject_id, body)
        return StepOutcome(conv, None)

    # -- the origin's side: messages the counterparty authors --------------------------------
    def _capabilities_response(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        assert conv is not None
        conv = self._advance(
            conv,
            inbound,
            now,
            accepted_profile_version=inbound.body.get("accepted_profile_version"),
            peer_key_id=inbound.key_id,
        )
        uow.coredp.conversations.update(conv)
        self._record(
            uow,
            now,
            inbound.sender,
            "capabilities.confirmed",
            "envelope",
            conv.conversation_id,
            inbound.body,
        )
        return StepOutcome(conv, None)

    def _offer_ack(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        return self._offer_answer(uow, now, inbound, conv, "offer.acked")

    def _offer_reject(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        return self._offer_answer(uow, now, inbound, conv, "offer.rejected")

    def _offer_answer(
        self,
        uow: UnitOfWork,
        now: datetime,
        inbound: Inbound,
        conv: Conversation | None,
        event: str,
    ) -> StepOutcome:
        assert conv is not None
        body = inbound.body
        conv = self._advance(
            conv,
            inbound,
            now,
            peer_evidence_hash=body.get("local_evidence_hash_sha256"),
            last_error=body.get("reason"),
        )
        uow.coredp.conversations.update(conv)
        self._record(uow, now, inbound.sender, event, "offer", conv.subject_id, body)
        return StepOutcome(conv, None)

    def _match_accept(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        return self._match_answer(uow, now, inbound, conv, "accepted")

    def _match_reject(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        return self._match_answer(uow, now, inbound, conv, "rejected")

    def _match_answer(
        self,
        uow: UnitOfWork,
        now: datetime,
        inbound: Inbound,
        conv: Conversation | None,
        status: str,
    ) -> StepOutcome:
        assert conv is not None
        reason, subject_id = f"core-dp {inbound.message_type}", conv.subject_id
        row, error = self._lifecycle(
            uow,
            now,
            inbound.sender,
            lambda j: self._advance_own(j, "match", subject_id, "proposed", status, reason),
        )
        if error is not None:
            raise refusal_for(error)
        body = inbound.body
        conv = self._advance(
            conv,
            inbound,
            now,
            local_evidence_hash=None if row is None else sha256_hex(row.document),
            peer_evidence_hash=body.get("local_evidence_hash_sha256"),
            last_error=body.get("reason"),
        )
        uow.coredp.conversations.update(conv)
        if row is None:
            self._record_linked_inbound(uow, now, inbound)
        return StepOutcome(conv, None)

    def _advance_own(
        self, j: Journal, entity: str, entity_id: str, current: str, status: str, reason: str
    ) -> ExchangeRow | None:
        row = j.uow.exchange.get(entity, entity_id)
        if row is None:
            return None
        if row.status == current:
            row = self._exchange.transition(j, entity, entity_id, status, reason)
        if row.status != status:
            raise Conflict(f"{entity} {entity_id} is {row.status} here", {"current": row.status})
        return row

    def _transfer_receive(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> StepOutcome:
        assert conv is not None
        subject_id = conv.subject_id
        row, error = self._lifecycle(
            uow,
            now,
            inbound.sender,
            lambda j: self._advance_own(
                j,
                "transfer",
                subject_id,
                "in_transit",
                "completed",
                "core-dp transfer.receive",
            ),
        )
        if error is not None:
            raise refusal_for(error)
        local = None if row is None else sha256_hex(row.document)
        peer = inbound.body.get("local_evidence_hash_sha256")
        conv = self._advance(conv, inbound, now, local_evidence_hash=local, peer_evidence_hash=peer)
        if row is None:
            self._record_linked_inbound(uow, now, inbound)
        if local is None or peer is None or local != peer:
            conv = replace(
                conv,
                last_error="transfer evidence hashes differ between the nodes: no transfer.ack",
            )
            uow.coredp.conversations.update(conv)
            return StepOutcome(conv, None)
        ack = self._reply(
            inbound,
            "transfer.ack",
            acknowledges_message_id=inbound.message_id,
            final_ack_role=FINAL_ACK_ROLE,
            local_evidence_hash_sha256=local,
            peer_evidence_hash_sha256=peer,
            convergence_hash_sha256=convergence_hash(conv.subject_id, local, peer),
        )
        conv = self._authored(conv, ack, now, convergence_hash=ack.body["convergence_hash_sha256"])
        uow.coredp.conversations.update(conv)
        self._record(uow, now, self._me, "transfer.acked", "transfer", conv.subject_id, ack.body)
        return StepOutcome(conv, ack)

    # -- timeouts and partitions ---------------------------------------------------------------
    def _recovery(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound, conv: Conversation | None
    ) -> Conversation:
        body = inbound.body
        if conv is None:
            raise CoreDpRefusal(
                "conflict", "no such conversation on this node", {"authoritative_state": None}
            )
        if conv.state in RECOVERY_STATES:
            return conv
        if conv.state != body.get("previous_state"):
            code: ErrorCode = "stale_message" if conv.state in TERMINAL_STATES else "conflict"
            raise CoreDpRefusal(
                code,
                f"the observation is about {body.get('previous_state')}, this node is {conv.state}",
                {
                    "authoritative_state": conv.state,
                    "last_accepted_message_id": conv.last_message_id,
                },
            )
        conv = self._advance(conv, inbound, now)
        uow.coredp.conversations.update(conv)
        summary = {"code": _recovery_code(conv.state), "conversation_id": conv.conversation_id}
        self._record(
            uow,
            now,
            inbound.sender,
            "envelope.error_recorded",
            "envelope",
            conv.conversation_id,
            body,
            summary,
        )
        return conv

    def observe_timeout(self, uow: UnitOfWork, now: datetime, conv: Conversation) -> Conversation:
        """`conv` passed its timeout_at: it becomes `partitioned` when the peer was last found
        unreachable, otherwise `timed-out`. A match this node proposed expires with it."""
        state = "partitioned" if conv.partitioned_us is not None else "timed-out"
        changed = replace(
            conv,
            state=state,
            previous_state=conv.state,
            updated_us=to_us(now),
            last_error=conv.last_error or f"no answer before {_timestamp(conv.timeout_at_us)}",
        )
        uow.coredp.conversations.update(changed)
        if conv.role == "origin" and conv.state == "match-proposed":
            _, error = self._lifecycle(
                uow,
                now,
                self._me,
                lambda j: self._advance_own(
                    j, "match", conv.subject_id, "proposed", "expired", f"core-dp {state}"
                ),
            )
            if error is not None:
                log.info(
                    "match %s did not expire with its conversation: %s", conv.subject_id, error
                )
        summary = {
            "code": _recovery_code(state),
            "conversation_id": conv.conversation_id,
            "previous_state": conv.state,
        }
        self._record(
            uow,
            now,
            self._me,
            "envelope.error_recorded",
            "envelope",
            conv.conversation_id,
            summary,
            summary,
        )
        return changed

    # -- helpers ------------------------------------------------------------------------------
    def _new(self, inbound: Inbound, role: str, now: datetime) -> Conversation:
        body = inbound.body
        now_us = to_us(now)
        return Conversation(
            conversation_id=body["conversation_id"],
            peer_node=inbound.sender,
            role=role,
            subject_type=body["subject"]["type"],
            subject_id=body["subject"]["id"],
            state=body["state"],
            authoritative_role=body["authoritative_role"],
            last_message_type=inbound.message_type,
            attempt=body["attempt"],
            timeout_at_us=self._timeout_us(body, now),
            created_us=now_us,
            updated_us=now_us,
            last_message_id=inbound.message_id,
            peer_key_id=inbound.key_id,
        )

    def _timeout_us(self, body: dict[str, Any], now: datetime) -> int:
        """The origin's `timeout_at`, kept within [now + min, now + max] of this node's own."""
        declared = timestamp_or_none(body.get("timeout_at"))
        low = now + timedelta(seconds=self._settings.min_timeout_s)
        high = now + timedelta(seconds=self._settings.conversation_timeout_s)
        moment = high if declared is None else min(max(declared, low), high)
        return to_us(moment)

    @staticmethod
    def _advance(
        conv: Conversation, inbound: Inbound, now: datetime, **changes: Any
    ) -> Conversation:
        body = inbound.body
        return replace(
            conv,
            state=body["state"],
            previous_state=conv.state,
            authoritative_role=body["authoritative_role"],
            last_message_id=inbound.message_id,
            last_message_type=inbound.message_type,
            attempt=body["attempt"],
            updated_us=to_us(now),
            partitioned_us=None,
            **changes,
        )

    @staticmethod
    def _authored(
        conv: Conversation, message: Authored, now: datetime, **changes: Any
    ) -> Conversation:
        body = message.body
        return replace(
            conv,
            state=body["state"],
            previous_state=conv.state,
            authoritative_role=body["authoritative_role"],
            last_message_id=message.message_id,
            last_message_type=message.message_type,
            attempt=1,
            updated_us=to_us(now),
            **changes,
        )

    def _reply(self, inbound: Inbound, message_type: str, **extra: Any) -> Authored:
        body = inbound.body
        key = new_idempotency_key()
        reply = choreography_body(
            message_type,
            conversation_id=body["conversation_id"],
            origin_node=body["origin_node"],
            counterparty_node=body["counterparty_node"],
            subject_type=body["subject"]["type"],
            subject_id=body["subject"]["id"],
            timeout_at=body["timeout_at"],
            idempotency_key=key,
            **extra,
        )
        return Authored(message_type, reply, new_message_id(), key)

    def _mirror(self, j: Journal, entity: str, snapshot: dict[str, Any]) -> ExchangeRow:
        """The peer's entity on this node: created from the snapshot, or the same one again."""
        existing = j.uow.exchange.get(entity, snapshot["id"])
        if existing is not None:
            if _without_status(existing.document) != _without_status(snapshot):
                raise Conflict(
                    f"{entity} {snapshot['id']} exists on this node with other content",
                    {"id": snapshot["id"]},
                )
            return existing
        document = prepare(ENTITY_TYPES[entity], snapshot, _no_mint)
        create = {
            "offer": self._exchange.create_offer,
            "match": self._exchange.create_match,
            "transfer": self._exchange.create_transfer,
        }[entity]
        return create(j, document)

    @staticmethod
    def _lifecycle(
        uow: UnitOfWork, now: datetime, actor: str, change: Callable[[Journal], T]
    ) -> tuple[T | None, LoopError | None]:
        """Run a lifecycle change in a savepoint with its own journal (flushed inside it)."""
        journal = Journal(uow, now, actor)
        try:
            with uow.coredp.savepoint():
                value = change(journal)
                journal.flush()
        except LoopError as exc:
            return None, exc
        except Exception as exc:  # a storage failure must not leave the step half-applied
            log.exception("core-dp lifecycle step failed")
            return None, LoopError(f"this node could not apply the step: {type(exc).__name__}")
        return value, None

    @staticmethod
    def _record(
        uow: UnitOfWork,
        now: datetime,
        actor: str,
        event: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
        summary: dict[str, Any] | None = None,
    ) -> None:
        journal = Journal(uow, now, actor)
        journal.record(event, subject_type, subject_id, payload, summary)
        journal.flush()

    def _record_linked(self, uow: UnitOfWork, now: datetime, actor: str, message: Authored) -> None:
        found = _LINKED_EVENTS.get(message.message_type)
        if found is not None:
            event, subject = found
            self._record(
                uow, now, actor, event, subject, message.body["subject"]["id"], message.body
            )

    def _record_linked_inbound(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> None:
        found = _LINKED_EVENTS.get(inbound.message_type)
        if found is not None:
            event, subject = found
            self._record(
                uow,
                now,
                inbound.sender,
                event,
                subject,
                inbound.body["subject"]["id"],
                inbound.body,
            )


# Message type -> the method that applies it (for the role that does not author it).
HANDLERS: Final[Mapping[str, str]] = {mt: "_" + mt.replace(".", "_") for mt in RULES}
if not all(callable(getattr(Steps, name, None)) for name in HANDLERS.values()):
    raise RuntimeError("every choreography message type needs a handler in Steps")


def _check_same_conversation(conv: Conversation | None, inbound: Inbound, role: str) -> None:
    if conv is None:
        return
    if conv.peer_node != inbound.sender:
        raise CoreDpRefusal("forbidden", "the conversation belongs to another peer")
    subject = inbound.body["subject"]
    if (conv.subject_type, conv.subject_id, conv.role) != (subject["type"], subject["id"], role):
        raise CoreDpRefusal(
            "conflict",
            "the conversation is about another subject on this node",
            {
                "authoritative_state": conv.state,
                "subject": {"type": conv.subject_type, "id": conv.subject_id},
            },
        )


def _check_transition(conv: Conversation | None, inbound: Inbound) -> None:
    """§4.6: accept only after the declared predecessor; terminal states are absorbing."""
    rule = RULES[inbound.message_type]
    local = None if conv is None else conv.state
    if local == rule.previous_state:
        return
    if _late_final_ack(conv, inbound):
        return
    details = {
        "authoritative_state": local,
        "last_accepted_message_id": None if conv is None else conv.last_message_id,
    }
    if local is not None and local in TERMINAL_STATES:
        raise CoreDpRefusal(
            "stale_message",
            f"{inbound.message_type} arrives after the conversation ended in {local}",
            details,
        )
    raise CoreDpRefusal(
        "conflict",
        f"{inbound.message_type} needs state {rule.previous_state or '(none)'}, this node is at "
        f"{local or '(none)'}",
        details,
    )


def _late_final_ack(conv: Conversation | None, inbound: Inbound) -> bool:
    """The profile's one exception: a transfer.ack created before the local timeout."""
    return (
        conv is not None
        and inbound.message_type == "transfer.ack"
        and conv.state == "timed-out"
        and conv.previous_state == "transfer-received"
        and to_us(inbound.created_at) < conv.timeout_at_us
    )


def _recovery_code(state: str) -> str:
    return "partition" if state == "partitioned" else "timeout"


def _without_status(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "status"}


def _no_mint() -> str:
    raise InvalidRequest("the subject document has no id")


def _timestamp(micros: int) -> str:
    return format_timestamp(from_us(micros))
