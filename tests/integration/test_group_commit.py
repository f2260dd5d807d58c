"""Group commit of registrations (services/group_commit.py), on both databases: concurrent
writes share transactions, each still gets its own answer (a duplicate its own 409), the
evidence chain holds with one entry per stored record, and a failed commit fails only its batch."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from loopnode.domain.errors import Conflict
from loopnode.services.group_commit import GroupCommit
from loopnode.services.seeding import example_records


def _document(n: int) -> dict[str, Any]:
    return {**dict(example_records()[0]), "id": f"MAT-DE-MUC-2026-GROUP-{n:06d}"}


def test_concurrent_registrations_each_get_their_own_answer(container: Any) -> None:
    writes = container.registry._writes
    assert isinstance(writes, GroupCommit)
    documents = [_document(n) for n in range(24)] + [_document(3), _document(17)]
    answers: dict[int, object] = {}
    start = threading.Barrier(len(documents))

    def register(index: int) -> None:
        start.wait()
        try:
            answers[index] = container.registry.register("material", documents[index], "tests")
        except Exception as exc:
            answers[index] = exc

    threads = [threading.Thread(target=register, args=(i,)) for i in range(len(documents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    failures = [a for a in answers.values() if isinstance(a, Exception)]
    assert len(answers) == 26
    assert len(failures) == 2 and all(isinstance(f, Conflict) for f in failures)
    with container.uow() as uow:
        stored = {r.id for r in uow.records.page(_query(100))}
        entries = [e for e, _ in uow.evidence.iterate() if e.subject_id.startswith(_PREFIX)]
    assert stored == {d["id"] for d in documents}
    assert sorted(e.subject_id for e in entries) == sorted(stored)  # one entry each, no more
    assert container.evidence.verify().intact
    assert sum(size * count for size, count in writes.sizes.items()) == 26


def test_a_failed_commit_fails_its_batch_and_frees_the_gate(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = GroupCommit(container.uow, container.clock)

    def work(uow: Any) -> tuple[str, list[Any]]:
        return "stored", []

    class Boom(Exception):
        pass

    real = container.uow

    class FailingCommit:
        def __init__(self, **kwargs: Any) -> None:
            self.unit = real(**kwargs)

        def __enter__(self) -> Any:
            return self.unit.__enter__()

        def __exit__(self, *exc: Any) -> None:
            self.unit.__exit__(*exc)
            raise Boom("commit failed")

    failing_uow = FailingCommit
    writes._uow = failing_uow
    with pytest.raises(Boom):
        writes.run(work)
    writes._uow = real  # the gate is free again: a later write runs
    assert writes.run(work) == "stored"


_PREFIX = "MAT-DE-MUC-2026-GROUP-"


def _query(limit: int) -> Any:
    from loopnode.services.ports import RecordQuery

    return RecordQuery(kind="material", id_prefix=_PREFIX, limit=limit)
