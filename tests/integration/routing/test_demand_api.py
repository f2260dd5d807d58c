"""Wanted listings at `/api/v1/demand` on SQLite and PostgreSQL (issue 11 item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts import open_accounts

FARM = "business:b-farm@munich.loop"


@pytest.fixture(autouse=True)
def farm_account(container: Any) -> None:
    """Ballots and listings name existing LoopCoin accounts (services/access/ownership.py)."""
    open_accounts(container, FARM)


def listing(**changes: Any) -> dict[str, Any]:
    body = {
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "max_price": "70.00",
        "valid_until": "2026-06-30T00:00:00Z",
        "requester": FARM,
    }
    body.update(changes)
    return body


def test_a_listing_is_stored_and_searchable(client: Any, auth: dict[str, str]) -> None:
    created = client.post("/api/v1/demand", json=listing(), headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "open" and body["max_price"] == "70.00"
    assert body["location"] == {"lat": 48.137, "lon": 11.575}  # the node's own
    assert client.get(f"/api/v1/demand/{body['id']}").json() == body
    client.post(
        "/api/v1/demand",
        json=listing(category="plastic-pet", quantity={"value": 0.5, "unit": "t"}),
        headers=auth,
    )
    found = client.get("/api/v1/demand", params={"category": "organic-*"}).json()["results"]
    assert [d["id"] for d in found] == [body["id"]]
    assert len(client.get("/api/v1/demand").json()["results"]) == 2


def test_expired_and_withdrawn_listings_leave_the_default_search(
    client: Any, auth: dict[str, str], clock: Any
) -> None:
    first = client.post("/api/v1/demand", json=listing(), headers=auth).json()
    soon = client.post(
        "/api/v1/demand", json=listing(valid_until="2026-06-02T00:00:00Z"), headers=auth
    ).json()
    answer = client.post(
        f"/api/v1/demand/{first['id']}/status", json={"status": "withdrawn"}, headers=auth
    )
    assert answer.json()["status"] == "withdrawn"
    again = client.post(
        f"/api/v1/demand/{first['id']}/status", json={"status": "withdrawn"}, headers=auth
    )
    assert again.status_code == 409
    assert [d["id"] for d in client.get("/api/v1/demand").json()["results"]] == [soon["id"]]
    clock.advance(days=2)
    assert client.get("/api/v1/demand").json()["results"] == []
    everything = client.get(
        "/api/v1/demand", params={"status": "withdrawn", "include_expired": "true"}
    )
    assert [d["id"] for d in everything.json()["results"]] == [first["id"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"requester": "maria@example.com"},
        {"requester": "business:b-farm@berlin.loop"},
        {"notes": "call Maria on +49 170 1234567"},
        {"category": "gold"},
        {"quantity": {"value": 0, "unit": "kg"}},
        {"quantity": {"value": 5, "unit": "furlong"}},
        {"max_price": 1.005},
        {"valid_until": "2026-05-01T00:00:00Z"},
        {"location": {"lat": 91, "lon": 0}},
        {"contact": {"email": "farm@example.com"}},
    ],
)
def test_bad_listings_and_personal_data_are_400(
    client: Any, auth: dict[str, str], changes: Any
) -> None:
    answer = client.post("/api/v1/demand", json=listing(**changes), headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_listing_needs_a_key_and_unknown_is_404(client: Any) -> None:
    assert client.post("/api/v1/demand", json=listing()).status_code == 401
    assert client.get("/api/v1/demand/DEM-NOPE").status_code == 404
