"""Group commit (services/group_commit.py), on both databases: concurrent writes share
transactions, each still gets its own answer (a duplicate its own 409), the evidence chain holds
with one entry per stored record, and a failed commit fails only its batch. Over HTTP, the
registrations and the lifecycle writes of concurrent requests share batches on SQLite (inline on
the event loop) and on PostgreSQL (threadpool), with the lifecycle invariants still enforced."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import httpx
import pytest

from loopnode.domain.errors import Conflict
from loopnode.services.group_commit import GroupCommit
from loopnode.services.ports import ListQuery
from loopnode.services.registry.seeding import example_records
from tests import lifecycle_payloads as p


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


# -- over HTTP: the routes' writes through the gate -------------------------------------------
def _post_all(app: Any, auth: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The POSTs at once, as concurrent requests on one event loop (one worker)."""

    async def main() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
            posts = [http.post(f"/api/v1/{path}", json=body, headers=auth) for path, body in calls]
            return list(await asyncio.gather(*posts))

    return asyncio.run(main())


def _batched(writes: GroupCommit, before: dict[int, int]) -> int:
    """The largest batch run since `before` was copied from `writes.sizes`."""
    grown = [size for size, count in writes.sizes.items() if count > before.get(size, 0)]
    return max(grown, default=0)


@pytest.fixture
def app(container: Any) -> Any:
    from loopnode.web.app import create_app

    return create_app(container=container)


def _sqlite(container: Any) -> bool:
    return bool(container.engine.dialect.name == "sqlite")


def test_concurrent_registrations_over_http_share_transactions(
    container: Any, app: Any, auth: dict[str, str]
) -> None:
    writes = container.registry._writes
    before = dict(writes.sizes)
    documents = [_document(100 + n) for n in range(28)] + [_document(100), _document(110)]
    unknown = p.product(material_ids=["MAT-DE-MUC-2026-GROUP-NOSUCH"])
    calls = [("material", d) for d in documents] + [("product", unknown)]

    answers = _post_all(app, auth, calls)

    statuses = Counter(a.status_code for a in answers)
    assert statuses == Counter({201: 28, 409: 2, 400: 1}), statuses
    assert answers[-1].json()["error"]["details"]["unknown_material_ids"]
    with container.uow() as uow:
        stored = {r.id for r in uow.records.page(_query(100))}
        entries = [e for e, _ in uow.evidence.iterate() if e.subject_id.startswith(_PREFIX)]
    assert stored == {d["id"] for d in documents}
    assert sorted(e.subject_id for e in entries) == sorted(stored)  # the failures left none
    assert container.evidence.verify().intact
    if _sqlite(container):  # inline on the loop: the requests' writes met in one batch
        assert _batched(writes, before) > 1


