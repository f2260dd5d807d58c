"""`loop_bridge` (a synchronous call that may await on the loop) and the event-loop side of
`GroupCommit`: writes queued by concurrent requests on one loop form one batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import pytest

from loopnode.services import loop_bridge
from loopnode.services.group_commit import GroupCommit
from loopnode.services.ports import EvidenceDraft

REQUEST: ContextVar[str] = ContextVar("request", default="none")


def test_a_call_that_never_waits_runs_like_a_direct_call() -> None:
    def add(a: int, b: int) -> int:
        assert loop_bridge.bridged()
        return a + b

    def fail() -> None:
        raise ValueError("own error")

    assert asyncio.run(loop_bridge.run(add, 2, b=3)) == 5
    with pytest.raises(ValueError, match="own error"):
        asyncio.run(loop_bridge.run(fail))
    assert not loop_bridge.bridged()


def test_wait_lets_other_calls_run_and_resumes_with_the_result() -> None:
    order: list[str] = []

    async def main() -> list[Any]:
        gate = asyncio.Event()

        def waiter() -> str:
            order.append("waiter starts")
            loop_bridge.wait(gate.wait())
            order.append("waiter resumes")
            return REQUEST.get()

        def opener() -> str:
            order.append("opener runs")
            gate.set()
            return "opened"

        async def as_request(name: str, fn: Any) -> Any:
            REQUEST.set(name)  # each task has its own context: the call sees its task's
            return await loop_bridge.run(fn)

        return await asyncio.gather(as_request("first", waiter), as_request("second", opener))

    assert asyncio.run(main()) == ["first", "opened"]
    assert order == ["waiter starts", "opener runs", "waiter resumes"]


def test_an_awaited_failure_is_raised_inside_the_call() -> None:
    async def broken() -> None:
        raise KeyError("from the loop")

    def call() -> str:
        try:
            loop_bridge.wait(broken())
        except KeyError:
            return "caught inside"
        return "not raised"

    assert asyncio.run(loop_bridge.run(call)) == "caught inside"


def test_wait_outside_a_bridged_call_is_refused() -> None:
    async def nothing() -> None:
        return None

    awaitable = nothing()
    with pytest.raises(RuntimeError):
        loop_bridge.wait(awaitable)
    awaitable.close()


# -- GroupCommit on the loop, with a unit of work that records what happens to it -----------------
class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 6, 1, tzinfo=UTC)


class _Evidence:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def append_many(self, drafts: Sequence[EvidenceDraft], now: datetime) -> list[Any]:
        self.log.append("evidence " + ",".join(d.subject_id for d in drafts))
        return []


class _Unit:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.evidence = _Evidence(log)

    def __enter__(self) -> _Unit:
        self.log.append("begin")
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.log.append("commit" if exc_type is None else "rollback")

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        yield


def _draft(name: str) -> EvidenceDraft:
    return EvidenceDraft("material.registered", "material", name, "tests", "0" * 64)


def test_writes_of_concurrent_requests_on_one_loop_share_one_transaction() -> None:
    log: list[str] = []
    writes = GroupCommit(lambda **_: _Unit(log), _Clock())

    def register(name: str) -> str:
        def work(uow: Any) -> tuple[str, list[EvidenceDraft]]:
            if name == "bad":
                raise ValueError("refused")
            log.append(f"store {name}")
            return f"stored {name}", [_draft(name)]

        result: str = writes.run(work)
        return result

    async def main() -> list[Any]:
        calls = [loop_bridge.run(register, name) for name in ("a", "b", "bad", "c")]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(main())
    assert answers[:2] == ["stored a", "stored b"] and answers[3] == "stored c"
    assert isinstance(answers[2], ValueError)  # its own answer; the neighbours are stored
    # First without savepoints; the failure rolls that back and the batch runs again with one
    # savepoint per write: one transaction commits, holding the three that succeeded.
    assert log == [
        *("begin", "store a", "store b", "rollback"),
        *("begin", "store a", "store b", "store c", "evidence a,b,c", "commit"),
    ]
    assert writes.sizes == {4: 1}


def test_a_failed_batch_fails_every_write_in_it_and_frees_the_gate() -> None:
    log: list[str] = []

    class Broken(_Unit):
        def __exit__(self, exc_type: Any, *rest: Any) -> None:
            super().__exit__(exc_type, *rest)
            if exc_type is None:
                raise OSError("disk full")

    units: list[type[_Unit]] = [Broken, _Unit]
    writes = GroupCommit(lambda **_: units.pop(0)(log), _Clock())

    def register(name: str) -> Any:
        return writes.run(lambda uow: (name, [_draft(name)]))

    async def main() -> list[Any]:
        first = await asyncio.gather(
            *(loop_bridge.run(register, n) for n in ("a", "b")), return_exceptions=True
        )
        return [*first, await loop_bridge.run(register, "c")]

    answers = asyncio.run(main())
    assert [type(a) for a in answers[:2]] == [OSError, OSError]
    assert answers[2] == "c"


def test_a_deadlock_victim_runs_again_alone_after_its_batch() -> None:
    log: list[str] = []

    class Deadlock(Exception):
        pass

    writes = GroupCommit(
        lambda **_: _Unit(log), _Clock(), retryable=lambda e: isinstance(e, Deadlock)
    )
    tries: dict[str, int] = {"a": 0, "b": 0, "c": 0}

    def register(name: str, failures: int) -> Any:
        def work(uow: Any) -> tuple[str, list[EvidenceDraft]]:
            tries[name] += 1
            if tries[name] <= failures:
                raise Deadlock(name)
            return name, [_draft(name)]

        return writes.run(work)

    async def main() -> list[Any]:
        calls = [loop_bridge.run(register, "a", 0), loop_bridge.run(register, "b", 1)]
        calls.append(loop_bridge.run(register, "c", 5))  # never gets through: its own error
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(main())
    assert answers[:2] == ["a", "b"] and isinstance(answers[2], Deadlock)
    # The batch without savepoints (b fails before c runs), with savepoints (c fails), then c
    # on its own until it has run ATTEMPTS times.
    assert tries == {"a": 2, "b": 2, "c": 3}
    assert writes.sizes == {3: 1, 1: 2}
