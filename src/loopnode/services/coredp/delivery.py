"""The core-dp channel of the one delivery worker: the messages this node authored.

Theory of operation (SPEC-DIGEST §4.1 "Idempotency and duplicates", §4.6; DECISIONS 20;
STYLE habit 12; docs/core-dp.md "Retries, timeouts and partitions"; the worker itself is
`services/messaging/delivery.py`):

- A message is queued as an outbox row (channel `core-dp`) in the transaction that authored
  it. One peer's rows share the `core-dp` lane, so they go strictly in order: the passport's
  `material.register` always reaches the peer before the `offer.publish` about it.
- Every attempt is a fresh envelope, signed at send time (`prepare`): a new message id and
  `created_at` (so a retry never trips the replay window or the seen-message cache), the same
  idempotency key and body, `attempt` = n and, above 1, `duplicate_of` = the first attempt's
  id. The peer answers a retry with its stored result.
- `attempt` counts only attempts that may have reached the peer (at most 5, the schema's
  bound). A refused connection reached nobody: the row waits (backoff) without using up an
  attempt, and the conversation records a partition observation. A timeout, a 5xx, a 429, a
  `duplicate` or a retryable core-dp error uses one; after the fifth the row is dead.
- A 200 answer is a signed envelope: it is verified like any inbound message (trust store,
  replay window, seen cache), must be a declared reply (`REPLIES`) in the same conversation,
  and is applied by `coredp_steps` in the transaction that marks the row delivered; a follow-up
  it causes (transfer.ack after transfer.receive) is queued there too. 202 is delivered.
- Rows past their deadline (the conversation's `timeout_at`) are dead; `expire` turns overdue
  conversations into `timed-out` / `partitioned` observations (coredp_steps).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from loopnode.domain.errors import Conflict
from loopnode.domain.times import to_us
from loopnode.protocol.coredp.envelope import NodeRef, new_message_id, verify_envelope
from loopnode.protocol.trust import KeyRecord, TrustStore, key_problem
from loopnode.services.coredp.messages import (
    MESSAGES_PATH,
    REPLIES,
    SUBJECT_HEADER,
    CoreDpIdentity,
    CoreDpRefusal,
    CoreDpSettings,
    advertised_endpoint,
    encode_snapshot,
    is_choreography,
    with_attempt,
)
from loopnode.services.coredp.ports import Conversation
from loopnode.services.coredp.steps import NON_TERMINAL_STATES, Authored, Inbound, Steps
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.messaging.delivery import Request, Verdict
from loopnode.services.messaging.ports import (
    CORE_DP,
    OutboxDraft,
    OutboxRow,
    PeerAddress,
    PeerResponse,
    TransportError,
)
from loopnode.services.messaging.resilience import Outcome, RetryPolicy
from loopnode.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

__all__ = ["INLINE_HOLD_US", "MAX_ATTEMPTS", "CoreDpChannel", "active_key", "expire", "queue"]

log = logging.getLogger("loopnode.coredp")
MAX_ATTEMPTS: Final = 5
NOT_SENT: Final = frozenset({"unreachable", "tls", "insecure"})
RETRYABLE_STATUS: Final = frozenset({408, 425, 429})
LANE: Final = "core-dp"
INLINE_HOLD_US: Final = 5 * 1_000_000  # an exchange step delivers what it queues itself
US = 1_000_000


def queue(
    uow: UnitOfWork,
    now: datetime,
    peer: str,
    message: Authored,
    *,
    conversation_id: str | None,
    deadline_us: int,
    hold_us: int = 0,
) -> int:
    """Queue an authored message for `peer`; its first attempt uses `message.message_id`.

    `hold_us`: the author delivers it at once itself (`Delivery.run(fresh_within_us=...)`),
    so background workers leave it alone for that long (they take over if the author could
    not send it)."""
    document = message.subject_document
    draft = OutboxDraft(
        peer_id=peer,
        kind=message.message_type,
        method="POST",
        path=MESSAGES_PATH,
        body=orjson.dumps(message.body).decode(),
        dedupe_key=message.idempotency_key,
        channel=CORE_DP,
        lane=LANE,
        deadline_us=deadline_us,
        correlation_id=conversation_id,
        attachment=None if document is None else orjson.dumps(document).decode(),
        message_id=message.message_id,
        hold_us=hold_us,
    )
    row_id = uow.messaging.outbox.add(draft, to_us(now))
    if row_id is None:
        raise Conflict(
            f"idempotency key {message.idempotency_key} is queued for {peer} already",
            {"idempotency_key": message.idempotency_key},
        )
    return row_id


@dataclass(frozen=True, slots=True)
class CoreDpChannel:
    """Prepares (signs) and settles core-dp envelopes; see the module docstring."""

    identity: CoreDpIdentity
    steps: Steps
    settings: CoreDpSettings

    @property
    def name(self) -> str:
        return CORE_DP

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_s=self.settings.retry_base_s,
            cap_s=self.settings.retry_cap_s,
            max_attempts=MAX_ATTEMPTS,
        )

    @property
    def timeout_s(self) -> float:
        return self.settings.request_timeout_s

    @property
    def lease_s(self) -> float:
        return self.settings.lease_s

    # -- prepare -----------------------------------------------------------------------------------
    def prepare(
        self, uow: UnitOfWork, row: OutboxRow, now: datetime
    ) -> tuple[OutboxRow, Request] | Verdict:
        target = self._target(uow, row.peer_id, now)
        if target is None:
            return Verdict(Outcome.DEAD, f"{row.peer_id} is not a peer with an active key here")
        address, receiver = target
        reusable = row.first_message_id is None and row.last_message_id is not None
        message_id = row.last_message_id if reusable else new_message_id()
        assert message_id is not None
        leased = replace(
            row, first_message_id=row.first_message_id or message_id, last_message_id=message_id
        )
        body = with_attempt(row.kind, orjson.loads(row.body), row.attempts, leased.first_message_id)
        envelope = self.identity.sign(
            message_type=row.kind,
            receiver=receiver,
            body=body,
            message_id=message_id,
            idempotency_key=row.dedupe_key or "",
            now=now,
            replay_window_s=self.settings.replay_window_s,
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if row.attachment is not None:
            headers[SUBJECT_HEADER] = encode_snapshot(orjson.loads(row.attachment))
        request = Request(address, "POST", row.path, orjson.dumps(envelope), headers)
        return leased, request

    @staticmethod
    def _target(uow: UnitOfWork, peer: str, now: datetime) -> tuple[PeerAddress, NodeRef] | None:
        row = uow.federation.peers.get(peer)
        key = active_key(uow.federation.peer_keys.for_node(peer), now)
        if row is None or key is None:
            return None
        return PeerAddress.of(row), NodeRef(peer, advertised_endpoint(row.endpoint, peer), key)

    # -- settle ------------------------------------------------------------------------------------
    def settle(
        self,
        uow: UnitOfWork,
        row: OutboxRow,
        result: PeerResponse | TransportError,
        now: datetime,
    ) -> Verdict:
        if isinstance(result, TransportError):
            error = f"{result.reason}: {result.message}"
            if result.reason in NOT_SENT:
                self._partitioned(uow, row, now)
                return Verdict(Outcome.RETRY, error, peer_failure=True, reached=False)
            return Verdict(Outcome.RETRY, error, peer_failure=True)
        if result.status == 200:
            return self._replied(uow, row, result.body, now)
        if result.status == 202:
            conv = _conversation(uow, row)
            if conv is not None and conv.last_message_type == row.kind:
                sent = replace(
                    conv,
                    last_message_id=row.last_message_id,
                    partitioned_us=None,
                    updated_us=to_us(now),
                )
                uow.coredp.conversations.update(sent)
            return Verdict(Outcome.DELIVERED)
        return self._refused(uow, row, result.status, result.body, now)

    def _partitioned(self, uow: UnitOfWork, row: OutboxRow, now: datetime) -> None:
        """Nothing reached the peer: the conversation notes the partition."""
        conv = _conversation(uow, row)
        if conv is not None:
            now_us = to_us(now)
            partitioned = replace(
                conv,
                partitioned_us=conv.partitioned_us or now_us,
                partitions=conv.partitions + 1,
                updated_us=now_us,
            )
            uow.coredp.conversations.update(partitioned)

    def _refused(
        self, uow: UnitOfWork, row: OutboxRow, status: int, raw: bytes, now: datetime
    ) -> Verdict:
        error = _error_of(raw)
        code = str(error.get("code", "error"))
        text = f"{status} {code}: {error.get('message', '')}"
        failure = status >= 500 or status == 429
        retryable = error.get("retryable") is True or status >= 500 or status in RETRYABLE_STATUS
        if retryable or code == "duplicate":
            return Verdict(Outcome.RETRY, text, peer_failure=failure)
        summary = {"code": code, "status": status, "message_type": row.kind}
        journal = Journal(uow, now, row.peer_id)
        assert row.last_message_id is not None
        journal.record(
            "envelope.error_recorded", "envelope", row.last_message_id, dict(error), summary
        )
        journal.flush()
        return Verdict(Outcome.DEAD, text)

    def _replied(self, uow: UnitOfWork, row: OutboxRow, raw: bytes, now: datetime) -> Verdict:
        try:
            document: Any = orjson.loads(raw)
            inbound, replay_key = self._verified_reply(uow, row, document, now)
        except CoreDpRefusal as refusal:
            return Verdict(
                Outcome.DEAD, f"the peer's answer was refused: {refusal.code}: {refusal.message}"
            )
        except orjson.JSONDecodeError:
            return Verdict(Outcome.DEAD, "the peer's answer was refused: the answer is not JSON")
        try:
            with uow.coredp.savepoint():
                self._apply_reply(uow, now, row, inbound, replay_key)
        except CoreDpRefusal as refusal:
            note = f"the peer's {inbound.message_type} was not applied: {refusal.message}"
            _note(uow, now, row, note)
            journal = Journal(uow, now, row.peer_id)
            body = refusal.body(inbound.message_id)
            journal.record("envelope.error_recorded", "envelope", inbound.message_id, body)
            journal.flush()
            return Verdict(Outcome.DELIVERED, note)
        return Verdict(Outcome.DELIVERED, _result_note(inbound))

    def _verified_reply(
        self, uow: UnitOfWork, row: OutboxRow, document: Any, now: datetime
    ) -> tuple[Inbound, str]:
        trust = TrustStore.of(uow.federation.peer_keys.for_node(row.peer_id))
        verdict = verify_envelope(
            document,
            trust,
            now,
            receiver_node_id=self.identity.node_id,
            skew_s=self.settings.skew_s,
            max_window_s=self.settings.max_window_s,
        )
        if not verdict.accepted:
            raise CoreDpRefusal(verdict.error_code or "invalid_request", " ".join(verdict.failures))
        inbound = Inbound(document)
        if inbound.sender != row.peer_id:
            raise CoreDpRefusal("forbidden", "the answer is signed by another node")
        if inbound.message_type not in REPLIES.get(row.kind, frozenset()):
            raise CoreDpRefusal("invalid_request", f"{inbound.message_type} does not answer it")
        body = inbound.body
        if is_choreography(inbound.message_type):
            same = body.get("conversation_id") == row.correlation_id
        else:
            same = body.get("request_id") == orjson.loads(row.body).get("request_id")
        if not same:
            raise CoreDpRefusal("invalid_request", "the answer is about another exchange")
        assert verdict.replay_key is not None
        return inbound, verdict.replay_key

    def _apply_reply(
        self,
        uow: UnitOfWork,
        now: datetime,
        row: OutboxRow,
        inbound: Inbound,
        replay_key: str,
    ) -> None:
        expires = to_us(now + timedelta(seconds=self.settings.max_window_s))
        fresh = uow.messaging.seen.remember(replay_key, expires)
        if not is_choreography(inbound.message_type):
            return
        if not fresh:
            conv = _conversation(uow, row)
            if conv is not None and conv.last_message_id == inbound.message_id:
                return  # this answer was applied already
            raise CoreDpRefusal("duplicate", f"answer {inbound.message_id} was seen before")
        outcome = self.steps.accept(uow, now, inbound)
        if outcome.reply is not None:
            conv = outcome.conversation
            queue(
                uow,
                now,
                row.peer_id,
                outcome.reply,
                conversation_id=conv.conversation_id,
                deadline_us=max(conv.timeout_at_us, to_us(now) + self.settings.min_timeout_s * US),
            )

    def dead(self, uow: UnitOfWork, row: OutboxRow, error: str, now: datetime) -> None:
        _note(uow, now, row, error)


# -- timeouts -------------------------------------------------------------------------------------
def expire(uow_factory: UnitOfWorkFactory, clock: Clock, steps: Steps, limit: int = 100) -> int:
    """Overdue conversations become timed-out / partitioned; their queued messages die."""
    now = clock.now()
    now_us = to_us(now)
    count = 0
    with uow_factory() as uow:
        overdue = uow.coredp.conversations.overdue(now_us, NON_TERMINAL_STATES, limit)
    if not overdue:
        return 0
    with uow_factory(write=True) as uow:
        for seen in overdue:
            conv = uow.coredp.conversations.get(seen.conversation_id, lock=True)
            if conv is None or conv.state not in NON_TERMINAL_STATES:
                continue
            if conv.timeout_at_us > now_us:
                continue
            observed = steps.observe_timeout(uow, now, conv)
            for row in uow.messaging.outbox.of_correlation(conv.conversation_id):
                if row.status == "pending":
                    dead = replace(
                        row,
                        status="dead",
                        last_error=f"conversation {observed.state}",
                        updated_us=now_us,
                    )
                    uow.messaging.outbox.update(dead)
            count += 1
    return count


# -- bookkeeping ----------------------------------------------------------------------------------
def _conversation(uow: UnitOfWork, row: OutboxRow) -> Conversation | None:
    if row.correlation_id is None:
        return None
    return uow.coredp.conversations.get(row.correlation_id, lock=True)


def _note(uow: UnitOfWork, now: datetime, row: OutboxRow, text: str) -> None:
    conv = _conversation(uow, row)
    if conv is not None:
        noted = replace(conv, last_error=text[:500], updated_us=to_us(now))
        uow.coredp.conversations.update(noted)


def active_key(records: list[KeyRecord], now: datetime) -> str | None:
    """The key id a message to this peer names as `receiver.key_id`: its newest usable key."""
    usable = [r for r in records if key_problem(r, now) is None and r.status == "active"]
    if not usable:
        usable = [r for r in records if key_problem(r, now) is None]
    if not usable:
        return None
    newest = max(usable, key=lambda r: (r.valid_from is not None, r.valid_from or now))
    return newest.key_id


def _error_of(raw: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"code": "error", "message": raw[:200].decode("utf-8", "replace")}
    return document if isinstance(document, dict) else {"code": "error"}


def _result_note(inbound: Inbound) -> str | None:
    result = inbound.body.get("result")
    if isinstance(result, dict) and result.get("status") not in (None, "registered", "found"):
        return f"{inbound.message_type}: {result.get('status')}"
    return None
