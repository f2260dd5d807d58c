"""Group commit: concurrent writes of one worker share one transaction (issue 12, item 1).

Theory of operation. A write submits `work(uow) -> (result, drafts)`: what it stores, and the
evidence drafts of its change. The first submitter that finds no batch running becomes the
leader; writes submitted while its batch runs queue up and form the next batch, which the
leader runs too until the queue is empty. A batch is one write unit of work: each `work` runs
in its own SAVEPOINT when the batch holds more than one (an exception rolls back to it and
becomes that write's own answer; its neighbours keep their work), then the drafts of every
write that succeeded are appended as one `append_many` — one head lock, one insert, one head
update, the chain order being the commit order — and the unit of work commits once. Only then
are the results released; if the commit itself fails, every write of the batch gets that
error, since none of them was stored. A lone write runs without a savepoint, exactly as it
would without group commit.

Invariants stay where they were: unique constraints, the head lock and the checks inside
`work` run in the batch's transaction, and a conflict between two writes of one batch is seen
by the second one's savepoint as it would be by a second transaction. Workers (processes) do
not batch together; they still serialise on the evidence head, once per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopnode.services.ports import Clock, EvidenceDraft, UnitOfWork, UnitOfWorkFactory

__all__ = ["GroupCommit", "Work"]

Work = Callable[[UnitOfWork], tuple[Any, Sequence[EvidenceDraft]]]


@dataclass
class _Job:
    work: Work
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    drafts: Sequence[EvidenceDraft] = ()


class GroupCommit:
    """Runs writes in shared transactions; `sizes` counts the batches by size (for metrics)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, max_batch: int = 64) -> None:
        self._uow = uow
        self._clock = clock
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._leading = False
        self.sizes: dict[int, int] = {}

    def run(self, work: Work) -> Any:
        """Run `work` in a batch; its result, or its own exception, once the batch committed."""
        job = _Job(work)
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                if not batch:
                    self._leading = False
                    return
            self.sizes[len(batch)] = self.sizes.get(len(batch), 0) + 1
            self._run(batch, self._clock.now())

    def _run(self, batch: list[_Job], now: datetime) -> None:
        try:
            with self._uow(write=True) as uow:
                if len(batch) == 1:
                    self._attempt(uow, batch[0], nested=False)
                else:
                    for job in batch:
                        self._attempt(uow, job, nested=True)
                drafts = [d for job in batch if job.error is None for d in job.drafts]
                if drafts:
                    uow.evidence.append_many(drafts, now)
                if len(batch) == 1 and batch[0].error is not None:
                    raise batch[0].error  # roll back the lone write's unit of work
        except BaseException as failure:
            for job in batch:
                if job.error is None:
                    job.error = failure
        finally:
            for job in batch:
                job.done.set()

    @staticmethod
    def _attempt(uow: UnitOfWork, job: _Job, *, nested: bool) -> None:
        try:
            if nested:
                with uow.savepoint():
                    job.result, job.drafts = job.work(uow)
            else:
                job.result, job.drafts = job.work(uow)
        except Exception as exc:
            job.error = exc
