"""Group commit: concurrent writes of one worker share one transaction (issue 12).

Theory of operation. A write submits `work(uow) -> (result, drafts)`: what it stores, and the
evidence drafts of its change. Writes that arrive while a batch runs (or, on the event loop,
before the loop gets round to it) queue up and form the next batch. A batch is one write unit
of work. Its writes first run one after the other without savepoints; if one raises, the batch
is rolled back and run again with each `work` in its own SAVEPOINT (an exception rolls back to
it and becomes that write's own answer; its neighbours keep their work): savepoints cost two
statements per write, and most batches have no failure. A write run without savepoints may
leave the insert of a new passport to the batch (`defer_record`): the batch inserts them all
with one statement, and if that fails (an id taken) it runs again carefully, where each write
inserts its own. Then the evidence of every write that succeeded is appended at once — its
returned drafts, and the entries of any `Journal` it flushed (`defer`) — one head lock, one
insert, one head update, the chain order being the order of the writes in the batch, which is
its commit order; then the journals' status-history rows as one insert, and the unit of work
commits once. Only then are the results released; if the batch fails (its evidence append or
its commit), every write of the batch gets that error, none having been stored: even a write
that failed on its own may have failed because of a neighbour's uncommitted change. A lone
write runs without a savepoint and inserts its own passport, as it would without group commit.
A write may therefore run more than once before its batch commits: the `work` functions only
touch the unit of work they are given.

Two ways in, one queue:
- from a thread (PostgreSQL routes run service calls in the threadpool; CLI; workers): the
  first submitter that finds no batch running leads, running batches until the queue is empty;
  the others block until their batch committed;
- from the event loop, inside a call started by `loop_bridge.run` (SQLite routes run service
  calls inline): the write queues, the first one schedules the batch with `call_soon`, and the
  call is suspended (the loop serves other requests, whose writes join the queue) until the
  batch — run inline on the loop, one transaction — committed. A plain call on the loop that
  is not bridged cannot wait, so it runs alone at once.

A batch holds the row locks of all its writes until it commits, so on PostgreSQL two workers'
batches can deadlock where two single changes would not (each holds a row the other's next
write wants). The database aborts one statement; its savepoint rolls back (releasing that
write's locks, so the other batch goes on), and a write that failed so (`retryable`, from the
storage adapter: deadlock or serialization failure) runs again alone after its batch, at most
`ATTEMPTS` times in all, before its error is the answer.

Invariants stay where they were: unique constraints, row locks and the checks inside `work` run
in the batch's transaction, and a conflict between two writes of one batch is seen by the
second one's savepoint as it would be by a second transaction. The evidence head, a node-wide
lock, is taken once per batch and last, after every row lock, as `Journal` does for a single
change. Workers (processes) do not batch together; they serialise on the evidence head, once
per batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from loopnode.domain.evidence import EvidenceEvent
from loopnode.services import loop_bridge
from loopnode.services.ports import (
    Clock,
    EvidenceDraft,
    RecordRow,
    StatusChange,
    UnitOfWork,
    UnitOfWorkFactory,
)

__all__ = ["Deferred", "GroupCommit", "Work", "defer", "defer_record"]

Work = Callable[[UnitOfWork], tuple[Any, Sequence[EvidenceDraft]]]
ATTEMPTS = 3


class Deferred(Protocol):
    """Evidence a write hands to its batch instead of appending it (a `Journal`)."""

    def deferred_drafts(self) -> Sequence[EvidenceDraft]: ...

    def recorded(self, appended: Sequence[EvidenceEvent]) -> Sequence[StatusChange]:
        """Called with the appended entries of `deferred_drafts`, in the batch's unit of work;
        answers the status-history rows to write (the batch writes everyone's at once)."""


@dataclass
class _Job:
    work: Work
    done: threading.Event | None = None  # a thread's submission waits on it
    future: asyncio.Future[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    result: Any = None
    error: BaseException | None = None
    drafts: Sequence[EvidenceDraft] = ()
    uow: Any = None
    deferred: list[Deferred] = field(default_factory=list)
    records: list[RecordRow] = field(default_factory=list)  # passports the batch inserts
    may_defer: bool = False
    attempts: int = 1

    def reset(self) -> None:
        self.error, self.result, self.drafts = None, None, ()
        self.deferred.clear()
        self.records.clear()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    def release(self, on_loop: asyncio.AbstractEventLoop | None) -> None:
        if self.done is not None:
            self.done.set()
        elif self.future is None:
            return  # ran by its own caller, inline
        elif self.loop is on_loop:
            _resolve(self.future)
        else:
            assert self.loop is not None
            self.loop.call_soon_threadsafe(_resolve, self.future)


class _Failed(Exception):
    """A write of a batch run without savepoints failed: roll the batch back (control flow)."""


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled request does not wait for its answer
        future.set_result(None)


_RUNNING: ContextVar[_Job | None] = ContextVar("group_commit_job", default=None)


def defer_record(uow: UnitOfWork, row: RecordRow) -> bool:
    """Inside a batched write on `uow` that may defer: leave the insert of the passport `row`
    to the batch, which stores all of its passports with one statement (True). A batch run
    carefully (each write in its savepoint), or a lone write, inserts at once (False)."""
    job = _RUNNING.get()
    if job is None or job.uow is not uow or not job.may_defer:
        return False
    job.records.append(row)
    return True


def defer(uow: UnitOfWork, deferred: Deferred) -> bool:
    """Inside a batched write on `uow`: leave `deferred`'s evidence to the batch (True)."""
    job = _RUNNING.get()
    if job is None or job.uow is not uow:
        return False
    if not any(d is deferred for d in job.deferred):  # flushed twice: its entries once
        job.deferred.append(deferred)
    return True


class GroupCommit:
    """Runs writes in shared transactions; `sizes` counts the batches by size (for metrics)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        max_batch: int = 64,
        retryable: Callable[[BaseException], bool] = lambda _: False,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._max = max_batch
        self._retryable = retryable
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._leading = False
        self.sizes: dict[int, int] = {}

    def run(self, work: Work) -> Any:
        """Run `work` in a batch; its result, or its own exception, once the batch committed."""
        job = _Job(work)
        if loop_bridge.bridged():
            loop_bridge.wait(self._queued(job))
            return job.outcome()
        if _loop_running():  # cannot block this thread: the loop would never run the batch
            self._count(1)
            self._run([job], None)
            return job.outcome()
        job.done = threading.Event()
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead(None)
        job.done.wait()
        return job.outcome()

    async def _queued(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        job.loop, job.future = loop, loop.create_future()
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if lead:  # after the requests the loop is serving now have queued their writes
            loop.call_soon(self._lead, loop)
        await job.future

    def _lead(self, loop: asyncio.AbstractEventLoop | None) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                if not batch:
                    self._leading = False
                    return
            self._count(len(batch))
            self._run(batch, loop)

    def _count(self, size: int) -> None:
        self.sizes[size] = self.sizes.get(size, 0) + 1

    def batches(self) -> int:
        """Batches run so far by this worker (a metric)."""
        return sum(self.sizes.values())

    def batched(self) -> int:
        """Writes run so far by this worker: ÷ `batches()` is the mean batch size."""
        return sum(size * count for size, count in self.sizes.items())

    def _run(self, batch: list[_Job], loop: asyncio.AbstractEventLoop | None) -> None:
        try:
            again = self._once(batch, loop, careful=False)
        except _Failed:  # a write failed: the batch again, each write in its own savepoint
            for job in batch:
                job.reset()
            again = self._once(batch, loop, careful=True)
        for job in again:  # deadlock victims, each again on its own
            self._count(1)
            self._run([job], loop)

    def _once(
        self, batch: list[_Job], loop: asyncio.AbstractEventLoop | None, *, careful: bool
    ) -> list[_Job]:
        """Runs `batch` as one unit of work; releases its writes but those to run again.

        Not `careful`, the writes run without savepoints (two statements each saved) and the
        first failure rolls the batch back (`_Failed`) to be run again carefully."""
        now = self._clock.now()
        lone = len(batch) == 1
        try:
            with self._uow(write=True) as uow:
                for job in batch:
                    self._attempt(
                        uow, job, nested=careful and not lone, defer=not (careful or lone)
                    )
                    if job.error is not None and not careful and not lone:
                        raise _Failed
                stored = [job for job in batch if job.error is None]
                records = [row for job in stored for row in job.records]
                if records:
                    try:
                        uow.records.insert_many(records)
                    except Exception as failure:
                        # Whose id was taken is known only when each write inserts its own.
                        raise _Failed from failure
                drafts = [d for job in stored for d in job.drafts]
                later = [(d, list(d.deferred_drafts())) for job in stored for d in job.deferred]
                start = len(drafts)
                for _, own in later:
                    drafts.extend(own)
                if drafts:
                    events = uow.evidence.append_many(drafts, now)
                    changes: list[StatusChange] = []
                    for deferred, own in later:
                        changes.extend(deferred.recorded(events[start : start + len(own)]))
                        start += len(own)
                    if changes:
                        uow.history.append_many(changes)
                if lone and batch[0].error is not None:
                    raise batch[0].error  # roll back the lone write's unit of work
        except _Failed:
            raise
        except BaseException as failure:
            lone_failed = len(batch) == 1 and batch[0].error is failure
            if not lone_failed:
                for job in batch:
                    job.error = failure
        again = [job for job in batch if self._again(job)]
        for job in batch:
            if not any(job is retried for retried in again):
                job.release(loop)
        return again

    def _again(self, job: _Job) -> bool:
        if job.error is None or job.attempts >= ATTEMPTS or not self._retryable(job.error):
            return False
        job.attempts += 1
        job.reset()
        return True

    @staticmethod
    def _attempt(uow: UnitOfWork, job: _Job, *, nested: bool, defer: bool) -> None:
        job.uow, job.may_defer = uow, defer
        token = _RUNNING.set(job)
        try:
            if nested:
                with uow.savepoint():
                    job.result, job.drafts = job.work(uow)
            else:
                job.result, job.drafts = job.work(uow)
        except Exception as exc:
            job.error = exc
            job.deferred.clear()
            job.records.clear()
        finally:
            _RUNNING.reset(token)
            job.uow = None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
