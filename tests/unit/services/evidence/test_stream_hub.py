"""The event hub: one poller per process fans the evidence log out to every subscriber."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from loopnode.domain.evidence import EvidenceEvent, next_event
from loopnode.services.evidence.stream import EventHub


class FakeLog:
    """An evidence log the test appends to; stands in for the unit of work."""

    def __init__(self) -> None:
        self.events: list[EvidenceEvent] = []
        self.reads = 0

    def add(self, subject: str) -> None:
        previous = self.events[-1] if self.events else None
        self.events.append(
            next_event(
                previous,
                node_id="munich.loop",
                event_type="material.registered",
                subject_type="material",
                subject_id=subject,
                actor="tests",
                payload_hash_sha256="a" * 64,
                recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
            )
        )

    # the unit-of-work protocol, as far as the hub uses it
    def __call__(self, **_: Any) -> FakeLog:
        return self

    def __enter__(self) -> FakeLog:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def evidence(self) -> FakeLog:
        return self

    def page(self, after: int, limit: int) -> list[EvidenceEvent]:
        self.reads += 1
        return [e for e in self.events if e.sequence > after][:limit]

    def head(self) -> tuple[int, str]:
        return (self.events[-1].sequence if self.events else 0), "0" * 64


async def drain(queue: asyncio.Queue[Any], count: int) -> list[Any]:
    return [await asyncio.wait_for(queue.get(), 2) for _ in range(count)]


def test_every_subscriber_gets_every_new_entry_once() -> None:
    async def scenario() -> None:
        log = FakeLog()
        log.add("MAT-OLD")
        hub = EventHub(log, interval=0.01)
        first, second = await hub.subscribe(), await hub.subscribe()
        log.add("MAT-A")
        log.add("MAT-B")
        for subscription in (first, second):
            got = await drain(subscription.queue, 2)
            assert [e.subject_id for e in got] == ["MAT-A", "MAT-B"]
        await hub.close()
        assert await first.queue.get() is None

    asyncio.run(scenario())


def test_the_poller_stops_when_the_last_subscriber_leaves() -> None:
    async def scenario() -> None:
        log = FakeLog()
        hub = EventHub(log, interval=0.01)
        subscription = await hub.subscribe()
        await asyncio.sleep(0.05)
        hub.unsubscribe(subscription)
        await asyncio.sleep(0.05)
        reads = log.reads
        await asyncio.sleep(0.05)
        assert log.reads == reads
        assert hub._poller is not None and hub._poller.done()

    asyncio.run(scenario())


def test_replay_reads_the_log_after_a_sequence() -> None:
    async def scenario() -> None:
        log = FakeLog()
        for index in range(5):
            log.add(f"MAT-{index}")
        hub = EventHub(log)
        replayed = [e.sequence async for e in hub.replay(2)]
        assert replayed == [3, 4, 5]

    asyncio.run(scenario())


def test_a_subscriber_that_cannot_keep_up_is_cut_off() -> None:
    async def scenario() -> None:
        log = FakeLog()
        hub = EventHub(log, interval=0.01, queue_limit=2)
        slow = await hub.subscribe()
        for index in range(5):
            log.add(f"MAT-{index}")
        await asyncio.sleep(0.1)
        assert slow not in hub._subscribers
        assert await slow.queue.get() is None
        await hub.close()

    asyncio.run(scenario())
