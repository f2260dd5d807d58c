"""Receiving core-dp envelopes (`POST /api/v1/core-dp/messages`): verify, deduplicate, apply.

Theory of operation (SPEC-DIGEST §4.1, §4.6, §4.9; DECISIONS 20; docs/core-dp.md):

1. `verify_envelope` judges the envelope against the peer keys this node holds for the sender
   (shape, profile version, schemas, body binding, signing-input hash and Ed25519, key
   lifecycle at `created_at`, receiver, replay window capped at 300 s, authority, profile
   rules). A failure is answered with its core-dp error; nothing is stored.
2. A peer this node's operator has not approved (a pending handshake) is `forbidden`.
3. The subject snapshot header, if any, must hash to the signed `local_evidence_hash_sha256`.
4. One write transaction: the seen-message cache takes `(sender, message_id)` (a primary key,
   so every worker and process agrees; a second delivery of the same message is `duplicate`);
   the idempotency key decides next: the same DECISIONS 20 fingerprint returns the stored
   answer, another fingerprint is `conflict`; otherwise the step is applied (coredp_steps,
   coredp_dna), its answer signed and stored, its evidence appended.
5. A verified message refused by the state machine is remembered as seen and recorded as
   `envelope.error_recorded` evidence in a transaction of its own.

Answers are `ReceiverAnswer`s: a signed envelope, a receipt (accepted, no reply defined), or a
core-dp error; the web layer maps them to HTTP statuses.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from loopnode.domain.errors import LoopError
from loopnode.domain.times import timestamp_or_none, to_us
from loopnode.protocol.canonical import CanonicalizationFailed
from loopnode.protocol.coredp.choreography import idempotency_fingerprint
from loopnode.protocol.coredp.envelope import (
    EnvelopeVerdict,
    NodeRef,
    new_message_id,
    verify_envelope,
)
from loopnode.protocol.coredp.errors import ErrorCode
from loopnode.protocol.trust import TrustStore
from loopnode.services.coredp.dna import DnaOperations
from loopnode.services.coredp.messages import (
    ANSWER_ENVELOPE,
    ANSWER_RECEIPT,
    CoreDpIdentity,
    CoreDpRefusal,
    CoreDpSettings,
    decode_snapshot,
    is_choreography,
)
from loopnode.services.coredp.ports import StoredResult
from loopnode.services.coredp.steps import Authored, Inbound, Steps, refusal_for
from loopnode.services.federation.ports import PeerRow
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

__all__ = ["CoreDpReceiver", "ReceiverAnswer", "correlation_id"]

log = logging.getLogger("loopnode.coredp")
_CORRELATION = re.compile(r"^(msg|conv)_[A-Za-z0-9_-]{16,80}\Z")
_MAX_FAILURES = 480
_PURGE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ReceiverAnswer:
    kind: Literal["envelope", "receipt", "error"]
    body: dict[str, Any]
    code: ErrorCode | None = None


def correlation_id(document: object) -> str:
    """What an error names: the message, else its conversation, else a digest of the input."""
    if isinstance(document, Mapping):
        message_id = document.get("message_id")
        if isinstance(message_id, str) and _CORRELATION.match(message_id):
            return message_id
        body = document.get("body")
        conversation = body.get("conversation_id") if isinstance(body, Mapping) else None
        if isinstance(conversation, str) and _CORRELATION.match(conversation):
            return conversation
    try:
        digest = hashlib.sha256(orjson.dumps(document)).hexdigest()
    except (TypeError, orjson.JSONEncodeError):
        digest = "0" * 64
    return "msg_unidentified-" + digest[:32]


class CoreDpReceiver:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        identity: CoreDpIdentity,
        steps: Steps,
        dna: DnaOperations,
        settings: CoreDpSettings,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._identity = identity
        self._steps = steps
        self._dna = dna
        self._settings = settings
        self._last_purge: datetime | None = None

    def receive(self, document: object, snapshot_header: str | None = None) -> ReceiverAnswer:
        """Judge and apply one envelope; never raises for anything a peer can send."""
        correlation = correlation_id(document)
        try:
            return self._receive(document, snapshot_header)
        except CoreDpRefusal as refusal:
            return ReceiverAnswer("error", refusal.body(correlation), refusal.code)
        except CanonicalizationFailed as exc:
            failed = CoreDpRefusal("schema_invalid", exc.message)
            return ReceiverAnswer("error", failed.body(correlation), failed.code)
        except LoopError as exc:  # a race the storage caught (a concurrent first use of a key)
            failed = refusal_for(exc)
            return ReceiverAnswer("error", failed.body(correlation), failed.code)

    def _receive(self, document: object, snapshot_header: str | None) -> ReceiverAnswer:
        now = self._clock.now()
        self._purge(now)
        trust, peer = self._trust(document)
        verdict = verify_envelope(
            document,
            trust,
            now,
            receiver_node_id=self._identity.node_id,
            skew_s=self._settings.skew_s,
            max_window_s=self._settings.max_window_s,
        )
        if not verdict.accepted:
            raise CoreDpRefusal(verdict.error_code or "invalid_request", _summary(verdict))
        assert isinstance(document, dict)
        if peer is not None and not peer.approved:
            raise CoreDpRefusal(
                "forbidden", f"peer {peer.node_id} is not approved by this node's operator"
            )
        inbound = Inbound(document, self._snapshot(document, snapshot_header))
        fingerprint = idempotency_fingerprint(
            inbound.body, inbound.message_type, self._identity.node_id
        )
        try:
            with self._uow(write=True) as uow:
                return self._process(uow, now, inbound, verdict, fingerprint)
        except CoreDpRefusal as refusal:
            if refusal.code != "duplicate":
                self._record_refusal(now, inbound, verdict, refusal)
            raise

    def _trust(self, document: object) -> tuple[TrustStore, PeerRow | None]:
        sender = None
        if isinstance(document, Mapping) and isinstance(document.get("sender"), Mapping):
            node = document["sender"].get("node_id")
            sender = node if isinstance(node, str) else None
        if sender is None:
            return TrustStore(()), None
        with self._uow() as uow:
            records = uow.federation.peer_keys.for_node(sender)
            peer = uow.federation.peers.get(sender)
        return TrustStore.of(records), peer

    def _snapshot(self, envelope: dict[str, Any], header: str | None) -> dict[str, Any] | None:
        body = envelope["body"]
        if not is_choreography(envelope["message_type"]):
            return None
        key = body.get("idempotency_key")
        if key is not None and key != envelope["idempotency_key"]:
            raise CoreDpRefusal(
                "invalid_request", "body idempotency_key differs from the envelope's"
            )
        snapshot = decode_snapshot(header, body, self._settings.max_snapshot_bytes)
        if snapshot is not None and body["subject"]["type"] not in ("offer", "match", "transfer"):
            raise CoreDpRefusal("invalid_request", "only offers, matches and transfers travel")
        return snapshot

    def _process(
        self,
        uow: UnitOfWork,
        now: datetime,
        inbound: Inbound,
        verdict: EnvelopeVerdict,
        fingerprint: str,
    ) -> ReceiverAnswer:
        assert verdict.replay_key is not None
        assert verdict.cache_until is not None
        if not uow.messaging.seen.remember(verdict.replay_key, to_us(verdict.cache_until)):
            raise CoreDpRefusal(
                "duplicate",
                f"message {inbound.message_id} was already received",
                {"message_id": inbound.message_id},
            )
        key = inbound.envelope["idempotency_key"]
        stored = uow.coredp.results.get(inbound.sender, key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise CoreDpRefusal(
                    "conflict",
                    "this idempotency_key was used for a different message",
                    {
                        "idempotency_key": key,
                        "original_fingerprint_sha256": stored.fingerprint,
                        "idempotency_fingerprint_sha256": fingerprint,
                    },
                )
            return self._stored(uow, now, stored)
        answer, conversation_id = self._answer(uow, now, inbound)
        uow.coredp.results.insert(
            StoredResult(
                sender_node=inbound.sender,
                idempotency_key=key,
                fingerprint=fingerprint,
                message_type=inbound.message_type,
                message_id=inbound.message_id,
                conversation_id=conversation_id,
                status=ANSWER_ENVELOPE if answer.kind == "envelope" else ANSWER_RECEIPT,
                response=answer.body,
                created_us=to_us(now),
                expires_us=to_us(now + timedelta(seconds=self._settings.results_ttl_s)),
            )
        )
        return answer

    def _answer(
        self, uow: UnitOfWork, now: datetime, inbound: Inbound
    ) -> tuple[ReceiverAnswer, str | None]:
        if is_choreography(inbound.message_type):
            outcome = self._steps.accept(uow, now, inbound)
            conv = outcome.conversation
            if outcome.reply is None:
                receipt = {
                    "status": "accepted",
                    "message_id": inbound.message_id,
                    "conversation_id": conv.conversation_id,
                    "state": conv.state,
                }
                return ReceiverAnswer("receipt", receipt), conv.conversation_id
            return self._signed(inbound, outcome.reply, now), conv.conversation_id
        if inbound.message_type == "error":
            return self._error_received(uow, now, inbound), None
        return self._signed(inbound, self._dna.answer(uow, now, inbound), now), None

    def _signed(self, inbound: Inbound, reply: Authored, now: datetime) -> ReceiverAnswer:
        envelope = self._identity.sign(
            message_type=reply.message_type,
            receiver=NodeRef(**inbound.envelope["sender"]),
            body=reply.body,
            message_id=reply.message_id,
            idempotency_key=reply.idempotency_key,
            now=now,
            replay_window_s=self._settings.replay_window_s,
        )
        return ReceiverAnswer("envelope", envelope)

    def _stored(self, uow: UnitOfWork, now: datetime, stored: StoredResult) -> ReceiverAnswer:
        """The stored answer; a stored envelope about to expire is re-signed (same body and
        idempotency key, a new message id), so the retrying peer can still accept it."""
        if stored.status != ANSWER_ENVELOPE:
            return ReceiverAnswer("receipt", stored.response)
        old = stored.response
        expires = timestamp_or_none(old.get("expires_at"))
        fresh_until = now + timedelta(seconds=self._settings.reply_fresh_s)
        if expires is not None and expires >= fresh_until:
            return ReceiverAnswer("envelope", old)
        envelope = self._identity.sign(
            message_type=old["message_type"],
            receiver=NodeRef(**old["receiver"]),
            body=old["body"],
            message_id=new_message_id(),
            idempotency_key=old["idempotency_key"],
            now=now,
            replay_window_s=self._settings.replay_window_s,
        )
        uow.coredp.results.replace_response(stored.sender_node, stored.idempotency_key, envelope)
        self._renamed_reply(uow, stored.conversation_id, old["message_id"], envelope["message_id"])
        return ReceiverAnswer("envelope", envelope)

    @staticmethod
    def _renamed_reply(uow: UnitOfWork, conversation_id: str | None, old: str, new: str) -> None:
        if conversation_id is None:
            return
        conv = uow.coredp.conversations.get(conversation_id, lock=True)
        if conv is not None and conv.last_message_id == old:
            uow.coredp.conversations.update(replace(conv, last_message_id=new))

    def _error_received(self, uow: UnitOfWork, now: datetime, inbound: Inbound) -> ReceiverAnswer:
        body = inbound.body
        correlated = str(body["correlation_id"])
        conv = uow.coredp.conversations.get(correlated, lock=True)
        if conv is not None and conv.peer_node == inbound.sender:
            uow.coredp.conversations.update(
                replace(
                    conv, last_error=f"{body['code']}: {body['message']}", updated_us=to_us(now)
                )
            )
        summary = {"code": body["code"], "correlation_id": correlated}
        journal = Journal(uow, now, inbound.sender)
        journal.record("envelope.error_recorded", "envelope", correlated, body, summary)
        journal.flush()
        receipt = {"status": "accepted", "message_id": inbound.message_id}
        return ReceiverAnswer("receipt", receipt)

    def _record_refusal(
        self, now: datetime, inbound: Inbound, verdict: EnvelopeVerdict, refusal: CoreDpRefusal
    ) -> None:
        """A verified message the state machine refused: seen, and kept as evidence."""
        try:
            with self._uow(write=True) as uow:
                if verdict.replay_key is not None and verdict.cache_until is not None:
                    uow.messaging.seen.remember(verdict.replay_key, to_us(verdict.cache_until))
                body = refusal.body(inbound.message_id)
                summary = {
                    "code": refusal.code,
                    "message_type": inbound.message_type,
                    "sender": inbound.sender,
                }
                journal = Journal(uow, now, inbound.sender)
                journal.record(
                    "envelope.error_recorded", "envelope", inbound.message_id, body, summary
                )
                journal.flush()
        except Exception:  # best effort: the refusal itself is still answered
            log.exception("could not record a refused core-dp message")

    def _purge(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = now
        with self._uow(write=True) as uow:
            uow.messaging.seen.prune(to_us(now))
            uow.coredp.results.purge(to_us(now))


def _summary(verdict: EnvelopeVerdict) -> str:
    text = " ".join(failure.replace("\n", " ") for failure in verdict.failures)
    return (text or "the envelope was refused")[:_MAX_FAILURES]
