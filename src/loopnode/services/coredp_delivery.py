"""Delivering the messages this node authored: the durable core-dp outbox and its worker.

Theory of operation (SPEC-DIGEST §4.1 "Idempotency and duplicates", §4.6; DECISIONS 20;
STYLE habit 12; docs/core-dp.md "Retries, timeouts and partitions"):

- A message is queued as an outbox row in the transaction that authored it. One peer's rows go
  strictly in order: only the oldest pending row of a peer may be sent (the passport's
  `material.register` always reaches the peer before the `offer.publish` about it).
- Every attempt is a fresh envelope, signed at send time: a new message id and `created_at`
  (so a retry never trips the replay window or the seen-message cache), the same idempotency
  key and body, `attempt` = n and, above 1, `duplicate_of` = the first attempt's id. The peer
  answers a retry with its stored result.
- `attempt` counts only attempts that may have reached the peer (at most 5, the schema's
  bound). A refused connection reached nobody: the row waits (backoff) without using up an
  attempt, and the conversation records a partition observation. A timeout, a 5xx, a 429, a
  `duplicate` or a retryable core-dp error uses one; after the fifth the row fails.
- A claimed row is leased (hidden from other workers) before it is sent; a crash mid-send
  makes it due again when the lease ends, as a new attempt.
- A 200 answer is a signed envelope: it is verified like any inbound message (trust store,
  replay window, seen cache), must be a declared reply (`REPLIES`) in the same conversation,
  and is applied by `coredp_steps` in the transaction that marks the row delivered; a follow-up
  it causes (transfer.ack after transfer.receive) is queued there too. 202 is delivered.
- Rows past their deadline (the conversation's `timeout_at`) fail; `expire` turns overdue
  conversations into `timed-out` / `partitioned` observations (coredp_steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from loopnode.domain.times import to_us
from loopnode.protocol.coredp.envelope import NodeRef, new_message_id, verify_envelope
from loopnode.protocol.trust import KeyRecord, TrustStore, key_problem
from loopnode.services.coredp_messages import (
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
from loopnode.services.coredp_ports import (
    Conversation,
    CoreDpTransport,
    CoreDpUnitOfWork,
    CoreDpUowFactory,
    OutboundMessage,
)
from loopnode.services.coredp_steps import NON_TERMINAL_STATES, Authored, Inbound, Steps
from loopnode.services.federation.resilience import RetryPolicy, backoff_s
from loopnode.services.journal import Journal
from loopnode.services.messaging.ports import PeerAddress, TransportError
from loopnode.services.ports import Clock

__all__ = ["MAX_ATTEMPTS", "CoreDpDelivery", "CoreDpWorker", "queue"]

log = logging.getLogger("loopnode.coredp")
MAX_ATTEMPTS: Final = 5
NOT_SENT: Final = frozenset({"unreachable", "tls", "insecure"})
RETRYABLE_STATUS: Final = frozenset({408, 425, 429})
US = 1_000_000


def queue(
    uow: CoreDpUnitOfWork,
    now: datetime,
    peer: str,
    message: Authored,
    *,
    conversation_id: str | None,
    deadline_us: int,
) -> int:
    """Queue an authored message for `peer`; its first attempt uses `message.message_id`."""
    now_us = to_us(now)
    return uow.coredp.outbox.add(
        OutboundMessage(
            id=0,
            peer_node=peer,
            message_type=message.message_type,
            conversation_id=conversation_id,
            idempotency_key=message.idempotency_key,
            body=message.body,
            subject_document=message.subject_document,
            status="pending",
            attempt=0,
            next_attempt_us=now_us,
            deadline_us=deadline_us,
            created_us=now_us,
            updated_us=now_us,
            last_message_id=message.message_id,
        )
    )


@dataclass(frozen=True, slots=True)
class _Claim:
    row: OutboundMessage  # as leased for this attempt
    before: OutboundMessage  # as it was before
    address: PeerAddress
    receiver: NodeRef

    @property
    def message_id(self) -> str:
        assert self.row.last_message_id is not None
        return self.row.last_message_id


class CoreDpDelivery:
    def __init__(
        self,
        uow: CoreDpUowFactory,
        clock: Clock,
        identity: CoreDpIdentity,
        steps: Steps,
        transport: CoreDpTransport | None,
        settings: CoreDpSettings,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._identity = identity
        self._steps = steps
        self.transport = transport
        self._settings = settings
        self._jitter = jitter
        self._policy = RetryPolicy(base_s=settings.retry_base_s, cap_s=settings.retry_cap_s)

    # -- one pass -------------------------------------------------------------------------------
    async def run(self, peer: str | None = None, limit: int = 100) -> int:
        """Send what is due (for one peer, or any); returns how many messages finished."""
        if self.transport is None:
            return 0
        finished = 0
        for _ in range(limit):
            claim = self._claim(peer)
            if claim is None:
                break
            if isinstance(claim, _Claim):
                finished += await self._send(claim)
            else:
                finished += 1
        return finished

    def _claim(self, peer: str | None) -> _Claim | bool | None:
        now = self._clock.now()
        now_us = to_us(now)
        with self._uow() as uow:  # most passes find nothing: no write lock for that
            if uow.coredp.outbox.head(now_us, peer) is None:
                return None
        with self._uow(write=True) as uow:
            row = uow.coredp.outbox.head(now_us, peer)
            if row is None:
                return None
            if now_us >= row.deadline_us:
                self._fail(uow, now, row, "the conversation's timeout passed before delivery")
                return True
            if row.attempt >= MAX_ATTEMPTS:
                self._fail(uow, now, row, f"no answer after {MAX_ATTEMPTS} attempts")
                return True
            target = self._target(uow, row.peer_node, now)
            if target is None:
                self._fail(uow, now, row, f"{row.peer_node} is not a peer with an active key here")
                return True
            reusable = row.first_message_id is None and row.last_message_id is not None
            message_id = row.last_message_id if reusable else new_message_id()
            leased = replace(
                row,
                attempt=row.attempt + 1,
                first_message_id=row.first_message_id or message_id,
                last_message_id=message_id,
                next_attempt_us=now_us + int(self._settings.lease_s * US),
                updated_us=now_us,
            )
            uow.coredp.outbox.update(leased)
        return _Claim(leased, row, *target)

    @staticmethod
    def _target(
        uow: CoreDpUnitOfWork, peer: str, now: datetime
    ) -> tuple[PeerAddress, NodeRef] | None:
        row = uow.federation.peers.get(peer)
        key = active_key(uow.federation.peer_keys.for_node(peer), now)
        if row is None or key is None:
            return None
        return PeerAddress.of(row), NodeRef(peer, advertised_endpoint(row.endpoint, peer), key)

    async def _send(self, claim: _Claim) -> int:
        row = claim.row
        body = with_attempt(row.message_type, row.body, row.attempt, row.first_message_id)
        envelope = self._identity.sign(
            message_type=row.message_type,
            receiver=claim.receiver,
            body=body,
            message_id=claim.message_id,
            idempotency_key=row.idempotency_key,
            now=self._clock.now(),
            replay_window_s=self._settings.replay_window_s,
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if row.subject_document is not None:
            headers[SUBJECT_HEADER] = encode_snapshot(row.subject_document)
        assert self.transport is not None
        try:
            reply = await self.transport.post(
                claim.address,
                MESSAGES_PATH,
                orjson.dumps(envelope),
                headers,
                timeout=self._settings.request_timeout_s,
            )
        except TransportError as exc:
            if exc.reason in NOT_SENT:
                return self._unreached(claim, f"{exc.reason}: {exc.message}")
            return self._retry(claim, f"{exc.reason}: {exc.message}")
        if reply.status == 200:
            return self._replied(claim, reply.body)
        if reply.status == 202:
            return self._delivered(claim)
        return self._refused(claim, reply.status, reply.body)

    # -- outcomes -------------------------------------------------------------------------------
    def _unreached(self, claim: _Claim, error: str) -> int:
        """Nothing reached the peer: wait, keep the attempt, note the partition."""
        now = self._clock.now()
        now_us = to_us(now)
        before = claim.before
        unreached = before.unreached + 1
        wait = backoff_s(unreached, self._policy, self._jitter)
        row = replace(
            before,
            unreached=unreached,
            last_message_id=claim.message_id,
            next_attempt_us=now_us + int(wait * US),
            last_error=error[:500],
            updated_us=now_us,
        )
        with self._uow(write=True) as uow:
            conv = self._conversation(uow, row)
            if conv is not None:
                partitioned = replace(
                    conv,
                    partitioned_us=conv.partitioned_us or now_us,
                    partitions=conv.partitions + 1,
                    updated_us=now_us,
                )
                uow.coredp.conversations.update(partitioned)
            if now_us + int(wait * US) >= row.deadline_us:
                self._fail(uow, now, row, f"peer unreachable until the deadline ({error})")
                return 1
            uow.coredp.outbox.update(row)
        return 0

    def _retry(self, claim: _Claim, error: str) -> int:
        """The attempt may have reached the peer: the next one is attempt + 1."""
        now = self._clock.now()
        row = claim.row
        with self._uow(write=True) as uow:
            if row.attempt >= MAX_ATTEMPTS:
                self._fail(uow, now, row, f"no answer after {row.attempt} attempts ({error})")
                return 1
            wait = backoff_s(row.attempt, self._policy, self._jitter)
            retry = replace(
                row,
                next_attempt_us=to_us(now) + int(wait * US),
                last_error=error[:500],
                updated_us=to_us(now),
            )
            uow.coredp.outbox.update(retry)
        return 0

    def _delivered(self, claim: _Claim) -> int:
        now = self._clock.now()
        with self._uow(write=True) as uow:
            conv = self._conversation(uow, claim.row)
            if conv is not None and conv.last_message_type == claim.row.message_type:
                sent = replace(
                    conv,
                    last_message_id=claim.message_id,
                    partitioned_us=None,
                    updated_us=to_us(now),
                )
                uow.coredp.conversations.update(sent)
            self._finish(uow, now, claim.row, "delivered", None)
        return 1

    def _refused(self, claim: _Claim, status: int, raw: bytes) -> int:
        error = _error_of(raw)
        code = str(error.get("code", "error"))
        text = f"{status} {code}: {error.get('message', '')}"
        retryable = error.get("retryable") is True or status >= 500 or status in RETRYABLE_STATUS
        if retryable or code == "duplicate":
            return self._retry(claim, text)
        now = self._clock.now()
        with self._uow(write=True) as uow:
            self._finish(uow, now, claim.row, "failed", text)
            self._note(uow, now, claim.row, text)
            summary = {"code": code, "status": status, "message_type": claim.row.message_type}
            journal = Journal(uow, now, claim.row.peer_node)
            payload = dict(error)
            journal.record(
                "envelope.error_recorded", "envelope", claim.message_id, payload, summary
            )
            journal.flush()
        return 1

    def _replied(self, claim: _Claim, raw: bytes) -> int:
        now = self._clock.now()
        try:
            document: Any = orjson.loads(raw)
            inbound, replay_key = self._verified_reply(claim, document, now)
        except CoreDpRefusal as refusal:
            return self._bad_reply(claim, f"{refusal.code}: {refusal.message}")
        except orjson.JSONDecodeError:
            return self._bad_reply(claim, "the answer is not JSON")
        try:
            with self._uow(write=True) as uow:
                self._apply_reply(uow, now, claim, inbound, replay_key)
                self._finish(uow, now, claim.row, "delivered", _result_note(inbound))
        except CoreDpRefusal as refusal:
            note = f"the peer's {inbound.message_type} was not applied: {refusal.message}"
            with self._uow(write=True) as uow:
                self._finish(uow, now, claim.row, "delivered", note)
                self._note(uow, now, claim.row, note)
                journal = Journal(uow, now, claim.row.peer_node)
                body = refusal.body(inbound.message_id)
                journal.record("envelope.error_recorded", "envelope", inbound.message_id, body)
                journal.flush()
        return 1

    def _verified_reply(self, claim: _Claim, document: Any, now: datetime) -> tuple[Inbound, str]:
        with self._uow() as uow:
            trust = TrustStore.of(uow.federation.peer_keys.for_node(claim.row.peer_node))
        verdict = verify_envelope(
            document,
            trust,
            now,
            receiver_node_id=self._identity.node_id,
            skew_s=self._settings.skew_s,
            max_window_s=self._settings.max_window_s,
        )
        if not verdict.accepted:
            raise CoreDpRefusal(verdict.error_code or "invalid_request", " ".join(verdict.failures))
        inbound = Inbound(document)
        sent = claim.row
        if inbound.sender != sent.peer_node:
            raise CoreDpRefusal("forbidden", "the answer is signed by another node")
        if inbound.message_type not in REPLIES.get(sent.message_type, frozenset()):
            raise CoreDpRefusal("invalid_request", f"{inbound.message_type} does not answer it")
        body = inbound.body
        if is_choreography(inbound.message_type):
            same = body.get("conversation_id") == sent.conversation_id
        else:
            same = body.get("request_id") == sent.body.get("request_id")
        if not same:
            raise CoreDpRefusal("invalid_request", "the answer is about another exchange")
        assert verdict.replay_key is not None
        return inbound, verdict.replay_key

    def _apply_reply(
        self,
        uow: CoreDpUnitOfWork,
        now: datetime,
        claim: _Claim,
        inbound: Inbound,
        replay_key: str,
    ) -> None:
        expires = to_us(now + timedelta(seconds=self._settings.max_window_s))
        fresh = uow.coredp.seen.remember(replay_key, expires)
        if not is_choreography(inbound.message_type):
            return
        if not fresh:
            conv = self._conversation(uow, claim.row)
            if conv is not None and conv.last_message_id == inbound.message_id:
                return  # this answer was applied already
            raise CoreDpRefusal("duplicate", f"answer {inbound.message_id} was seen before")
        outcome = self._steps.accept(uow, now, inbound)
        if outcome.reply is not None:
            conv = outcome.conversation
            queue(
                uow,
                now,
                claim.row.peer_node,
                outcome.reply,
                conversation_id=conv.conversation_id,
                deadline_us=max(conv.timeout_at_us, to_us(now) + self._settings.min_timeout_s * US),
            )

    def _bad_reply(self, claim: _Claim, error: str) -> int:
        now = self._clock.now()
        note = f"the peer's answer was refused: {error}"[:500]
        with self._uow(write=True) as uow:
            self._finish(uow, now, claim.row, "failed", note)
            self._note(uow, now, claim.row, note)
        return 1

    # -- bookkeeping ------------------------------------------------------------------------------
    @staticmethod
    def _conversation(uow: CoreDpUnitOfWork, row: OutboundMessage) -> Conversation | None:
        if row.conversation_id is None:
            return None
        return uow.coredp.conversations.get(row.conversation_id, lock=True)

    def _note(self, uow: CoreDpUnitOfWork, now: datetime, row: OutboundMessage, text: str) -> None:
        conv = self._conversation(uow, row)
        if conv is not None:
            noted = replace(conv, last_error=text[:500], updated_us=to_us(now))
            uow.coredp.conversations.update(noted)

    @staticmethod
    def _finish(
        uow: CoreDpUnitOfWork, now: datetime, row: OutboundMessage, status: str, error: str | None
    ) -> None:
        now_us = to_us(now)
        done = replace(
            row,
            status=status,
            last_error=None if error is None else error[:500],
            updated_us=now_us,
            delivered_us=now_us if status == "delivered" else row.delivered_us,
        )
        uow.coredp.outbox.update(done)

    def _fail(self, uow: CoreDpUnitOfWork, now: datetime, row: OutboundMessage, error: str) -> None:
        self._finish(uow, now, row, "failed", error)
        self._note(uow, now, row, error)

    # -- timeouts -------------------------------------------------------------------------------
    def expire(self, limit: int = 100) -> int:
        """Overdue conversations become timed-out / partitioned; their queued messages fail."""
        now = self._clock.now()
        now_us = to_us(now)
        count = 0
        with self._uow() as uow:
            overdue = uow.coredp.conversations.overdue(now_us, NON_TERMINAL_STATES, limit)
        if not overdue:
            return 0
        with self._uow(write=True) as uow:
            for seen in overdue:
                conv = uow.coredp.conversations.get(seen.conversation_id, lock=True)
                if conv is None or conv.state not in NON_TERMINAL_STATES:
                    continue
                if conv.timeout_at_us > now_us:
                    continue
                observed = self._steps.observe_timeout(uow, now, conv)
                for row in uow.coredp.outbox.of_conversation(conv.conversation_id):
                    if row.status == "pending":
                        self._finish(uow, now, row, "failed", f"conversation {observed.state}")
                count += 1
        return count


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


class CoreDpWorker:
    """The asyncio task the web app runs: expire overdue conversations, deliver, sleep."""

    def __init__(self, delivery: CoreDpDelivery, poll_s: float) -> None:
        self._delivery = delivery
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="loopnode-coredp-delivery")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        while True:
            try:
                self._delivery.expire()
                await self._delivery.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must survive a bad pass (a locked database...)
                log.exception("core-dp delivery pass failed")
            await asyncio.sleep(self._poll_s)
