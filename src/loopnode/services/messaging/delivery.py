"""The one delivery worker: sends outbox rows of every channel, retries, dead-letters, breaks.

One pass (`Delivery.run_once`):

1. **Claim** due rows in a write transaction (PostgreSQL skips rows other workers hold with
   `FOR UPDATE SKIP LOCKED`; SQLite's single writer makes the claim exclusive). Only the head
   of each (peer, lane) is due, so a lane's messages go strictly in order. A row past its
   deadline, or out of attempts, is dead at once. A peer whose breaker is open is skipped; a
   half-open breaker lets one probe through. Each chosen row is **leased**: its attempt is
   counted and it is hidden until the lease ends; its channel `prepare`s the request (and
   may stamp per-attempt message ids on the row) or declares it dead (no such peer...).
2. **Send** the claimed rows concurrently through the one transport, outside any transaction.
3. **Record** each outcome in its own write transaction, where the channel first `settle`s it
   (applies a reply, notes a partition, ...). Delivered; retried at `now + backoff` (see
   `resilience`: exponential with equal jitter); or dead after the channel's `max_attempts`,
   past the row's deadline, or at once when the channel says resending cannot help. An
   attempt that reached nobody (`Verdict.reached` false) is given back: the row returns to
   its state before the claim with one more `unreached`, and backs off on that count.

A crash mid-send leaves rows leased: they become due again when the lease ends, so nothing is
lost (a peer may then see a request twice; receivers deduplicate). A clean shutdown releases
its leases at once (`release_in_flight`).

`DeliveryWorker` is the asyncio task the web app starts in its lifespan: run the channels'
periodic jobs (the federation relay, core-dp timeouts), deliver, and now and then housekeep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from loopnode.domain.times import to_us
from loopnode.services.messaging.ports import (
    DEAD,
    CircuitRow,
    CircuitStore,
    OutboxRow,
    PeerAddress,
    PeerResponse,
    Transport,
    TransportError,
)
from loopnode.services.messaging.resilience import (
    Outcome,
    RetryPolicy,
    backoff_s,
    breaker_allows,
    breaker_failure,
    breaker_success,
)
from loopnode.services.ports import Clock

__all__ = [
    "Channel",
    "Delivery",
    "DeliverySettings",
    "DeliveryWorker",
    "Request",
    "Verdict",
]

log = logging.getLogger("loopnode.messaging")
US = 1_000_000
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """Defaults for every channel (a channel may bring its own policy and timeout)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 10.0
    batch: int = 50
    poll_s: float = 0.5
    housekeeping_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Request:
    """What a channel sends for one attempt."""

    peer: PeerAddress
    method: str
    path: str
    body: bytes
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A channel's judgement of one attempt (or of a row that cannot be sent)."""

    outcome: Outcome
    error: str | None = None
    peer_failure: bool = False  # counts against the peer's circuit breaker
    reached: bool = True  # False: nothing reached the peer, the attempt is given back


