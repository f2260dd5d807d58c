"""The core-dp exchange as use cases: start and drive conversations with a peer.

Theory of operation (SPEC-DIGEST §4.4, §4.6; core-dp README "Two-Node Authority"; DECISIONS
8-11, 20; docs/core-dp.md): this node is the origin of what it offers. Each step is one write
transaction that makes the lifecycle change (through `services.exchange.Exchange`, which owns
the invariants), opens the conversation in the state this node authors, appends the evidence
and queues the message; delivery (`coredp_delivery`) then sends it and applies the peer's
answer. The steps, in the order the profile gives them:

1. `announce_capabilities`: capabilities.announce → capabilities.response (the peer's key id
   and the accepted profile version are stored on both sides);
2. `publish_offer`: the passport goes first as a `material.register`/`product.register` DNA
   operation, then offer.publish with the Offer as subject snapshot → offer.ack / offer.reject;
3. `propose_match` (after the peer acknowledged the offer): match.propose with the Match →
   match.accept / match.reject (this node's Match follows);
4. `dispatch_transfer` (after the peer accepted the match): transfer.dispatch with the Transfer
   in transit → transfer.receive (the peer completed its copy) → this node completes its own
   and sends transfer.ack with both evidence hashes and the convergence hash.
A counterparty that confirms receipt later (`auto_receive = False`) calls `confirm_receipt`.

Every method returns the conversation as this node then knows it; `deliver=False` only queues
(the worker or `deliver` sends later). `run` does all four steps and raises `ExchangeStalled`
when a step does not reach its expected state (the peer refused, or is unreachable: the
messages stay queued and the conversation can be resumed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain import ids
from loopnode.domain.errors import Conflict, InvalidRequest, LoopError, NotFound
from loopnode.domain.times import format_timestamp, from_us, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.coredp.envelope import new_idempotency_key, new_message_id
from loopnode.services.coredp.delivery import INLINE_HOLD_US, active_key, expire, queue
from loopnode.services.coredp.messages import (
    CAPABILITIES_SUBJECT,
    CoreDpIdentity,
    CoreDpSettings,
    choreography_body,
)
from loopnode.services.coredp.ports import Conversation, OutboundMessage
from loopnode.services.coredp.steps import NON_TERMINAL_STATES, Authored, Steps
from loopnode.services.lifecycle.engine import Exchange
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.lifecycle.service import prepare
from loopnode.services.messaging.delivery import Delivery
from loopnode.services.messaging.ports import CORE_DP, DEAD
from loopnode.services.ports import Clock, ExchangeRow, UnitOfWork, UnitOfWorkFactory

__all__ = ["CONTEXT", "CoreDpExchange", "ExchangeRun", "ExchangeStalled", "view"]

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
MAX_PAGE = 200


class ExchangeStalled(LoopError):
    """A step did not reach the state it needs (refused, or still queued for a peer)."""

    code = "CONFLICT"


@dataclass(frozen=True, slots=True)
class ExchangeRun:
    """The conversations of one offer → match → transfer exchange."""

    capabilities: Conversation
    offer: Conversation
    match: Conversation
    transfer: Conversation

    def as_dict(self) -> dict[str, Any]:
        return {name: view(getattr(self, name)) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class _Start:
    """A conversation this node opens: its subject, first message and lifecycle document."""

    peer: str
    message_type: str
    subject_type: str
    subject_id: str
    document: dict[str, Any] | None


class CoreDpExchange:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        identity: CoreDpIdentity,
        steps: Steps,
        delivery: Delivery,
        exchange: Exchange,
        random_hex: Callable[[int], str],
        settings: CoreDpSettings,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._identity = identity
        self._steps = steps
        self.delivery = delivery
        self._exchange = exchange
        self._random_hex = random_hex
        self._settings = settings

    @property
    def node_id(self) -> str:
        return self._identity.node_id

    # -- the origin's steps ---------------------------------------------------------------------
    async def announce_capabilities(self, peer: str, *, deliver: bool = True) -> Conversation:
        start = _Start(peer, "capabilities.announce", "capabilities", CAPABILITIES_SUBJECT, None)
        conv = self._open(start, lambda _j: None)
        return await self._delivered(conv, deliver)

    async def publish_offer(
        self, peer: str, offer: Mapping[str, Any] | str, *, deliver: bool = True
    ) -> Conversation:
        """Publish a new Offer (a payload, created here first) or an open one (its id)."""

        def change(j: Journal) -> ExchangeRow:
            if isinstance(offer, str):
                row = j.uow.exchange.get("offer", offer, lock=True)
                if row is None:
                    raise NotFound(f"offer {offer} not found on this node", {"searched_id": offer})
                if row.status != "open":
                    raise InvalidRequest(f"offer {offer} is {row.status}, not open")
                return row
            payload = {**_envelope_of("Offer"), "status": "open", **offer}
            document = prepare("Offer", payload, self._mint("offer"))
            return self._exchange.create_offer(j, document)

        conv = self._open(_Start(peer, "offer.publish", "offer", "", None), change)
        return await self._delivered(conv, deliver)

    async def propose_match(
        self,
        peer: str,
        offer_id: str,
        match: Mapping[str, Any] | None = None,
        *,
        to_city: str | None = None,
        deliver: bool = True,
    ) -> Conversation:
        """Propose a Match for an offer the peer acknowledged (a default one when None)."""
        self._require(peer, offer_id, "offer-acked")

        def change(j: Journal) -> ExchangeRow:
            row = j.uow.exchange.get("offer", offer_id)
            if row is None:
                raise NotFound(f"offer {offer_id} not found on this node")
            payload = _given("Match", match) if match else _match_for(row, to_city, j.now)
            payload.setdefault("status", "proposed")
            if payload["status"] != "proposed":
                raise InvalidRequest("a proposed match has status proposed")
            return self._exchange.create_match(j, prepare("Match", payload, self._mint("match")))

        conv = self._open(_Start(peer, "match.propose", "match", "", None), change)
        return await self._delivered(conv, deliver)

    async def dispatch_transfer(
        self,
        peer: str,
        match_id: str,
        transfer: Mapping[str, Any] | None = None,
        *,
        deliver: bool = True,
    ) -> Conversation:
        """Dispatch a Transfer (in transit) for a match the peer accepted."""
        self._require(peer, match_id, "match-accepted")

        def change(j: Journal) -> ExchangeRow:
            row = j.uow.exchange.get("match", match_id)
            if row is None:
                raise NotFound(f"match {match_id} not found on this node")
            payload = _given("Transfer", transfer) if transfer else _transfer_for(row, j.now)
            payload.setdefault("status", "in_transit")
            if payload["status"] != "in_transit":
                raise InvalidRequest("a dispatched transfer has status in_transit")
            document = prepare("Transfer", payload, self._mint("transfer"))
            return self._exchange.create_transfer(j, document)

        conv = self._open(_Start(peer, "transfer.dispatch", "transfer", "", None), change)
        return await self._delivered(conv, deliver)

    async def confirm_receipt(self, conversation_id: str, *, deliver: bool = True) -> Conversation:
        """As counterparty: the goods of a dispatched transfer arrived (transfer.receive)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            conv, message = self._steps.receipt(uow, now, conversation_id)
            deadline = max(conv.timeout_at_us, to_us(now) + self._settings.min_timeout_s * 10**6)
            queue(
                uow,
                now,
                conv.peer_node,
                message,
                conversation_id=conv.conversation_id,
                deadline_us=deadline,
                hold_us=INLINE_HOLD_US,
            )
        return await self._delivered(conv, deliver)

    async def run(
        self, peer: str, offer: Mapping[str, Any] | str, *, to_city: str | None = None
    ) -> ExchangeRun:
        """Capabilities (once per peer), then offer → match → transfer, each step awaited."""
        capabilities = self.confirmed_capabilities(peer)
        if capabilities is None:
            capabilities = _expect(await self.announce_capabilities(peer), "capabilities-confirmed")
        offered = _expect(await self.publish_offer(peer, offer), "offer-acked")
        matched = _expect(
            await self.propose_match(peer, offered.subject_id, to_city=to_city), "match-accepted"
        )
        moved = await self.dispatch_transfer(peer, matched.subject_id)
        if moved.state != "transfer-dispatched":  # else the peer confirms receipt later
            moved = _expect(moved, "transfer-acked")
        return ExchangeRun(capabilities, offered, matched, moved)

    # -- the worker's jobs, and reading ------------------------------------------------------
    async def deliver(self, peer: str | None = None) -> int:
        return await self.delivery.run(peer, CORE_DP, fresh_within_us=INLINE_HOLD_US)

    def expire(self) -> int:
        return expire(self._uow, self._clock, self._steps)

    def conversation(self, conversation_id: str) -> Conversation:
        with self._uow() as uow:
            conv = uow.coredp.conversations.get(conversation_id)
        if conv is None:
            raise NotFound(
                f"conversation {conversation_id} not found on this node",
                {"searched_id": conversation_id},
            )
        return conv

    def conversations(
        self,
        *,
        peer: str | None = None,
        subject_id: str | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 50,
    ) -> list[Conversation]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        with self._uow() as uow:
            return uow.coredp.conversations.page(
                peer_node=peer, subject_id=subject_id, after=after, limit=limit
            )

    def outbox(
        self, status: str | None = None, after: int = 0, limit: int = 50
    ) -> list[OutboundMessage]:
        stored = DEAD if status == "failed" else status
        with self._uow() as uow:
            rows = uow.messaging.outbox.page(
                stored, after, min(max(limit, 1), MAX_PAGE), channel=CORE_DP
            )
        return [OutboundMessage.of(row) for row in rows]

    def confirmed_capabilities(self, peer: str) -> Conversation | None:
        found = [
            conv
            for conv in self.conversations(
                peer=peer, subject_id=CAPABILITIES_SUBJECT, limit=MAX_PAGE
            )
            if conv.state == "capabilities-confirmed"
        ]
        return found[-1] if found else None

    # -- opening a conversation ---------------------------------------------------------------
    def _open(self, start: _Start, change: Callable[[Journal], ExchangeRow | None]) -> Conversation:
        now = self._clock.now()
        with self._uow(write=True) as uow:
            self._require_peer(uow, start.peer, now)
            journal = Journal(uow, now, self._identity.node_id)
            row = change(journal)
            journal.flush()
            subject_id = start.subject_id if row is None else row.id
            document = None if row is None else row.document
            conv, message = self._first_message(start, subject_id, document, now)
            uow.coredp.conversations.insert(conv)
            if row is not None and start.subject_type == "offer":
                self._queue_passport(uow, now, conv, row)
            queue(
                uow,
                now,
                start.peer,
                message,
                conversation_id=conv.conversation_id,
                deadline_us=conv.timeout_at_us,
                hold_us=INLINE_HOLD_US,
            )
        return conv

    def _first_message(
        self, start: _Start, subject_id: str, document: dict[str, Any] | None, now: datetime
    ) -> tuple[Conversation, Authored]:
        timeout = (now + timedelta(seconds=self._settings.conversation_timeout_s)).replace(
            microsecond=0
        )
        key = new_idempotency_key()
        local = None if document is None else sha256_hex(document)
        body = choreography_body(
            start.message_type,
            conversation_id="conv_" + self._random_hex(32).lower(),
            origin_node=self._identity.node_id,
            counterparty_node=start.peer,
            subject_type=start.subject_type,
            subject_id=subject_id,
            timeout_at=format_timestamp(timeout),
            idempotency_key=key,
            local_evidence_hash_sha256=local,
        )
        message = Authored(start.message_type, body, new_message_id(), key, document)
        now_us = to_us(now)
        conv = Conversation(
            conversation_id=body["conversation_id"],
            peer_node=start.peer,
            role="origin",
            subject_type=start.subject_type,
            subject_id=subject_id,
            state=body["state"],
            authoritative_role=body["authoritative_role"],
            last_message_type=start.message_type,
            attempt=1,
            timeout_at_us=to_us(timeout),
            created_us=now_us,
            updated_us=now_us,
            last_message_id=message.message_id,
            local_evidence_hash=local,
        )
        return conv, message

    def _queue_passport(
        self, uow: UnitOfWork, now: datetime, conv: Conversation, offer: ExchangeRow
    ) -> None:
        """The offer's passport, as a DNA register request the peer stores before the offer
        (queued in the offer's conversation, so its timeout and partitions apply to it)."""
        kind = "material" if offer.material_id == offer.subject_id else "product"
        record = uow.records.get(kind, offer.subject_id)
        if record is None:
            raise NotFound(f"{kind} {offer.subject_id} not found on this node")
        message_type = f"{kind}.register"
        body: dict[str, Any] = {
            "message_type": message_type,
            "operation": "register_request",
            "entity_type": kind,
            "request_id": "req_" + self._random_hex(32).lower(),
            "record_id": record.id,
            "record": record.document,
        }
        message = Authored(message_type, body, new_message_id(), new_idempotency_key())
        queue(
            uow,
            now,
            conv.peer_node,
            message,
            conversation_id=conv.conversation_id,
            deadline_us=conv.timeout_at_us,
            hold_us=INLINE_HOLD_US,
        )

    @staticmethod
    def _require_peer(uow: UnitOfWork, peer: str, now: datetime) -> None:
        if uow.federation.peers.get(peer) is None:
            raise InvalidRequest(
                f"{peer} is not a peer of this node: add it first (loopnode peers add)",
                {"peer": peer},
            )
        if active_key(uow.federation.peer_keys.for_node(peer), now) is None:
            raise InvalidRequest(f"this node holds no usable key of {peer}", {"peer": peer})

    def _require(self, peer: str, subject_id: str, state: str) -> None:
        states = [
            c.state for c in self.conversations(peer=peer, subject_id=subject_id, limit=MAX_PAGE)
        ]
        if state not in states:
            raise Conflict(
                f"{subject_id} has no conversation with {peer} in state {state}",
                {"subject_id": subject_id, "states": states},
            )

    def _mint(self, entity: str) -> Callable[[], str]:
        prefix = {
            "offer": ids.OFFER_PREFIX,
            "match": ids.MATCH_PREFIX,
            "transfer": ids.TRANSFER_PREFIX,
        }
        return lambda: ids.mint_entity_id(prefix[entity], self._random_hex(10))

    async def _delivered(self, conv: Conversation, deliver: bool) -> Conversation:
        if deliver:
            await self.delivery.run(conv.peer_node, CORE_DP, fresh_within_us=INLINE_HOLD_US)
        return self.conversation(conv.conversation_id)


