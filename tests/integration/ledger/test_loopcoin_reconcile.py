# ruff: noqa: F811 (the federation fixtures are imported by name)
"""Peers' settlements are reconciled into obligations, not rejected (DECISIONS 13, 28), on
SQLite and PostgreSQL. The node under test is munich.loop, the seller; Vienna is the buyer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopnode.protocol.jsonld import CONTEXT_V020
from tests.integration.federation.test_federation_api import (  # noqa: F401 (fixtures)
    VIENNA,
    add_peer,
    api,
    node,
    writer,
)
from tests.official import errors as schema_errors
from tests.unit.services.federation.fakes import post_signed

PATH = "/api/v1/federate/settlement"


def inter_node(**extra: Any) -> dict[str, Any]:
    return {
        "@context": CONTEXT_V020,
        "@type": "InterNodeSettlement",
        "id": "obligation-TXN-2026-06-01-002",
        "from_node": "vienna.loop",
        "to_node": "munich.loop",
        "transfers": [
            {
                "from": "user:u-1@vienna.loop",
                "to": "business:b-2@munich.loop",
                "amount": 104,
                "from_currency": "LC-VIE",
                "to_currency": "LC-MUC",
                "exchange_rate": 1.0,
                "fees": {"export_penalty": 24, "import_penalty": 12, "distance_cost": 8},
            }
        ],
        "settlement_method": "clearing",
        **extra,
    }


def example_05(reference_dir: Path, **extra: Any) -> dict[str, Any]:
    import json

    documents = json.loads((reference_dir / "examples/05-complete-flow.json").read_text())
    (settlement,) = [d for d in documents if d["@type"] == "Settlement"]
    return {**settlement, "seller": "munich.loop", "buyer": "vienna.loop", **extra}


def test_an_inter_node_settlement_becomes_an_obligation_once(
    node: Any, api: Any, writer: dict[str, str], clock: Any, reference_dir: Path
) -> None:
    add_peer(node, VIENNA)
    body = inter_node()
    assert schema_errors(reference_dir, "loopcoin.schema.json", body) == []
    first = post_signed(api, VIENNA, PATH, body, clock.now())
    assert first.status_code == 202, first.text
    assert (first.json()["amount"], first.json()["new"]) == ("92.00", True)
    clock.advance(seconds=1)
    again = post_signed(api, VIENNA, PATH, body, clock.now())
    assert again.status_code == 202 and again.json()["new"] is False
    listed = api.get("/api/v1/loopcoin/obligations", headers=writer).json()["obligations"]
    assert [(o["debtor"], o["creditor"], o["amount"], o["origin"]) for o in listed] == [
        ("vienna.loop", "munich.loop", "92.00", "received")
    ]


def test_a_spec_shaped_settlement_is_reconciled_to_the_same_amount(
    node: Any, api: Any, clock: Any, reference_dir: Path
) -> None:
    add_peer(node, VIENNA)
    spec_shape = example_05(reference_dir)  # 36 / 24 / 12 / 32: §7.4 as example 05 balances it
    answer = post_signed(api, VIENNA, PATH, spec_shape, clock.now())
    assert answer.status_code == 202, answer.text
    assert answer.json()["amount"] == "92.00"
    broken = example_05(reference_dir, transaction_id="TXN-2025-05-27-003", final_cost=110)
    clock.advance(seconds=1)
    assert post_signed(api, VIENNA, PATH, broken, clock.now()).status_code == 400


def test_only_the_debtor_node_may_send_and_only_to_us(node: Any, api: Any, clock: Any) -> None:
    add_peer(node, VIENNA)
    assert api.post(PATH, json=inter_node()).status_code == 401
    forged = inter_node(from_node="berlin.loop")
    assert post_signed(api, VIENNA, PATH, forged, clock.now()).status_code == 403
    clock.advance(seconds=1)
    elsewhere = inter_node(to_node="zurich.loop")
    assert post_signed(api, VIENNA, PATH, elsewhere, clock.now()).status_code == 400
    clock.advance(seconds=1)
    garbage = {"@type": "InterNodeSettlement", "transfers": "x"}
    assert post_signed(api, VIENNA, PATH, garbage, clock.now()).status_code == 400


def round_result(remaining: list[dict[str, str]], coordinator: str = "vienna.loop") -> Any:
    return {
        "@context": CONTEXT_V020,
        "@type": "InterNodeSettlement",
        "from_node": "vienna.loop",
        "to_node": "munich.loop",
        "transfers": [],
        "settlement_method": "clearing",
        "clearing_round": {
            "id": "round-1",
            "coordinator": coordinator,
            "obligations": [
                {
                    "id": "vienna.loop:T1",
                    "debtor": "vienna.loop",
                    "creditor": "munich.loop",
                    "amount": "92.00",
                },
                {
                    "id": "munich.loop:T2",
                    "debtor": "munich.loop",
                    "creditor": "vienna.loop",
                    "amount": "65.00",
                },
            ],
            "remaining": remaining,
        },
    }


def test_a_clearing_result_is_verified_before_it_is_applied(
    node: Any, api: Any, writer: dict[str, str], clock: Any
) -> None:
    add_peer(node, VIENNA)
    post_signed(
        api,
        VIENNA,
        PATH,
        inter_node(id="vienna.loop:T1", transfers=[{**inter_node()["transfers"][0]}]),
        clock.now(),
    )
    with node.uow(write=True) as uow:
        from loopnode.services.ledger.ports import ObligationRow

        uow.ledger.add_obligation(
            ObligationRow(
                "munich.loop:T2",
                "munich.loop",
                "vienna.loop",
                6500,
                "EUR",
                "created",
                "open",
                {},
                0,
            )
        )
    right = [{"debtor": "vienna.loop", "creditor": "munich.loop", "amount": "27.00"}]
    wrong = [{"debtor": "vienna.loop", "creditor": "munich.loop", "amount": "20.00"}]
    result = "/api/v1/federate/clearing/result"
    clock.advance(seconds=1)
    assert post_signed(api, VIENNA, result, round_result(wrong), clock.now()).status_code == 400
    clock.advance(seconds=1)
    forged = round_result(right, coordinator="berlin.loop")
    assert post_signed(api, VIENNA, result, forged, clock.now()).status_code == 403
    clock.advance(seconds=1)
    applied = post_signed(api, VIENNA, result, round_result(right), clock.now())
    assert applied.status_code == 200, applied.text
    assert applied.json()["cleared_obligations"] == 2
    listed = api.get("/api/v1/loopcoin/obligations", headers=writer).json()["obligations"]
    assert sorted((o["id"], o["status"], o["amount"]) for o in listed) == [
        ("munich.loop:T2", "cleared", "65.00"),
        ("round-1:vienna.loop>munich.loop", "open", "27.00"),
        ("vienna.loop:T1", "cleared", "92.00"),
    ]

    clock.advance(seconds=1)
    again = post_signed(api, VIENNA, result, round_result(right), clock.now())
    assert again.status_code == 200 and again.json()["new_obligations"] == 0
    other = round_result(right)
    other["clearing_round"]["id"] = "round-2"
    clock.advance(seconds=1)
    assert post_signed(api, VIENNA, result, other, clock.now()).status_code == 409


def test_the_seller_is_paid_in_this_nodes_currency_from_the_clearing_account(
    node: Any, api: Any, writer: dict[str, str], clock: Any
) -> None:
    add_peer(node, VIENNA)
    loopcoin = "/api/v1/loopcoin"
    seller = api.post(f"{loopcoin}/accounts", json={"kind": "business"}, headers=writer)
    seller_id = seller.json()["id"]
    body = inter_node()
    body["transfers"][0] = {**body["transfers"][0], "to": seller_id, "exchange_rate": 0.5}
    first = post_signed(api, VIENNA, PATH, body, clock.now())
    assert first.json()["payout"]["status"] == "pending"  # nothing to pay with yet
    clearing = "node:clearing@munich.loop"
    fund = {"to": clearing, "amount": "200.00", "reserve_deposit": "200.00"}
    assert api.post(f"{loopcoin}/issue", json=fund, headers=writer).status_code == 201
    clock.advance(seconds=1)
    second = post_signed(api, VIENNA, PATH, {**body, "id": "vienna.loop:T9"}, clock.now())
    assert second.status_code == 202, second.text
    # 1 LC-VIE = 0.5 EUR, 1 LC-MUC = 1 EUR: base 60 → 30.00, export 24 → 12.00, distance 8 → 4.00
    assert second.json()["payout"] == {
        **second.json()["payout"],
        "status": "paid",
        "amount": "46.00",
    }
    assert second.json()["amount"] == "46.00"

    def balance(account: str) -> str:
        return str(api.get(f"{loopcoin}/accounts/{account}", headers=writer).json()["balance"])

    assert balance(seller_id) == "30.00"
    assert balance("node:community-fund@munich.loop") == "12.00"
    assert balance("node:transport@munich.loop") == "4.00"
    assert balance(clearing) == "154.00"
    assert not node.evidence.verify().records  # the payout's entry is bound, balances add up
