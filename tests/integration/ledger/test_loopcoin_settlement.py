"""Confirmed transactions are paid in LoopCoin (DECISIONS 13, 28), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from loopnode.bootstrap import build
from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes
from loopnode.web.app import create_app
from tests import lifecycle_payloads as p
from tests.fakes import CountingHex
from tests.integration.ledger.test_loopcoin_api import API, issue, open_account
from tests.official import errors as schema_errors

EXAMPLE_05 = {
    "base_price": 60,
    "loop_cost": 104,
    "breakdown": {"export_penalty": 24, "import_penalty": 12, "distance_cost": 8},
}


@pytest.fixture(autouse=True)
def traded_material(client: Any, auth: dict[str, str]) -> None:
    """A transaction must name a material registered here (issue 15)."""
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201


def balance(client: Any, auth: dict[str, str], account: str) -> str:
    return str(client.get(f"{API}/accounts/{account}", headers=auth).json()["balance"])


def confirm(client: Any, auth: dict[str, str], transaction_id: str) -> Any:
    return client.post(
        f"/api/v1/transaction/{transaction_id}/status", json={"status": "confirmed"}, headers=auth
    )


def test_a_local_trade_pays_base_to_the_seller_and_penalties_to_the_funds(
    client: Any, auth: dict[str, str], reference_dir: Path, container: Any
) -> None:
    maria, brewery = open_account(client, auth), open_account(client, auth, "business")
    issue(client, auth, maria, "200.00")
    trade = p.transaction(
        seller="munich.loop",
        buyer="munich.loop",
        offer=EXAMPLE_05,
        buyer_account=maria,
        seller_account=brewery,
    )
    assert client.post("/api/v1/transaction", json=trade, headers=auth).status_code == 201
    assert balance(client, auth, maria) == "200.00"  # pending: nothing paid yet
    assert confirm(client, auth, trade["id"]).status_code == 200
    assert (balance(client, auth, maria), balance(client, auth, brewery)) == ("96.00", "60.00")
    assert balance(client, auth, "node:community-fund@munich.loop") == "36.00"
    assert balance(client, auth, "node:transport@munich.loop") == "8.00"
    stored = client.get(f"/api/v1/transaction/{trade['id']}", headers=auth).json()["settlement"]
    assert schema_errors(reference_dir, "transaction.schema.json", stored) == []
    parts = stored["distribution"]
    assert sum(parts.values()) == stored["final_cost"] == 104
    # A second Settlement for the same transaction is refused: it is settled.
    again = client.post(
        "/api/v1/transaction",
        json=p.settlement(seller="munich.loop", buyer="munich.loop", final_cost=104),
        headers=auth,
    )
    assert again.status_code in (400, 409)
    supply = client.get(f"{API}/supply", headers=auth).json()
    assert (supply["circulating"], supply["community_fund"]) == ("164.00", "36.00")
    # The settlement's journal entry is bound and every balance is its postings' sum.
    assert not container.evidence.verify().records


def test_a_buyer_without_the_money_cannot_confirm(client: Any, auth: dict[str, str]) -> None:
    maria = open_account(client, auth)
    issue(client, auth, maria, "50.00")
    trade = p.transaction(
        seller="munich.loop", buyer="munich.loop", offer=EXAMPLE_05, buyer_account=maria
    )
    client.post("/api/v1/transaction", json=trade, headers=auth)
    refused = confirm(client, auth, trade["id"])
    assert refused.status_code == 409
    assert (
        client.get(f"/api/v1/transaction/{trade['id']}", headers=auth).json()["status"] == "pending"
    )
    assert balance(client, auth, maria) == "50.00"


def test_a_breakdown_that_does_not_add_up_is_not_settled(client: Any, auth: dict[str, str]) -> None:
    maria = open_account(client, auth)
    issue(client, auth, maria, "500.00")
    offer = {**EXAMPLE_05, "loop_cost": 110}
    trade = p.transaction(
        seller="munich.loop", buyer="munich.loop", offer=offer, buyer_account=maria
    )
    client.post("/api/v1/transaction", json=trade, headers=auth)
    assert confirm(client, auth, trade["id"]).status_code == 409
    assert balance(client, auth, maria) == "500.00"


def test_a_transaction_without_accounts_confirms_as_before(
    client: Any, auth: dict[str, str]
) -> None:
    trade = p.transaction()
    client.post("/api/v1/transaction", json=trade, headers=auth)
    assert confirm(client, auth, trade["id"]).status_code == 200
    assert (
        client.get(f"/api/v1/transaction/{trade['id']}", headers=auth).json()["settlement"] is None
    )


@pytest.fixture
def keyed(node_settings: Any, clock: Any) -> Iterator[tuple[Any, Any]]:
    """A node with its signing key, as `loopnode init` leaves it."""
    keys.save_private_key(keys.generate_private_key(), node_settings.private_key_path)
    container = build(node_settings, clock=clock, random_hex=CountingHex())
    with TestClient(create_app(container=container)) as client:
        yield client, container


def test_a_cross_node_purchase_records_a_signed_obligation_for_the_seller_node(
    keyed: tuple[Any, Any], reference_dir: Path
) -> None:
    client, container = keyed
    auth = {"Authorization": f"Bearer {container.api_keys.create('t').secret}"}
    maria = open_account(client, auth)
    issue(client, auth, maria, "200.00")
    trade = p.transaction(
        transaction_id="TXN-2026-06-01-002",
        seller="vienna.loop",
        buyer="munich.loop",
        offer=EXAMPLE_05,
        buyer_account=maria,
        seller_currency="LC-VIE",
    )
    client.post("/api/v1/transaction", json=trade, headers=auth)
    assert confirm(client, auth, trade["id"]).status_code == 200
    assert balance(client, auth, maria) == "96.00"
    assert balance(client, auth, "node:community-fund@munich.loop") == "12.00"
    assert balance(client, auth, "node:clearing@munich.loop") == "92.00"
    with container.uow() as uow:
        (obligation,) = uow.ledger.obligations()
        queued = uow.messaging.outbox.page(None, 0, 10, channel="federation")
    assert (obligation.debtor, obligation.creditor, obligation.amount_cents) == (
        "munich.loop",
        "vienna.loop",
        9200,
    )
    document = obligation.document
    assert schema_errors(reference_dir, "loopcoin.schema.json", document) == []
    assert document["transfers"][0]["amount"] == 104
    signature = document.pop("signature")
    public = keys.load_private_key(container.settings.private_key_path).public_key()
    assert keys.verify(public, canonical_bytes(document), signature["value"])
    (row,) = [r for r in queued if r.kind == "settlement"]
    assert (row.peer_id, row.path) == ("vienna.loop", "/federate/settlement")
    assert orjson.loads(row.body)["id"] == obligation.id
