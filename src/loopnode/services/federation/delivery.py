"""The delivery worker: sends outbox rows, retries with backoff, dead-letters, breaks circuits.

One pass (`Delivery.run_once`): claim due rows in a write transaction (PostgreSQL skips rows
other workers hold with `FOR UPDATE SKIP LOCKED`; SQLite's single writer makes the claim
exclusive), lease them (count the attempt and hide them until the lease ends), commit, send
them concurrently (each signed at send time with the current key), and record every outcome
in a second transaction: delivered; retried at `now + backoff` (see `resilience`); or dead
after `max_attempts` or at once for a 4xx that resending cannot fix. A peer whose breaker is
open is skipped; a half-open breaker lets one probe through.

A crash mid-send leaves the rows leased: they become due again when the lease ends, so nothing
is lost (a peer may then see a request twice; receivers deduplicate by announcement id, by
replay-cache and by bid body). A clean shutdown releases its leases at once.

`DeliveryWorker` is the asyncio task the web app starts in its lifespan: relay local
materials into the outbox, deliver, and now and then prune the replay cache and old receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from loopnode.domain.times import to_us
from loopnode.services.federation.ports import (
    CircuitRow,
    CircuitStore,
    FederationUowFactory,
    OutboxRow,
    PeerAddress,
    PeerRow,
    PeerTransport,
    TransportError,
)
from loopnode.services.federation.resilience import (
    Outcome,
    RetryPolicy,
    backoff_s,
    breaker_allows,
    breaker_failure,
    breaker_success,
    classify,
)
from loopnode.services.ports import Clock

log = logging.getLogger("loopnode.federation")
US = 1_000_000


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 10.0
    batch: int = 50
    poll_s: float = 0.5
    housekeeping_s: float = 60.0

    @property
    def lease_us(self) -> int:
        return int((self.timeout_s * 2 + 5) * US)


@dataclass(frozen=True, slots=True)
class Attempt:
    row: OutboxRow
    outcome: Outcome
    error: str | None
    peer_failure: bool


class Delivery:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        transport: PeerTransport,
        jitter: Callable[[], float],
        settings: DeliverySettings,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._transport = transport
        self._jitter = jitter
        self._settings = settings
        self.in_flight: set[int] = set()

    async def run_once(self) -> int:
        """One pass; returns the number of rows attempted."""
        rows, peers = await asyncio.to_thread(self.claim)
        if not rows:
            return 0
        self.in_flight.update(r.id for r in rows)
        try:
            attempts = await asyncio.gather(*(self.send(r, peers.get(r.peer_id)) for r in rows))
            await asyncio.to_thread(self.record, list(attempts))
        finally:
            self.in_flight.difference_update(r.id for r in rows)
        return len(rows)

    def claim(self) -> tuple[list[OutboxRow], dict[str, PeerRow]]:
        now_us = to_us(self._clock.now())
        with self._uow() as uow:  # cheap read first: most passes find nothing to do
            if not uow.federation.outbox.due(now_us, 1):
                return [], {}
        with self._uow(write=True) as uow:
            store = uow.federation
            due = store.outbox.due(now_us, self._settings.batch * 4)
            chosen = self._admit(store.circuits, due, now_us)
            store.outbox.lease([r.id for r in chosen], now_us + self._settings.lease_us, now_us)
            peers = {p.node_id: p for p in store.peers.all()}
        return [replace(r, attempts=r.attempts + 1) for r in chosen], peers

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
                probe_until = now_us + self._settings.lease_us
                store.put(replace(state, state="half_open", open_until_us=probe_until))
            chosen.append(row)
            if len(chosen) >= self._settings.batch:
                break
        return chosen

    async def send(self, row: OutboxRow, peer: PeerRow | None) -> Attempt:
        if peer is None or not peer.approved:
            return Attempt(row, Outcome.DEAD, "not an approved peer of this node", False)
        try:
            answer = await self._transport.send(
                PeerAddress.of(peer),
                row.method,
                row.path,
                row.body.encode(),
                timeout=self._settings.timeout_s,
            )
        except TransportError as exc:
            return Attempt(row, Outcome.RETRY, f"{exc.reason}: {exc.message}"[:500], True)
        outcome = classify(answer.status)
        if outcome is Outcome.DELIVERED:
            return Attempt(row, outcome, None, False)
        detail = answer.body[:300].decode("utf-8", "replace")
        failure = answer.status >= 500 or answer.status == 429
        return Attempt(row, outcome, f"HTTP {answer.status}: {detail}", failure)

    def record(self, attempts: list[Attempt]) -> None:
        now_us = to_us(self._clock.now())
        policy = self._settings.policy
        with self._uow(write=True) as uow:
            store = uow.federation
            for attempt in attempts:
                row, outcome = attempt.row, attempt.outcome
                if outcome is Outcome.RETRY and row.attempts >= policy.max_attempts:
                    outcome = Outcome.DEAD
                delay = backoff_s(row.attempts, policy, self._jitter)
                next_us = now_us + int(delay * US) if outcome is Outcome.RETRY else now_us
                status = "pending" if outcome is Outcome.RETRY else outcome.value
                store.outbox.finish(
                    row.id,
                    status=status,
                    next_attempt_us=next_us,
                    error=attempt.error,
                    now_us=now_us,
                )
                breaker = store.circuits.get(row.peer_id)
                if attempt.peer_failure:
                    store.circuits.put(breaker_failure(breaker, row.peer_id, now_us, policy))
                elif outcome is Outcome.DELIVERED and breaker is not None and breaker.failures:
                    store.circuits.put(breaker_success(row.peer_id, now_us))
                if outcome is Outcome.DEAD:
                    log.warning(
                        "outbox row %s to %s is dead: %s", row.id, row.peer_id, attempt.error
                    )

    def release_in_flight(self) -> None:
        if not self.in_flight:
            return
        ids, self.in_flight = sorted(self.in_flight), set()
        with self._uow(write=True) as uow:
            uow.federation.outbox.release(ids, to_us(self._clock.now()))


class DeliveryWorker:
    """The background task: relay, deliver, housekeeping; stopped cleanly by `stop`."""

    def __init__(
        self,
        delivery: Delivery,
        relay: Callable[[], int],
        housekeeping: Callable[[], object],
        settings: DeliverySettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._delivery = delivery
        self._relay = relay
        self._housekeeping = housekeeping
        self._settings = settings
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="fed-delivery")

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
                busy = bool(await asyncio.to_thread(self._relay))
                busy = bool(await self._delivery.run_once()) or busy
                if loop.time() - last_housekeeping >= self._settings.housekeeping_s:
                    last_housekeeping = loop.time()
                    await asyncio.to_thread(self._housekeeping)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("federation delivery pass failed")
            if not busy:
                await self._sleep(self._settings.poll_s)
