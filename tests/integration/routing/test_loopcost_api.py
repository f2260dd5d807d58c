"""`POST /api/v1/loopcost` (spec §7, §12.1; DECISIONS 14) on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loopnode.domain.geo import haversine_km
from tests.routing_helpers import BERLIN, VIENNA, add_peer, install

QUOTE = "/api/v1/loopcost"


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
    )


def quote(client: Any, **body: Any) -> Any:
    return client.post(QUOTE, json=body)


def test_the_spec_example_costs_104(client: Any) -> None:
    answer = quote(
        client,
        category="organic-food",
        base_price=60,
        origin_node="munich.loop",
        destination_node="vienna.loop",
        origin_signal=0.40,
        destination_signal=0.20,
        distance_km=400,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == "104.00"
    assert body["breakdown"] == {
        "base": "60.00",
        "export": "24.00",
        "import": "12.00",
        "distance": "8.00",
    }
    assert body["currency"] == "LC-MUC" and body["local"] is False


def test_signals_come_from_own_and_peer_configs_and_distance_from_locations(
    client: Any, container: Any
) -> None:
    add_peer(container, *VIENNA)
    fake = install(container, {"vienna.loop": {"organic-food": 0.2, "default": 0.1}})
    answer = quote(
        client,
        category="organic-food",
        base_price="60.00",
        origin_node="munich.loop",
        destination_node="vienna.loop",
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    km = Decimal(f"{haversine_km(48.137, 11.575, 48.208, 16.373):.3f}")
    assert body["distance_km"] == str(km)
    distance = (km * Decimal("0.02")).quantize(Decimal("0.01"))
    assert body["breakdown"] == {
        "base": "60.00",
        "export": "24.00",
        "import": "12.00",
        "distance": str(distance),
    }
    assert Decimal(body["total"]) == Decimal(96) + distance
    assert fake.fetches == ["vienna.loop"]
    other = quote(
        client,
        category="glass-clear",
        base_price=100,
        origin_node="vienna.loop",
        destination_node="munich.loop",
        distance_km=0,
    )
    assert other.json()["breakdown"]["export"] == "10.00"  # Vienna's default
    assert other.json()["breakdown"]["import"] == "5.00"  # our default
    assert fake.fetches == ["vienna.loop"]  # cached within the TTL


def test_peer_signals_are_fetched_again_after_the_ttl(
    client: Any, container: Any, clock: Any
) -> None:
    add_peer(container, *VIENNA)
    fake = install(container, {"vienna.loop": {"default": 0.1}})
    body = {"category": "cardboard", "base_price": 10, "origin_node": "munich.loop"}
    quote(client, **body, destination_node="vienna.loop", distance_km=0)
    fake.tables["vienna.loop"] = {"default": 0.3}
    clock.advance(seconds=301)
    answer = quote(client, **body, destination_node="vienna.loop", distance_km=0)
    assert answer.json()["breakdown"]["import"] == "3.00"
    assert fake.fetches == ["vienna.loop", "vienna.loop"]


def test_a_local_trade_is_the_base_price_only(client: Any) -> None:
    answer = quote(
        client,
        category="organic-food",
        base_price="60",
        origin_node="munich.loop",
        destination_node="munich.loop",
    )
    assert answer.json()["total"] == "60.00"
    assert answer.json()["breakdown"]["distance"] == "0.00"


@pytest.mark.parametrize(
    "body",
    [
        {"category": "cardboard", "base_price": 1, "origin_node": "munich.loop"},
        {
            "category": "cardboard",
            "base_price": "1.001",
            "origin_node": "a.loop",
            "destination_node": "a.loop",
        },
        {
            "category": "cardboard",
            "base_price": -1,
            "origin_node": "a.loop",
            "destination_node": "a.loop",
        },
        {
            "category": "cardboard",
            "base_price": 1,
            "origin_node": "munich.loop",
            "destination_node": "nowhere.loop",
            "distance_km": 5,
        },
        {
            "category": "cardboard",
            "base_price": 1,
            "origin_node": "munich.loop",
            "destination_node": "x.loop",
            "destination_signal": 1.5,
            "distance_km": 5,
        },
        {
            "category": "cardboard",
            "base_price": 1,
            "origin_node": "munich.loop",
            "destination_node": "x.loop",
            "destination_signal": 0.5,
        },
        {
            "category": "cardboard",
            "base_price": 1,
            "origin_node": "munich.loop",
            "destination_node": "x.loop",
            "colour": "red",
        },
    ],
)
def test_bad_quotes_are_400(client: Any, body: Any) -> None:
    answer = client.post(QUOTE, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_an_unreachable_peer_gives_a_400_not_a_500(client: Any, container: Any) -> None:
    add_peer(container, *BERLIN)
    install(container, {})
    answer = quote(
        client,
        category="cardboard",
        base_price=1,
        origin_node="munich.loop",
        destination_node="berlin.loop",
    )
    assert answer.status_code == 400


def grain(price: Any, number: int) -> dict[str, Any]:
    document = {
        "@context": "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld",
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "id": f"MAT-DE-MUC-2026-ORGANIC-A0000{number}",
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-06-01T08:00:00Z",
    }
    if price is not None:
        document["base_price"] = price
    return document


def test_search_keeps_records_within_max_loop_cost(client: Any, auth: dict[str, str]) -> None:
    for number, price in enumerate((10, "50.00", None)):
        answer = client.post("/api/v1/material", json=grain(price, number), headers=auth)
        assert answer.status_code == 201, answer.text
    found = client.post("/api/v1/material/search", json={"max_loop_cost": 20}).json()
    assert [r["id"] for r in found["results"]] == ["MAT-DE-MUC-2026-ORGANIC-A00000"]
    assert found["total"] == 1
    both = client.post(
        "/api/v1/material/search", json={"category": "organic-*", "max_loop_cost": 50.0}
    ).json()
    assert both["total"] == 2


def test_a_relayed_record_costs_penalties_and_distance(
    client: Any, container: Any, auth: dict[str, str]
) -> None:
    from dataclasses import replace

    add_peer(container, *VIENNA)
    install(container, {"vienna.loop": {"organic-food": 0.2}})
    client.post("/api/v1/material", json=grain("60.00", 1), headers=auth)
    client.post(
        "/api/v1/loopcost",
        json={
            "category": "organic-food",
            "base_price": 1,
            "origin_node": "vienna.loop",
            "destination_node": "munich.loop",
        },
    )  # fetches Vienna's signals
    with container.uow() as uow:
        row = uow.records.get("material", "MAT-DE-MUC-2026-ORGANIC-A00001")
    cost = container.routing.cost.record_coster()
    assert cost(row) is not None and str(cost(row)) == "60.00"
    remote = replace(row, source_node="vienna.loop")
    km = Decimal(f"{haversine_km(48.208, 16.373, 48.137, 11.575):.3f}")
    expected = Decimal(60 + 12 + 24) + (km * Decimal("0.02")).quantize(Decimal("0.01"))
    assert str(cost(remote)) == str(expected)
    assert cost(replace(row, source_node="unknown.loop")) is None
