"""Custody and location (DECISIONS 11): the record a completed transfer sends to the receiving
city leaves its old coordinates behind, so radius search follows the goods. On SQLite and
PostgreSQL through the `client` fixture; the node (tests/conftest.py) is in Munich at
48.137, 11.575.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from loopnode.domain import geo
from loopnode.protocol.canonical import sha256_hex
from tests import lifecycle_payloads as p

MAT = p.MATERIAL_ID
NODE = {"lat": 48.137, "lon": 11.575}
MARIENPLATZ = {"lat": 48.1374, "lon": 11.5755, "address": "Marienplatz 1"}
BRANDENBURGER_TOR = {"lat": 52.5163, "lon": 13.3777}


class Api:
    def __init__(self, client: Any, auth: dict[str, str]) -> None:
        self.client = client
        self.auth = auth

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/{path}", json=body, headers=self.auth)
        assert response.status_code == 201, response.json()
        document: dict[str, Any] = response.json()
        return document

    def record(self, record_id: str = MAT) -> dict[str, Any]:
        document: dict[str, Any] = self.client.get(f"/api/v1/material/{record_id}").json()
        return document

    def complete(self, value: float, to_city: str) -> None:
        """An offer of `value` kg to `to_city`, matched and transferred `completed`."""
        offer = self.created("offer", p.offer(MAT, value, to_city=to_city))
        match = self.created("match", p.match(offer["id"], status="accepted", to_city=to_city))
        self.created("transfer", p.transfer(match["id"], status="completed"))

    def near_node(self, radius_km: float = 20) -> set[str]:
        body = {"category": "plastic-pet", "radius_km": radius_km}
        found = self.client.post("/api/v1/material/search", json=body).json()
        return {document["id"] for document in found["results"]}

    def child(self) -> dict[str, Any]:
        history = self.client.get(f"/api/v1/material/{MAT}/history").json()
        (entry,) = history["custody"]
        assert entry["mode"] == "split"
        return self.record(entry["child_id"])


@pytest.fixture
def api(client: Any, auth: dict[str, str]) -> Api:
    return Api(client, auth)


def columns(container: Any, record_id: str = MAT) -> dict[str, Any]:
    with container.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT lat, lon, ux, uy, uz, record_hash, updated_us, document "
                "FROM dna_records WHERE id = :id"
            ),
            {"id": record_id},
        ).one()
    return dict(row._mapping)


def assert_projections(container: Any, record: dict[str, Any]) -> None:
    """The columns agree with the served document: coordinates, unit vector and hash."""
    stored = columns(container, record["id"])
    location = record.get("location")
    if location is None:
        assert [stored[c] for c in ("lat", "lon", "ux", "uy", "uz")] == [None] * 5
    else:
        assert (stored["lat"], stored["lon"]) == (location["lat"], location["lon"])
        expected = geo.unit_vector(location["lat"], location["lon"])
        assert (stored["ux"], stored["uy"], stored["uz"]) == pytest.approx(expected)
    assert stored["record_hash"] == sha256_hex(record)


def test_a_record_moved_to_another_city_drops_its_location(api: Api, container: Any) -> None:
    api.created("material", p.material(location=MARIENPLATZ))
    before = columns(container)
    assert MAT in api.near_node()
    container.clock.advance(hours=1)
    api.complete(100, "Berlin")
    after = api.record()
    assert after["current_city"] == "Berlin"
    assert "location" not in after
    assert_projections(container, after)
    assert columns(container)["updated_us"] > before["updated_us"]
    assert MAT not in api.near_node()
    assert MAT not in api.near_node(radius_km=20_000)  # no coordinates: never in a radius


def test_a_record_moved_to_this_nodes_city_takes_the_nodes_location(
    api: Api, container: Any
) -> None:
    api.created("material", p.material(current_city="Berlin", location=BRANDENBURGER_TOR))
    assert MAT not in api.near_node()
    api.complete(100, "munich")  # city names compare without regard to case
    after = api.record()
    assert after["location"] == NODE
    assert_projections(container, after)
    assert MAT not in api.near_node(radius_km=1)  # here now, but fulfilled: not on offer


def test_a_split_sends_the_part_away_without_a_location_and_the_parent_stays(
    api: Api, container: Any
) -> None:
    api.created("material", p.material(location=MARIENPLATZ))
    parent_before = api.record()
    api.complete(30, "Berlin")
    parent, child = api.record(), api.child()
    assert parent["location"] == MARIENPLATZ
    assert parent == {**parent_before, "quantity": {"value": 70, "unit": "kg"}}
    assert child["current_city"] == "Berlin"
    assert "location" not in child
    assert_projections(container, parent)
    assert_projections(container, child)
    assert api.near_node() == {MAT}


def test_a_split_to_this_nodes_city_gives_the_part_the_nodes_location(
    api: Api, container: Any
) -> None:
    api.created("material", p.material(current_city="Berlin", location=BRANDENBURGER_TOR))
    api.complete(30, "Munich")
    parent, child = api.record(), api.child()
    assert parent["location"] == BRANDENBURGER_TOR
    assert child["location"] == NODE
    assert child["current_city"] == "Munich"
    assert_projections(container, parent)
    assert_projections(container, child)
    assert api.near_node() == set()  # the part arrived here, fulfilled: not on offer


def test_evidence_of_the_move_hashes_the_relocated_document(api: Api, container: Any) -> None:
    api.created("material", p.material(location=MARIENPLATZ))
    api.complete(100, "Berlin")
    entries = api.client.get("/api/v1/evidence", params={"limit": 500}).json()["entries"]
    (moved,) = [e for e in entries if e["event_type"] == "material.custody_changed"]
    assert moved["payload_hash_sha256"] == sha256_hex(api.record())
    assert container.evidence.verify().intact
