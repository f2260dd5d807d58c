"""Three real nodes on loopback: a surplus nobody in Munich or Vienna wants is announced by the
overflow policy, Prague's local demand bids for it, and Munich routes it to Prague (issue 11)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.nodes import FAST_SETTINGS, Federation, Node, NodeSpec

pytestmark = pytest.mark.slow

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
VIENNA = NodeSpec("vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE")
PRAGUE = NodeSpec("prague", 50.075, 14.437, city="Prague", country="CZ", city_code="PRG")
BID_WINDOW_S = 3


def register_grain(node: Node) -> str:
    body = {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-06-01T08:00:00Z",
        "base_price": "60.00",
    }
    answer = node.post("/api/v1/material", json=body)
    assert answer.status_code == 201, answer.text
    material_id: str = answer.json()["id"]
    return material_id


def step(node: Node) -> dict[str, Any]:
    answer = node.post("/api/v1/routing/step")
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def remote_ids(node: Node) -> set[str]:
    page = node.get("/api/v1/federation/materials", params={"limit": 100}).json()
    return {item["material"] for item in page["results"]}


def test_a_surplus_overflows_from_a_to_c_when_a_and_b_have_no_demand(tmp_path: Path) -> None:
    settings = {
        **FAST_SETTINGS,
        "overflow_local_window_s": 0,
        "overflow_bid_window_s": BID_WINDOW_S,
    }
    with Federation(tmp_path, [MUNICH, VIENNA, PRAGUE], settings=settings) as fed:
        a, b, c = fed["munich"], fed["vienna"], fed["prague"]
        fed.peer(a, b)
        fed.peer(a, c)
        mill = c.post("/api/v1/loopcoin/accounts", json={"kind": "business"})
        assert mill.status_code == 201, mill.text  # listings name an existing account
        wanted = c.post(
            "/api/v1/demand",
            json={
                "category": "organic-food",
                "quantity": {"value": 500, "unit": "kg"},
                "max_price": "150.00",
                "valid_until": "2099-01-01T00:00:00Z",
                "requester": mill.json()["id"],
            },
        )
        assert wanted.status_code == 201, wanted.text
        material_id = register_grain(a)

        [announced] = step(a)["decisions"]  # no local demand in Munich: overflow
        announced_at = time.monotonic()
        assert announced["decision"] == "announced" and announced["announced_to"] == 2
        assert announced["selected"] is None

        fed.wait_until(lambda: material_id in remote_ids(b) and material_id in remote_ids(c))
        assert step(b)["bids"] == []  # Vienna has no demand
        [bid] = step(c)["bids"]
        assert (bid["material"], bid["to"]) == (material_id, "munich.loop")
        assert step(c)["bids"] == []  # one bid per lot and listing
        fed.wait_until(lambda: a.get("/api/v1/federation/bids").json()["results"])

        time.sleep(max(0.0, BID_WINDOW_S + 0.5 - (time.monotonic() - announced_at)))
        [routed] = step(a)["decisions"]
        assert routed["decision"] == "routed", routed
        chosen = routed["selected"]
        assert (chosen["kind"], chosen["node"]) == ("bid", "prague.loop")
        # Prague offered the highest base price whose LoopCost stays within its max_price
        # (150.00); Munich prices the bid at that base with both nodes' default signal 0.05
        breakdown = chosen["breakdown"]
        assert breakdown["export"] == breakdown["import"]
        assert Decimal("149.90") <= Decimal(chosen["loop_cost"]) <= Decimal("150.00")
        assert Decimal(breakdown["base"]) == Decimal(bid["base_price"])
        assert chosen["loop_cost"] == routed["candidates"][0]["loop_cost"]

        [match] = a.get("/api/v1/match", params={"material_id": material_id}).json()["results"]
        assert (match["status"], match["to_city"]) == ("accepted", "Prague")
        [bid_row] = a.get("/api/v1/federation/bids").json()["results"]
        assert (bid_row["status"], bid_row["match_id"]) == ("accepted", match["id"])
