"""The registry page query (deferred join over the covering index, docs/performance.md) and its
filters built once per store: pages are complete, ordered and disjoint, and a second query on
the same unit of work gets its own filters (both databases)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loopnode.services.ports import RecordQuery
from loopnode.services.seeding import example_records


def _register(container: Any, count: int) -> None:
    template = dict(example_records()[0])
    for n in range(count):
        category = "plastic-pet" if n % 3 else "metal-aluminum"
        document = {**template, "id": f"MAT-DE-MUC-2026-PAGE-{n:06d}", "category": category}
        container.registry.register("material", document, "tests")
        if n % 2:
            container.clock.advance(seconds=1)  # ties on updated_us are ordered by id


def test_pages_cover_every_match_once_in_order(container: Any) -> None:
    _register(container, 14)
    query = RecordQuery(kind="material", category="plastic-pet", limit=4)
    seen: list[tuple[int, str]] = []
    with container.uow() as uow:
        total = uow.records.count(query)
        while True:
            rows = uow.records.page(query)
            seen += [(r.updated_us, r.id) for r in rows]
            if len(rows) < query.limit:
                break
            query = replace(query, after=(rows[-1].updated_us, rows[-1].id))
        others = uow.records.count(RecordQuery(kind="material", category="metal-aluminum"))
        again = uow.records.count(replace(query, after=None))
    expected = [f"MAT-DE-MUC-2026-PAGE-{n:06d}" for n in range(14) if n % 3]
    assert total == again == len(expected) == 9
    assert others == 5
    assert seen == sorted(seen)
    assert sorted(i for _, i in seen) == expected