def _expect(conv: Conversation, state: str) -> Conversation:
    if conv.state != state:
        raise ExchangeStalled(
            f"conversation {conv.conversation_id} is {conv.state}, not {state}",
            {"conversation": view(conv)},
        )
    return conv


def _envelope_of(entity_type: str) -> dict[str, Any]:
    """The JSON-LD members every entity carries."""
    return {"@context": CONTEXT, "@type": entity_type, "schema_version": LOOP_SPEC_VERSION}


def _given(entity_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {**_envelope_of(entity_type), **payload}


def _subject_fields(row: ExchangeRow) -> dict[str, str]:
    return {
        name: value
        for name, value in (("material_id", row.material_id), ("product_id", row.product_id))
        if value is not None
    }


def _match_for(offer: ExchangeRow, to_city: str | None, now: datetime) -> dict[str, Any]:
    destination = to_city or offer.document.get("to_city")
    if not isinstance(destination, str) or destination.lower() == "any":
        raise InvalidRequest("the offer is open to any city: name the match's to_city")
    return {
        **_envelope_of("Match"),
        "offer_id": offer.id,
        **_subject_fields(offer),
        "from_city": offer.document["from_city"],
        "to_city": destination,
        "status": "proposed",
        "matched_at": format_timestamp(now),
    }


def _transfer_for(match: ExchangeRow, now: datetime) -> dict[str, Any]:
    return {
        **_envelope_of("Transfer"),
        "match_id": match.id,
        **_subject_fields(match),
        "status": "in_transit",
        "handoff_at": format_timestamp(now),
        "route": {
            "from_city": match.document["from_city"],
            "to_city": match.document["to_city"],
            "mode": "road",
        },
    }


def view(conv: Conversation) -> dict[str, Any]:
    """A conversation as the API and the CLI show it."""
    moments = {
        "timeout_at": conv.timeout_at_us,
        "created_at": conv.created_us,
        "updated_at": conv.updated_us,
        "partitioned_at": conv.partitioned_us,
    }
    shown: dict[str, Any] = {
        "conversation_id": conv.conversation_id,
        "peer_node": conv.peer_node,
        "role": conv.role,
        "subject": {"type": conv.subject_type, "id": conv.subject_id},
        "state": conv.state,
        "previous_state": conv.previous_state,
        "terminal": conv.state not in NON_TERMINAL_STATES,
        "authoritative_role": conv.authoritative_role,
        "last_message_id": conv.last_message_id,
        "last_message_type": conv.last_message_type,
        "attempt": conv.attempt,
        "local_evidence_hash_sha256": conv.local_evidence_hash,
        "peer_evidence_hash_sha256": conv.peer_evidence_hash,
        "convergence_hash_sha256": conv.convergence_hash,
        "accepted_profile_version": conv.accepted_profile_version,
        "peer_key_id": conv.peer_key_id,
        "partitions": conv.partitions,
        "last_error": conv.last_error,
    }
    for name, micros in moments.items():
        shown[name] = None if micros is None else format_timestamp(from_us(micros))
    return shown
