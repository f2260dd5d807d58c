"""The one delivery worker's rules, over in-memory stores and a fake clock.

Backoff with equal jitter, dead letters after the attempt limit or at once, the per-peer
circuit breaker (open, half-open probe, closed again), lanes that keep one peer's messages in
order, attempts that reached nobody given back, deadlines, and clean release of leases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from loopnode.domain.times import to_us
from loopnode.services.federation.delivery import FederationChannel
from loopnode.services.messaging.delivery import (
    Delivery,
    DeliverySettings,
    DeliveryWorker,
    Request,
    Verdict,
)
from loopnode.services.messaging.ports import (
    FEDERATION,
    OutboxDraft,
    OutboxRow,
    PeerAddress,
    PeerResponse,
    TransportError,
)
from loopnode.services.messaging.resilience import Outcome, RetryPolicy
from tests.fakes import FakeClock
from tests.fakes.messaging import MemoryMessagingUow

US = 1_000_000
Answer = PeerResponse | TransportError


@dataclass
class ScriptedTransport:
    """Answers per peer: a fixed answer, or a list consumed one per request."""

    answers: dict[str, Answer | list[Answer]] = field(default_factory=dict)
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def send(
        self,
        peer: PeerAddress,
        method: str,
        path: str,
        body: bytes,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> PeerResponse:
        self.sent.append((peer.node_id, path, body))
        answer = self.answers.get(peer.node_id, PeerResponse(202, b"{}"))
        if isinstance(answer, list):  # the last answer repeats
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, TransportError):
            raise answer
        return answer


@dataclass(frozen=True)
class LaneChannel:
    """A test channel: every peer known, refused connections reach nobody (as core-dp)."""

    name: str = "test"
    policy: RetryPolicy | None = None
    timeout_s: float | None = None
    lease_s: float | None = None
    noted: list[str] = field(default_factory=list)

    def prepare(
        self, uow: Any, row: OutboxRow, now: datetime
    ) -> tuple[OutboxRow, Request] | Verdict:
        address = PeerAddress(row.peer_id, f"https://{row.peer_id}.example/api/v1")
        return row, Request(address, row.method, row.path, row.body.encode(), {"X-Test": "1"})

    def settle(self, uow: Any, row: OutboxRow, result: Answer, now: datetime) -> Verdict:
        if isinstance(result, TransportError):
            reached = result.reason != "unreachable"
            return Verdict(Outcome.RETRY, result.reason, peer_failure=True, reached=reached)
        if result.status < 300:
            return Verdict(Outcome.DELIVERED)
        return Verdict(Outcome.RETRY, f"HTTP {result.status}", peer_failure=True)

    def dead(self, uow: Any, row: OutboxRow, error: str, now: datetime) -> None:
        self.noted.append(f"{row.id}: {error}")


POLICY = RetryPolicy(
    base_s=1, cap_s=8, max_attempts=4, breaker_threshold=3, cooldown_s=60, cooldown_cap_s=240
)


class World:
    def __init__(self, jitter: float = 1.0, **policy: Any) -> None:
        self.clock = FakeClock()
        self.uow = MemoryMessagingUow()
        self.transport = ScriptedTransport()
        self.lanes = LaneChannel()
        settings = DeliverySettings(policy=replace(POLICY, **policy), batch=10)
        self.delivery = Delivery(
            self.uow,
            self.clock,
            self.transport,
            lambda: jitter,
            settings,
            [FederationChannel(), self.lanes],
        )
        for peer in ("berlin.loop", "vienna.loop"):
            self.uow.add_peer(peer)

    @property
    def now_us(self) -> int:
        return to_us(self.clock.now())

    def queue(self, peer: str = "berlin.loop", n: int = 1, **draft: Any) -> int:
        fields = {"channel": FEDERATION, **draft}
        row_id = self.uow.messaging.outbox.add(
            OutboxDraft(peer, "announce", "POST", "/federate/announce", f'{{"n": {n}}}', **fields),
            self.now_us,
        )
        assert row_id is not None
        return row_id

    def row(self, row_id: int) -> OutboxRow:
        found = self.uow.messaging.outbox.get(row_id)
        assert found is not None
        return found

    def run(self) -> int:
        return asyncio.run(self.delivery.run_once())

    def breaker(self, peer: str = "berlin.loop") -> str | None:
        found = self.uow.messaging.circuits.get(peer)
        return None if found is None else found.state


# -- backoff ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("jitter", "waits"), [(1.0, [1, 2, 4, 8, 8]), (0.0, [0.5, 1, 2, 4, 4])])
def test_retries_back_off_exponentially_with_equal_jitter_up_to_the_cap(
    jitter: float, waits: list[float]
) -> None:
    world = World(jitter=jitter, max_attempts=10, breaker_threshold=100)
    row_id = world.queue()
    world.transport.answers["berlin.loop"] = PeerResponse(503, b"busy")
    seen = []
    for _ in waits:
        assert world.run() == 1
        row = world.row(row_id)
        seen.append((row.next_attempt_us - world.now_us) / US)
        assert world.run() == 0  # not due before its time
        world.clock.advance(seconds=seen[-1])
    assert seen == waits


def test_a_row_is_dead_after_the_attempt_limit_and_can_be_revived() -> None:
    world = World(breaker_threshold=100)
    row_id = world.queue()
    world.transport.answers["berlin.loop"] = PeerResponse(503, b"busy")
    for _ in range(6):
        world.run()
        world.clock.advance(seconds=10)
    row = world.row(row_id)
    assert (row.status, row.attempts) == ("dead", 4)
    assert row.last_error is not None and row.last_error.startswith("HTTP 503: busy")
    assert "gave up after 4 attempts" in row.last_error
    assert len(world.transport.sent) == 4
    assert world.uow.messaging.outbox.retry_dead(world.now_us, "berlin.loop") == 1
    world.transport.answers["berlin.loop"] = PeerResponse(202, b"{}")
    assert world.run() == 1
    assert world.row(row_id).status == "delivered"


def test_a_client_error_is_dead_at_once_and_a_removed_peer_gets_nothing() -> None:
    world = World()
    refused = world.queue("vienna.loop")
    orphan = world.queue("zurich.loop")
    world.transport.answers["vienna.loop"] = PeerResponse(400, b"bad")
    assert world.run() == 2
    assert (world.row(refused).status, world.row(refused).attempts) == ("dead", 1)
    assert world.row(orphan).status == "dead"
    assert "approved" in (world.row(orphan).last_error or "")
    assert [peer for peer, _, _ in world.transport.sent] == ["vienna.loop"]
    assert world.breaker("vienna.loop") is None  # the request's fault, not the peer's


# -- circuit breaker -------------------------------------------------------------------------------
def test_the_breaker_opens_skips_the_peer_lets_one_probe_through_and_closes() -> None:
    world = World(max_attempts=100)
    for n in range(3):
        world.queue("berlin.loop", n)
    other = world.queue("vienna.loop", 9)
    world.transport.answers["berlin.loop"] = TransportError("timeout", "slow")
    assert world.run() == 4  # three failures reach the threshold
    assert world.breaker() == "open"
    assert world.row(other).status == "delivered"  # other peers are unaffected
    world.clock.advance(seconds=30)
    assert world.run() == 0  # due, but the breaker is open
    world.clock.advance(seconds=31)
    world.transport.answers["berlin.loop"] = PeerResponse(202, b"{}")
    sent = len(world.transport.sent)
    assert world.run() == 1  # half-open: exactly one probe
    assert len(world.transport.sent) == sent + 1
    assert world.breaker() == "closed"
    assert world.run() == 2


def test_a_failed_probe_opens_the_breaker_for_longer() -> None:
    world = World(max_attempts=100)
    for n in range(3):
        world.queue("berlin.loop", n)
    world.transport.answers["berlin.loop"] = TransportError("unreachable", "down")
    world.run()
    first = world.uow.messaging.circuits.get("berlin.loop")
    assert first is not None and first.open_until_us == world.now_us + 60 * US
    world.clock.advance(seconds=61)
    assert world.run() == 1  # the probe fails
    again = world.uow.messaging.circuits.get("berlin.loop")
    assert again is not None and again.state == "open"
    assert again.open_until_us == world.now_us + 120 * US  # the cooldown doubles


# -- lanes, reach, deadlines -------------------------------------------------------------------
def test_a_lane_delivers_one_peers_messages_strictly_in_order() -> None:
    world = World()
    first = world.queue(n=1, channel="test", lane="l")
    second = world.queue(n=2, channel="test", lane="l")
    loose = world.queue("vienna.loop", n=3, channel="test")
    world.transport.answers["berlin.loop"] = [PeerResponse(500, b""), PeerResponse(202, b"")]
    assert world.run() == 2  # the lane's head and the row outside the lane
    assert world.row(second).attempts == 0  # waits behind the head
    world.clock.advance(seconds=1)
    asyncio.run(world.delivery.run())
    assert [world.row(i).status for i in (first, second, loose)] == ["delivered"] * 3
    bodies = [body for _, _, body in world.transport.sent]
    assert bodies.index(b'{"n": 1}') < bodies.index(b'{"n": 2}')
    assert bodies.count(b'{"n": 1}') == 2


def test_an_attempt_that_reached_nobody_is_given_back() -> None:
    world = World(breaker_threshold=100)
    row_id = world.queue(channel="test", lane="l")
    world.transport.answers["berlin.loop"] = TransportError("unreachable", "refused")
    for expected_wait in (1, 2, 4):
        world.run()
        row = world.row(row_id)
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.next_attempt_us - world.now_us == expected_wait * US
        world.clock.advance(seconds=expected_wait)
    assert world.row(row_id).unreached == 3  # never dead for lack of attempts


def test_deadlines_end_retries() -> None:
    world = World(breaker_threshold=100)
    late = world.queue(n=1, channel="test", deadline_us=world.now_us - 1)
    soon = world.queue(n=2, channel="test", deadline_us=world.now_us + 3 * US)
    world.transport.answers["berlin.loop"] = PeerResponse(503, b"")
    world.run()
    assert world.row(late).status == "dead" and world.row(late).attempts == 0
    assert "deadline passed" in (world.row(late).last_error or "")
    assert world.row(soon).status == "pending"
    world.clock.advance(seconds=1)
    world.run()  # the next wait (2 s) would end after the deadline
    assert world.row(soon).status == "dead"
    assert "deadline" in (world.row(soon).last_error or "")
    assert [note.split(":")[0] for note in world.lanes.noted] == [str(late), str(soon)]
    assert [body for _, _, body in world.transport.sent] == [b'{"n": 2}', b'{"n": 2}']


def test_a_claimed_row_is_leased_and_released_on_a_clean_shutdown() -> None:
    world = World()
    row_id = world.queue()
    claims = world.delivery.claim()
    world.delivery.in_flight.update(c.row.id for c in claims)
    assert world.row(row_id).attempts == 1
    assert world.delivery.claim() == []  # leased: invisible to other workers
    world.delivery.release_in_flight()
    assert (world.row(row_id).attempts, world.row(row_id).next_attempt_us) == (0, world.now_us)


def test_rows_of_a_channel_the_worker_does_not_serve_are_left_alone() -> None:
    world = World()
    row_id = world.queue(channel="settlement")
    assert world.run() == 0
    assert world.row(row_id).attempts == 0 and world.transport.sent == []


def test_the_worker_task_runs_jobs_then_delivers_and_stops_cleanly() -> None:
    world = World()
    world.queue()
    ran: list[str] = []

    def job() -> int:
        ran.append("job")
        return 0

    async def scenario() -> None:
        slept = asyncio.Event()

        async def sleep(_seconds: float) -> None:
            slept.set()
            await asyncio.sleep(3600)

        worker = DeliveryWorker(world.delivery, [job], lambda: None, DeliverySettings(), sleep)
        worker.start()
        await asyncio.wait_for(slept.wait(), 5)
        await worker.stop()

    asyncio.run(scenario())
    assert ran and world.transport.sent and world.row(1).status == "delivered"


def test_a_held_row_is_left_to_its_author_then_taken_over() -> None:
    world = World()
    held = world.queue(n=1, hold_us=5 * US)
    assert world.run() == 0  # a background pass leaves it to the author
    assert asyncio.run(world.delivery.run("berlin.loop", FEDERATION, fresh_within_us=5 * US)) == 1
    assert world.row(held).status == "delivered"
    orphan = world.queue(n=2, hold_us=5 * US)  # its author never sent it
    world.clock.advance(seconds=5)
    assert world.run() == 1
    assert world.row(orphan).status == "delivered"


def test_an_author_run_does_not_retry_early() -> None:
    world = World(breaker_threshold=100)
    row_id = world.queue(channel="test", lane="l", hold_us=5 * US)
    world.transport.answers["berlin.loop"] = TransportError("unreachable", "refused")
    run = world.delivery.run("berlin.loop", "test", fresh_within_us=5 * US)
    assert asyncio.run(run) == 0
    assert world.row(row_id).unreached == 1  # one try, not one per second of the hold


def test_enqueue_is_idempotent_per_channel_peer_and_key() -> None:
    from loopnode.services.messaging.outbox import enqueue

    world = World()
    first = enqueue(world.uow, "berlin.loop", "settlement.propose", "/x", "{}", "k1", now_us=1)
    again = enqueue(world.uow, "berlin.loop", "settlement.propose", "/x", "{}", "k1", now_us=2)
    other = enqueue(
        world.uow, "berlin.loop", "settlement.propose", "/x", "{}", "k1", now_us=3, channel="s"
    )
    assert first is not None and again is None and other not in (None, first)
    row = world.row(first)
    assert (row.channel, row.method, row.path, row.dedupe_key) == (FEDERATION, "POST", "/x", "k1")
