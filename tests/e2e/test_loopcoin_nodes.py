"""A cross-node trade between two real node processes is paid in LoopCoin (issue 10): Munich
buys from Vienna; confirming the transaction on Munich pays the LoopCost from the buyer's
account and the signed InterNodeSettlement reaches Vienna over the federation outbox, where it
becomes the same obligation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import lifecycle_payloads as p
from tests.e2e.nodes import Federation, Node, NodeSpec

pytestmark = pytest.mark.slow

MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
VIENNA = NodeSpec("vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE")
OFFER = {
    "base_price": 60,
    "loop_cost": 104,
    "breakdown": {"export_penalty": 24, "import_penalty": 12, "distance_cost": 8},
}


def ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def register_material(node: Node) -> None:
    """A transaction must name a material registered on the node recording it (issue 15)."""
    answer = node.post("/api/v1/material", json=p.material())
    assert answer.status_code in (200, 201, 409), answer.text


def obligations(node: Node) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(node.get("/api/v1/loopcoin/obligations"), 200)["obligations"]
    return listed


def test_a_purchase_from_another_node_is_paid_and_owed_on_both_sides(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        munich, vienna = fed["munich"], fed["vienna"]
        fed.peer(munich, vienna)
        buyer = ok(munich.post("/api/v1/loopcoin/accounts", json={"kind": "business"}))["id"]
        issue = {"to": buyer, "amount": "200.00", "reserve_deposit": "200.00"}
        ok(munich.post("/api/v1/loopcoin/issue", json=issue))
        seller = ok(vienna.post("/api/v1/loopcoin/accounts", json={"kind": "business"}))["id"]
        prefund = {"to": "node:clearing@vienna.loop", "amount": "100", "reserve_deposit": "100"}
        ok(vienna.post("/api/v1/loopcoin/issue", json=prefund))
        trade = p.transaction(
            transaction_id="TXN-2026-12-06-001",
            seller="vienna.loop",
            buyer="munich.loop",
            offer=OFFER,
            buyer_account=buyer,
            seller_account=seller,
            seller_currency="LC-VIE",
        )
        register_material(munich)
        ok(munich.post("/api/v1/transaction", json=trade))
        status = {"status": "confirmed"}
        ok(munich.post(f"/api/v1/transaction/{trade['id']}/status", json=status), 200)
        balance = ok(munich.get(f"/api/v1/loopcoin/accounts/{buyer}"), 200)["balance"]
        assert balance == "96.00"
        received = fed.wait_until(lambda: obligations(vienna))
        created = obligations(munich)
        assert [(o["debtor"], o["creditor"], o["amount"]) for o in created] == [
            ("munich.loop", "vienna.loop", "92.00")
        ]
        assert [(o["debtor"], o["creditor"], o["amount"], o["origin"]) for o in received] == [
            ("munich.loop", "vienna.loop", "92.00", "received")
        ]
        # Vienna paid its seller in LC-VIE out of its pre-funded clearing account.
        paid = ok(vienna.get(f"/api/v1/loopcoin/accounts/{seller}"), 200)["balance"]
        assert paid == "60.00"


def buy(buyer_node: Node, seller: str, txn: str, offer: dict[str, Any], amount: str) -> None:
    account = ok(buyer_node.post("/api/v1/loopcoin/accounts", json={"kind": "business"}))["id"]
    issue = {"to": account, "amount": amount, "reserve_deposit": amount}
    ok(buyer_node.post("/api/v1/loopcoin/issue", json=issue))
    trade = p.transaction(
        transaction_id=txn,
        seller=seller,
        buyer=buyer_node.node_id,
        offer=offer,
        buyer_account=account,
    )
    register_material(buyer_node)
    ok(buyer_node.post("/api/v1/transaction", json=trade))
    status = {"status": "confirmed"}
    ok(buyer_node.post(f"/api/v1/transaction/{txn}/status", json=status), 200)


def open_pairs(node: Node) -> list[tuple[str, str, str]]:
    return sorted(
        (o["debtor"], o["creditor"], o["amount"])
        for o in obligations(node)
        if o["status"] == "open"
    )


def test_trades_both_ways_then_a_clearing_round_both_nodes_apply(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        munich, vienna = fed["munich"], fed["vienna"]
        fed.peer(munich, vienna)
        buy(munich, "vienna.loop", "TXN-2026-12-06-001", OFFER, "200.00")  # Munich owes 92
        back = {
            "base_price": 50,
            "loop_cost": 70,
            "breakdown": {"export_penalty": 10, "import_penalty": 5, "distance_cost": 5},
        }
        buy(vienna, "munich.loop", "TXN-2026-12-06-002", back, "100.00")  # Vienna owes 65
        both = [("munich.loop", "vienna.loop", "92.00"), ("vienna.loop", "munich.loop", "65.00")]
        fed.wait_until(lambda: open_pairs(munich) == both and open_pairs(vienna) == both)

        done = munich.cli("clearing", "run", "--json")
        report = json.loads(done.stdout)
        assert (report["total"], report["cleared"], report["bilateral_netting"]) == (
            "157.00",
            "130.00",
            "130.00",
        )
        assert report["problems"] == {}
        assert report["remaining"] == [
            {"debtor": "munich.loop", "creditor": "vienna.loop", "amount": "27.00"}
        ]
        assert open_pairs(munich) == open_pairs(vienna) == [("munich.loop", "vienna.loop", "27.00")]
        ids = {o["id"] for o in obligations(munich) if o["status"] == "open"}
        assert ids == {o["id"] for o in obligations(vienna) if o["status"] == "open"}
        # Both nodes recorded the round they applied (docs/clearing-rounds.md).
        for node in (munich, vienna):
            (record,) = ok(node.get("/api/v1/clearing/rounds"), 200)["rounds"]
            assert record["id"] == report["round"] and record["coordinator"] == "munich.loop"
            assert (record["total"], record["cleared"], record["bilateral_netting"]) == (
                "157.00",
                "130.00",
                "130.00",
            )
        again = json.loads(munich.cli("clearing", "run", "--json").stdout)
        assert again["cleared"] == "0.00" and again["total"] == "27.00"
        assert len(ok(munich.get("/api/v1/clearing/rounds"), 200)["rounds"]) == 1


def test_the_scheduled_round_clears_without_an_operator(tmp_path: Path) -> None:
    fast = {"loopcoin_clearing_interval_h": 0.001}  # every 3.6 s
    munich_spec = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC", settings=fast)
    vienna_spec = NodeSpec(
        "vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE", settings=fast
    )
    with Federation(tmp_path, [munich_spec, vienna_spec]) as fed:
        munich, vienna = fed["munich"], fed["vienna"]
        fed.peer(munich, vienna)
        buy(munich, "vienna.loop", "TXN-2026-12-06-001", OFFER, "200.00")
        back = {"base_price": 50, "loop_cost": 50}
        buy(vienna, "munich.loop", "TXN-2026-12-06-002", back, "100.00")  # Vienna owes 50
        settled = [("munich.loop", "vienna.loop", "42.00")]
        fed.wait_until(
            lambda: open_pairs(munich) == settled and open_pairs(vienna) == settled, timeout=60
        )
