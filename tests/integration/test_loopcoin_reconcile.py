# ruff: noqa: F811 (the federation fixtures are imported by name)
"""Peers' settlements are reconciled into obligations, not rejected (DECISIONS 13, 28), on
SQLite and PostgreSQL. The node under test is munich.loop, the seller; Vienna is the buyer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopnode.protocol.jsonld import CONTEXT_V020
from tests.integration.test_federation_api import (  # noqa: F401 (fixtures)
    VIENNA,
    add_peer,
    api,
    node,
    writer,
)
from tests.official import errors as schema_errors
from tests.unit.federation.fakes import post_signed

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
