"""A withdrawn passport leaves search results (issue 15), on SQLite and PostgreSQL.

Listings keep it (with `availability`), since peers synchronise through them.
"""

from __future__ import annotations

from typing import Any

from tests import lifecycle_payloads as p

KEPT = "MAT-DE-MUC-2026-PLASTIC-A00002"


def test_withdrawn_materials_leave_both_search_modes(client: Any, auth: dict[str, str]) -> None:
    for record_id in (p.MATERIAL_ID, KEPT):
        assert (
            client.post("/api/v1/material", json=p.material(record_id), headers=auth).status_code
            == 201
        )
    update = p.status_update(p.MATERIAL_ID, "withdrawn")
    assert client.post("/api/v1/material-status", json=update, headers=auth).status_code == 201

    protocol = client.post("/api/v1/material/search", json={"category": "plastic-*"}).json()
    assert [r["id"] for r in protocol["results"]] == [KEPT]
    assert protocol["total"] == 1
    core = {"entity_type": "material", "filters": {"category_prefix": "plastic"}, "limit": 10}
    found = client.post("/api/v1/material/search", json=core).json()
    assert [r["id"] for r in found["results"]] == [KEPT]

    listed = client.get("/api/v1/material", params={"availability": "withdrawn"}).json()
    assert [r["id"] for r in listed["results"]] == [p.MATERIAL_ID]