def test_lifecycle_writes_batch_and_keep_their_invariants_under_concurrency(
    container: Any, app: Any, auth: dict[str, str]
) -> None:
    writes = container.idempotency._writes
    assert writes is container.registry._writes  # one gate per worker
    records = [f"MAT-DE-MUC-2026-PLASTIC-G{n:05d}" for n in range(6)]
    created = _post_all(app, auth, [("material", p.material(r)) for r in records])
    assert {a.status_code for a in created} == {201}
    before = dict(writes.sizes)
    offers = _post_all(app, auth, [("offer", p.offer(r, 10)) for r in records])
    assert {a.status_code for a in offers} == {201}
    offer_ids = [a.json()["id"] for a in offers]

    # Ten matches race for the first offer; every other offer gets one.
    calls = [("match", p.match(offer_ids[0], records[0], status="accepted"))] * 10
    pairs = zip(offer_ids[1:], records[1:], strict=True)
    calls += [("match", p.match(o, r, status="accepted")) for o, r in pairs]
    matches = _post_all(app, auth, calls)
    first = Counter(a.status_code for a in matches[:10])
    assert first[201] == 1 and set(first) <= {201, 409}, first
    assert {a.status_code for a in matches[10:]} == {201}
    match_ids = [a.json()["id"] for a in matches if a.status_code == 201]

    # Five transfers race for the first match; every other match gets one, completed.
    won = match_ids[0]
    calls = [("transfer", p.transfer(won, records[0], status="completed"))] * 5
    pairs = zip(match_ids[1:], records[1:], strict=True)
    calls += [("transfer", p.transfer(m, r, status="completed")) for m, r in pairs]
    transfers = _post_all(app, auth, calls)
    first = Counter(a.status_code for a in transfers[:5])
    assert first[201] == 1 and set(first) <= {201, 409}, first
    assert {a.status_code for a in transfers[5:]} == {201}
    if _sqlite(container):
        assert _batched(writes, before) > 1

    with container.uow() as uow:
        events = {e.sequence: e for e, _ in uow.evidence.iterate()}
        for offer_id in offer_ids:
            assert uow.exchange.active_match(offer_id) is not None  # exactly one, accepted
        for match_id in match_ids:
            transfers_of = uow.exchange.page("transfer", ListQuery((("match_id", match_id),)))
            assert [t.status for t in transfers_of] == ["completed"]  # one live transfer each
            changes = uow.history.of("match", match_id)
            assert [c.status for c in changes] == ["proposed", "accepted"]
            # each history row points at the evidence entry that recorded it
            assert all(events[c.sequence].subject_id == match_id for c in changes)
        for record in records:
            custody = uow.custody.of(record)
            assert len(custody) == 1
            assert events[custody[0].sequence].event_type == "material.custody_changed"
            assert events[custody[0].sequence].subject_id == record
    kinds = Counter(e.subject_type for e in events.values())
    assert kinds["match"] == 2 * len(match_ids)  # the losers of the race left no entry
    assert kinds["transfer"] == 3 * len(records)
    assert container.evidence.verify().intact


# SQLite has one writer at a time, so no deadlock between writers: PostgreSQL only.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_postgres_deadlock_is_a_write_to_run_again(container: Any) -> None:
    """What `GroupCommit` is told to retry (adapters/storage/uow.retryable): a real deadlock."""
    from sqlalchemy import text

    from loopnode.adapters.storage.uow import retryable

    engine = container.engine
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe (id integer PRIMARY KEY)"))
        connection.execute(text("INSERT INTO probe VALUES (1), (2)"))
    both = threading.Barrier(2)
    failures: list[BaseException] = []

    def lock(first: int, second: int) -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("UPDATE probe SET id = id WHERE id = :i"), {"i": first})
                both.wait(timeout=10)
                connection.execute(text("UPDATE probe SET id = id WHERE id = :i"), {"i": second})
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=lock, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(failures) == 1 and retryable(failures[0])
    assert not retryable(Conflict("an invariant's 409 is an answer, not a retry"))


def test_a_batch_stores_its_registrations_with_one_statement(
    container: Any, app: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopnode.adapters.storage.sql import driver

    inserts: list[str] = []
    real = driver.insert_rows

    def counted(connection: Any, table: str, columns: Any, rows: Any) -> None:
        if table == "dna_records":
            inserts.append(f"{len(rows)}")
        real(connection, table, columns, rows)

    monkeypatch.setattr("loopnode.adapters.storage.sql.registry.insert_rows", counted)
    writes = container.registry._writes
    before = dict(writes.sizes)
    documents = [_document(300 + n) for n in range(20)]

    answers = _post_all(app, auth, [("material", d) for d in documents])

    assert Counter(a.status_code for a in answers) == Counter({201: 20})
    batches = sum(writes.sizes.values()) - sum(before.values())
    assert len(inserts) == batches  # one statement per batch, whatever its size
    assert sum(int(rows) for rows in inserts) == 20
    if _batched(writes, before) > 1:
        assert len(inserts) < 20
    with container.uow() as uow:
        assert {r.id for r in uow.records.page(_query(100))} == {d["id"] for d in documents}
    assert container.evidence.verify().intact