class Channel(Protocol):
    """How one kind of traffic is prepared and settled; the worker does the rest.

    `prepare` and `settle` run inside the worker's write transactions (`uow`), so what they
    change commits with the row's new state. `dead` runs in the transaction that makes a row
    a dead letter, whoever decided it.
    """

    @property
    def name(self) -> str: ...

    @property
    def policy(self) -> RetryPolicy | None: ...

    @property
    def timeout_s(self) -> float | None: ...

    @property
    def lease_s(self) -> float | None:
        """How long a claimed row stays hidden (None: `2 × timeout + 5 s`)."""

    def prepare(
        self, uow: Any, row: OutboxRow, now: datetime
    ) -> tuple[OutboxRow, Request] | Verdict:
        """The request for this attempt and the row as leased (message ids stamped), or a
        verdict (dead) for a row that cannot be sent."""

    def settle(
        self, uow: Any, row: OutboxRow, result: PeerResponse | TransportError, now: datetime
    ) -> Verdict: ...

    def dead(self, uow: Any, row: OutboxRow, error: str, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class _Claim:
    row: OutboxRow  # as leased for this attempt
    before: OutboxRow  # as it was before the claim
    request: Request | None
    verdict: Verdict | None = None  # decided at claim time: nothing is sent


class Delivery:
    def __init__(
        self,
        uow: Callable[..., Any],
        clock: Clock,
        transport: Transport | None,
        jitter: Callable[[], float],
        settings: DeliverySettings,
        channels: Iterable[Channel],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.transport = transport
        self._jitter = jitter
        self._settings = settings
        self._channels = {c.name: c for c in channels}
        self.in_flight: set[int] = set()

    # -- one pass -------------------------------------------------------------------------------
    async def run_once(self, peer_id: str | None = None, channel: str | None = None) -> int:
        """One pass; returns the number of rows claimed (sent, or dead at claim)."""
        claims = await asyncio.to_thread(self.claim, peer_id, channel)
        return len(await self._deliver(claims))

    async def run(
        self, peer_id: str | None = None, channel: str | None = None, *, fresh_within_us: int = 0
    ) -> int:
        """Passes until nothing is due (for one peer, one channel, or any); returns how many
        rows finished (delivered or dead). An author delivering what it just queued with a
        hold passes the hold as `fresh_within_us`."""
        finished = 0
        for _ in range(100):
            claim = partial(self.claim, peer_id, channel, fresh_within_us)
            claims = await asyncio.to_thread(claim)
            if not claims:
                break
            finished += sum(1 for row in await self._deliver(claims) if row.status != "pending")
        return finished

    async def _deliver(self, claims: list[_Claim]) -> list[OutboxRow]:
        if not claims:
            return []
        self.in_flight.update(c.row.id for c in claims)
        try:
            results = await asyncio.gather(*(self._send(c) for c in claims))
            return await asyncio.to_thread(self.record, list(zip(claims, results, strict=True)))
        finally:
            self.in_flight.difference_update(c.row.id for c in claims)

    def claim(
        self, peer_id: str | None = None, channel: str | None = None, fresh_within_us: int = 0
    ) -> list[_Claim]:
        if self.transport is None:
            return []
        now = self._clock.now()
        now_us = to_us(now)
        scope: dict[str, Any] = {
            "peer_id": peer_id,
            "channel": channel,
            "fresh_within_us": fresh_within_us,
        }
        with self._uow() as uow:  # cheap read first: most passes find nothing to do
            if not self._known(uow.messaging.outbox.due(now_us, 1, **scope)):
                return []
        claims: list[_Claim] = []
        with self._uow(write=True) as uow:
            store = uow.messaging
            due = self._known(store.outbox.due(now_us, self._settings.batch * 4, **scope))
            for row in self._admit(store.circuits, due, now_us):
                claims.append(self._lease(uow, row, now))
        return claims

    def _known(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        return [r for r in rows if r.channel in self._channels]

    def _admit(self, store: CircuitStore, due: list[OutboxRow], now_us: int) -> list[OutboxRow]:
        """The rows whose peers' breakers let them through (one probe per half-open peer)."""
        states: dict[str, CircuitRow | None] = {}
        probed: set[str] = set()
        chosen: list[OutboxRow] = []
        for row in due:
            if row.peer_id not in states:
                states[row.peer_id] = store.get(row.peer_id)
            state = states[row.peer_id]
            if not breaker_allows(state, now_us) or row.peer_id in probed:
                continue
            if state is not None and state.state != "closed":
                probed.add(row.peer_id)
                probe_until = now_us + self._lease_us(row)
                store.put(replace(state, state="half_open", open_until_us=probe_until))
            chosen.append(row)
            if len(chosen) >= self._settings.batch:
                break
        return chosen

    def _lease(self, uow: Any, row: OutboxRow, now: datetime) -> _Claim:
        now_us = to_us(now)
        channel = self._channels[row.channel]
        leased = replace(
            row,
            attempts=row.attempts + 1,
            next_attempt_us=now_us + self._lease_us(row),
            updated_us=now_us,
        )
        refusal = self._hopeless(row, now_us)
        if refusal is not None:
            return _Claim(row, row, None, Verdict(Outcome.DEAD, refusal))
        prepared = channel.prepare(uow, leased, now)
        if isinstance(prepared, Verdict):
            return _Claim(leased, row, None, prepared)
        leased, request = prepared
        uow.messaging.outbox.update(leased)
        return _Claim(leased, row, request)

    def _hopeless(self, row: OutboxRow, now_us: int) -> str | None:
        if row.deadline_us is not None and now_us >= row.deadline_us:
            return "the deadline passed before delivery"
        limit = self._policy(row).max_attempts
        if row.attempts >= limit:
            return f"no answer after {limit} attempts"
        return None

    async def _send(self, claim: _Claim) -> PeerResponse | TransportError | None:
        request = claim.request
        if request is None or self.transport is None:
            return None
        timeout = self._timeout(claim.row)
        try:
            if request.headers is None:
                return await self.transport.send(
                    request.peer, request.method, request.path, request.body, timeout=timeout
                )
            return await self.transport.send(
                request.peer,
                request.method,
                request.path,
                request.body,
                timeout=timeout,
                headers=request.headers,
            )
        except TransportError as exc:
            return exc

    # -- outcomes -------------------------------------------------------------------------------
    def record(
        self, outcomes: list[tuple[_Claim, PeerResponse | TransportError | None]]
    ) -> list[OutboxRow]:
        """Record each attempt's outcome in its own transaction; returns the rows as stored."""
        stored = []
        for claim, result in outcomes:
            with self._uow(write=True) as uow:
                stored.append(self._record_one(uow, claim, result))
        return stored

    def _record_one(
        self, uow: Any, claim: _Claim, result: PeerResponse | TransportError | None
    ) -> OutboxRow:
        now = self._clock.now()
        now_us = to_us(now)
        channel = self._channels[claim.row.channel]
        if claim.verdict is not None or result is None:
            verdict = claim.verdict or Verdict(Outcome.DEAD, "nothing was sent")
        else:
            verdict = channel.settle(uow, claim.row, result, now)
        row, error = claim.row, verdict.error
        policy = self._policy(row)
        status, next_us = verdict.outcome.value, now_us
        if verdict.outcome is Outcome.RETRY:
            status = "pending"
            if not verdict.reached:
                row = replace(
                    claim.before,
                    unreached=claim.before.unreached + 1,
                    last_message_id=claim.row.last_message_id,
                )
                next_us = now_us + int(backoff_s(row.unreached, policy, self._jitter) * US)
            elif row.attempts >= policy.max_attempts:
                status = DEAD
                error = f"{error} (gave up after {row.attempts} attempts)"
            else:
                next_us = now_us + int(backoff_s(row.attempts, policy, self._jitter) * US)
            if status == "pending" and row.deadline_us is not None and next_us >= row.deadline_us:
                status = DEAD
                error = f"{error} (not delivered before the deadline)"
        if status == "retry":
            status = "pending"
        done = replace(
            row,
            status=status,
            next_attempt_us=next_us,
            last_error=None if error is None else error[:MAX_ERROR],
            updated_us=now_us,
            delivered_us=now_us if status == "delivered" else row.delivered_us,
        )
        uow.messaging.outbox.update(done)
        self._breaker(uow.messaging.circuits, done, verdict, policy, now_us)
        if status == DEAD:
            channel.dead(uow, done, done.last_error or "dead", now)
            log.warning("outbox row %s to %s is dead: %s", row.id, row.peer_id, done.last_error)
        return done

    @staticmethod
    def _breaker(
        store: CircuitStore, row: OutboxRow, verdict: Verdict, policy: RetryPolicy, now_us: int
    ) -> None:
        if verdict.peer_failure:
            store.put(breaker_failure(store.get(row.peer_id), row.peer_id, now_us, policy))
        elif verdict.outcome is Outcome.DELIVERED:
            breaker = store.get(row.peer_id)
            if breaker is not None and breaker.failures:
                store.put(breaker_success(row.peer_id, now_us))

    def release_in_flight(self) -> None:
        if not self.in_flight:
            return
        ids, self.in_flight = sorted(self.in_flight), set()
        with self._uow(write=True) as uow:
            uow.messaging.outbox.release(ids, to_us(self._clock.now()))

    # -- per channel ------------------------------------------------------------------------------
    def _policy(self, row: OutboxRow) -> RetryPolicy:
        return self._channels[row.channel].policy or self._settings.policy

    def _timeout(self, row: OutboxRow) -> float:
        return self._channels[row.channel].timeout_s or self._settings.timeout_s

    def _lease_us(self, row: OutboxRow) -> int:
        lease_s = self._channels[row.channel].lease_s
        return int((lease_s or self._timeout(row) * 2 + 5) * US)


class DeliveryWorker:
    """The background task: periodic jobs, deliver, housekeeping; stopped cleanly by `stop`.

    `jobs` run before every pass (the federation relay queues announcements, core-dp turns
    overdue conversations into observations); each returns how much it did (busy or not).
    """

    def __init__(
        self,
        delivery: Delivery,
        jobs: Iterable[Callable[[], int]],
        housekeeping: Callable[[], object],
        settings: DeliverySettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._delivery = delivery
        self._jobs = list(jobs)
        self._housekeeping = housekeeping
        self._settings = settings
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self.run(), name="loopnode-delivery")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._delivery.release_in_flight)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_housekeeping = loop.time()
        while True:
            busy = False
            try:
                for job in self._jobs:
                    busy = bool(await asyncio.to_thread(job)) or busy
                busy = bool(await self._delivery.run_once()) or busy
                if loop.time() - last_housekeeping >= self._settings.housekeeping_s:
                    last_housekeeping = loop.time()
                    await asyncio.to_thread(self._housekeeping)
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must survive a bad pass (a locked database...)
                log.exception("delivery pass failed")
            if not busy:
                await self._sleep(self._settings.poll_s)
