"""`GET /api/v1/material/{id}/routes`: §12.1's candidates and selection (issue 11 item 4)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.accounts import open_accounts
from tests.routing_helpers import CONTEXT, VIENNA, add_peer, install

MATERIAL = "MAT-DE-MUC-2026-ORGANIC-A00001"
ZURICH = ("zurich.loop", 47.377, 8.541)
BERLIN = ("berlin.loop", 52.52, 13.405)


@pytest.fixture(autouse=True)
def farm_account(container: Any) -> None:
    """Ballots and listings name existing LoopCoin accounts (services/access/ownership.py)."""
    open_accounts(container, "business:b-farm@munich.loop")


@pytest.fixture
def node_settings(tmp_path: Path, database_url: str) -> Any:
    from loopnode.config import load_settings

    return load_settings(
        tmp_path,
        node_id="munich.loop",
        city_code="MUC",
        lat=48.137,
        lon=11.575,
        base_url="https://munich.example",
        database_url=database_url,
        signals={"organic-food": Decimal("0.40"), "default": Decimal("0.05")},
        peer_distances_km={"vienna.loop": Decimal(400), "berlin.loop": Decimal(500)},
    )


@pytest.fixture
def grain(client: Any, auth: dict[str, str], container: Any) -> str:
    for peer in (VIENNA, ZURICH, BERLIN):
        add_peer(container, *peer)
    install(
        container,
        {
            "vienna.loop": {"organic-food": 0.2},
            "zurich.loop": {"organic-food": 0.3, "default": 0.1},
            "berlin.loop": {"default": 0.1},
        },
    )
    body = {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "id": MATERIAL,
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-06-01T08:00:00Z",
        "base_price": "60.00",
    }
    assert client.post("/api/v1/material", json=body, headers=auth).status_code == 201
    return MATERIAL


def bid(container: Any, node: str) -> None:
    container.federation.bids.receive(
        node,
        {
            "@context": CONTEXT,
            "@type": "MaterialOffer",
            "material": MATERIAL,
            "from": node,
            "base_price": 60,
            "loop_cost": 104,
            "valid_until": "2026-06-10T00:00:00Z",
        },
    )


def want(client: Any, auth: dict[str, str], **extra: Any) -> str:
    body = {
        "category": "organic-food",
        "quantity": {"value": 0.5, "unit": "t"},
        "valid_until": "2026-06-30T00:00:00Z",
        "requester": "business:b-farm@munich.loop",
        **extra,
    }
    answer = client.post("/api/v1/demand", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_spec_12_1_prices_every_candidate_and_selects_the_local_buyer(
    client: Any, auth: dict[str, str], container: Any, grain: str
) -> None:
    farm = want(client, auth, max_price="70.00")
    bid(container, "vienna.loop")
    answer = client.get(f"/api/v1/material/{grain}/routes")
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    summary = [(c["kind"], c["node"], c["loop_cost"]) for c in plan["candidates"]]
    assert summary[0] == ("local-demand", "munich.loop", "60.00")
    assert ("bid", "vienna.loop", "104.00") in summary
    vienna = next(c for c in plan["candidates"] if c["node"] == "vienna.loop")
    assert vienna["breakdown"] == {
        "base": "60.00",
        "export": "24.00",
        "import": "12.00",
        "distance": "8.00",
    }
    zurich = next(c for c in plan["candidates"] if c["node"] == "zurich.loop")
    assert zurich["kind"] == "peer-signal" and zurich["firm"] is False
    assert "berlin.loop" not in {c["node"] for c in plan["candidates"]}
    assert plan["selected"]["ref"] == farm
    assert plan["reason"] == "lowest_loop_cost"


def test_without_local_demand_the_bid_is_selected(
    client: Any, auth: dict[str, str], container: Any, grain: str
) -> None:
    want(client, auth, max_price="50.00")  # cannot pay the base price
    want(client, auth, quantity={"value": 100, "unit": "kg"})  # too little
    bid(container, "vienna.loop")
    plan = client.get(f"/api/v1/material/{grain}/routes").json()
    assert plan["selected"]["node"] == "vienna.loop"
    assert plan["selected"]["loop_cost"] == "104.00"
    refused = [c for c in plan["candidates"] if c["kind"] == "local-demand"]
    assert [c["eligible"] for c in refused] == [False]


def test_nothing_firm_selects_nothing(client: Any, grain: str) -> None:
    plan = client.get(f"/api/v1/material/{grain}/routes").json()
    assert plan["selected"] is None
    assert {c["node"] for c in plan["candidates"]} == {"vienna.loop", "zurich.loop"}
    assert {c["kind"] for c in plan["candidates"]} == {"peer-signal"}


def test_base_price_query_overrides_and_unknown_material_is_404(client: Any, grain: str) -> None:
    plan = client.get(f"/api/v1/material/{grain}/routes", params={"base_price": "10"}).json()
    assert plan["base_price"] == "10.00"
    assert client.get("/api/v1/material/MAT-DE-MUC-2026-X-000000/routes").status_code == 404
    bad = client.get(f"/api/v1/material/{grain}/routes", params={"base_price": "ten"})
    assert bad.status_code == 400


def test_select_prices_buyers_at_their_own_base_prices(container: Any, grain: str) -> None:
    # §12.1 step 5: the local buyer offering 50 beats Berlin and Vienna offering 60.
    asyncio.run(container.routing.cost.directory.refresh())  # peers' signals, as routes do
    chosen = container.routing.cost.select(
        "organic-food",
        "munich.loop",
        [
            {"node": "vienna.loop", "base_price": 60, "ref": "vienna-bid"},
            {"node": "berlin.loop", "base_price": "60.00", "ref": "berlin-bid"},
            {"node": "munich.loop", "base_price": 50, "ref": "farm"},
        ],
    )
    assert [(c["node"], c["loop_cost"]) for c in chosen["candidates"]] == [
        ("munich.loop", "50.00"),
        ("berlin.loop", "100.00"),  # 60 + 24 + 6 (Berlin's default 0.1) + 10 (500 km)
        ("vienna.loop", "104.00"),
    ]
    assert (chosen["selected"]["ref"], chosen["reason"]) == ("farm", "lowest_loop_cost")
