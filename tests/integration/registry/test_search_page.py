"""The registry page query (deferred join over the covering index, docs/performance.md) and its
filters built once per store: pages are complete, ordered and disjoint, and a second query on
the same unit of work gets its own filters (both databases)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from loopnode.adapters.storage.sql.registry import _near_params
from loopnode.services.ports import RecordQuery
from loopnode.services.registry.seeding import example_records


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


def test_the_prebuilt_radius_search_finds_what_the_general_query_finds(container: Any) -> None:
    template = dict(example_records()[0])
    for n in range(12):
        lat, lon = 48.0 + n * 0.2, 11.5 + (n % 4) * 0.3  # 0 to 250 km north of Munich
        document = {
            **template,
            "id": f"MAT-DE-MUC-2026-NEAR-{n:06d}",
            "category": "plastic-pet",
            "location": {**template["location"], "lat": lat, "lon": lon},
        }
        container.registry.register("material", document, "tests")
    body = {"category": "plastic-pet", "radius_km": 100}
    searched = RecordQuery(kind="material", limit=3, exclude_withdrawn=True)  # as search asks
    near = container.search._near(searched, body["radius_km"])
    near = replace(near, category="plastic-pet")
    general = replace(near, min_quantity_micro=0)  # another filter: the general path
    assert _near_params(near) is not None
    assert _near_params(general) is None
    pages: dict[str, list[str]] = {}
    with container.uow() as uow:
        for name, query in (("prebuilt", near), ("general", general)):
            found: list[str] = []
            while True:
                rows = uow.records.page(query)
                found += [r.id for r in rows]
                if len(rows) < query.limit:
                    break
                query = replace(query, after=(rows[-1].updated_us, rows[-1].id))
            pages[name] = found
        counts = {uow.records.count(near), uow.records.count(general)}
    assert pages["prebuilt"] == pages["general"]
    assert counts == {len(pages["general"])}
    assert 0 < len(pages["general"]) < 12 + 1  # the example record itself is near Munich too


def _near_records(container: Any, count: int) -> None:
    template = dict(example_records()[0])
    for n in range(count):
        document = {
            **template,
            "id": f"MAT-DE-MUC-2026-DOCS-{n:06d}",
            "category": "plastic-pet",
            "location": {**template["location"], "lat": 48.1 + n * 0.01, "lon": 11.5},
            "x_extension": {"z": n, "a": [0.1, 1e-7], "é": "ü\u2028"},
        }
        container.registry.register("material", document, "tests")
        if n % 2:
            container.clock.advance(seconds=1)


def test_stored_documents_pages_are_the_pages_unparsed(container: Any) -> None:
    """`page_documents` (what search answers from) gives `page`'s rows in `page`'s order, each
    with the stored text that parses to the row's document, on the prebuilt and general path."""
    _near_records(container, 9)
    searched = RecordQuery(kind="material", limit=4, exclude_withdrawn=True, category="plastic-pet")
    near = container.search._near(searched, 100)
    general = replace(near, min_quantity_micro=0)
    with container.uow() as uow:
        for query in (near, general, replace(near, after=(0, ""))):
            rows, stored = uow.records.page(query), uow.records.page_documents(query)
            assert len(rows) == 4
            assert [(s.updated_us, s.id) for s in stored] == [(r.updated_us, r.id) for r in rows]
            assert [orjson.loads(s.document_json) for s in stored] == [r.document for r in rows]
            assert [s.document_json for s in stored] == [
                orjson.dumps(r.document).decode() for r in rows
            ]


def test_search_answers_the_stored_documents_byte_for_byte(client: Any, container: Any) -> None:
    _near_records(container, 60)
    with container.uow() as uow:
        stored = {
            s.id: s.document_json
            for s in uow.records.page_documents(
                RecordQuery(kind="material", limit=100, category="plastic-pet")
            )
        }
    body = {"category": "plastic-pet", "radius_km": 100}
    first = client.post("/api/v1/material/search", json=body)
    assert first.status_code == 200
    answer = first.json()
    assert answer["total"] == len(stored) > 50
    ids = [document["id"] for document in answer["results"]]
    assert len(ids) == 50
    for document_id in ids:  # each result is the stored text, verbatim, in the answer
        assert stored[document_id].encode() in first.content
    second = client.post(answer["next"], json=body).json()
    assert "next" not in second
    assert sorted(ids + [d["id"] for d in second["results"]]) == sorted(stored)


def test_a_core_dp_limit_written_as_a_whole_float_is_a_limit(client: Any, container: Any) -> None:
    """JSON Schema counts 2.0 as an integer, so the contract check lets it through; the page
    must then be cut at 2, not fail (found by tests/integration/web/test_openapi_fuzz.py)."""
    _near_records(container, 3)
    body = {"entity_type": "material", "limit": 2.0, "filters": {}}
    answer = client.post("/api/v1/material/search", json=body)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["results"]) == 2
    assert "next_cursor" in answer.json()
