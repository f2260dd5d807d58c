"""Live evidence for server-sent events: one database poller per process, many subscribers.

Why poll the evidence table rather than publish from the writer: a node runs several worker
processes, and a change committed by one must reach the subscribers of all. The evidence log is
already the ordered, durable stream of every change (one per-node sequence, appended in the
change's own transaction), so each process reads it with a cheap keyset query on `sequence` and
fans the new entries out to its own subscribers. Nothing is lost between processes or across a
reconnect: a subscriber that resumes from `Last-Event-ID` replays the log from that sequence
before it takes live entries, and drops what it already sent.

The poller runs only while the process has subscribers, and stops when the last one leaves.
A subscriber that cannot keep up is cut off (its queue is bounded); it reconnects and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from loopnode.domain.evidence import EvidenceEvent
from loopnode.services.ports import UnitOfWorkFactory

__all__ = ["EventHub", "Subscription"]

log = logging.getLogger("loopnode.stream")

PAGE = 500
QUEUE_LIMIT = 10_000


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue; `None` in it means "the stream is over"."""

    queue: asyncio.Queue[EvidenceEvent | None]
    head: int = 0  # the log's last sequence when it subscribed: a fresh stream starts after it

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class EventHub:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        interval: float = 0.2,
        heartbeat: float = 15.0,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._uow = uow
        self.interval = interval
        self.heartbeat = heartbeat
        self.queue_limit = queue_limit
        self._subscribers: set[Subscription] = set()
        self._poller: asyncio.Task[None] | None = None
        self.closing = False

    # -- reading the log ----------------------------------------------------------------------
    def page(self, after: int, limit: int = PAGE) -> list[EvidenceEvent]:
        with self._uow() as uow:
            return uow.evidence.page(after, limit)

    def head(self) -> int:
        with self._uow() as uow:
            return uow.evidence.head()[0]

    async def replay(self, after: int) -> AsyncIterator[EvidenceEvent]:
        """Every entry after `after`, from the database, until the log is exhausted."""
        while True:
            events = await asyncio.to_thread(self.page, after)
            for event in events:
                yield event
                after = event.sequence
            if len(events) < PAGE:
                return

    # -- live entries -------------------------------------------------------------------------
    async def subscribe(self) -> Subscription:
        subscription = Subscription(asyncio.Queue(self.queue_limit))
        self._subscribers.add(subscription)
        try:
            # Read before the answer starts: a change committed once the client holds the
            # headers then comes after it and is sent (read later, such a change could be
            # taken for one the client had already seen).
            subscription.head = await asyncio.to_thread(self.head)
        except BaseException:
            self._subscribers.discard(subscription)
            raise
        if self.closing:
            subscription.close()
        elif self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(
                self._poll(subscription.head), name="loopnode-events"
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def shutdown(self) -> None:
        """End every stream (server shutdown); safe to call more than once."""
        self.closing = True
        for subscription in list(self._subscribers):
            subscription.close()

    async def close(self) -> None:
        self.shutdown()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll(self, after: int) -> None:
        while self._subscribers and not self.closing:
            try:
                events = await asyncio.to_thread(self.page, after)
            except Exception:  # the database is briefly unreachable: keep the streams open
                log.exception("polling the evidence log failed; retrying")
                await asyncio.sleep(self.interval * 10)
                continue
            for event in events:
                self._fan_out(event)
                after = event.sequence
            if len(events) < PAGE:
                await asyncio.sleep(self.interval)

    def _fan_out(self, event: EvidenceEvent) -> None:
        for subscription in list(self._subscribers):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # Too slow: drop it rather than grow without bound; it resumes from the log.
                self._subscribers.discard(subscription)
                subscription.queue = asyncio.Queue(1)
                subscription.close()
