"""The LoopCoin HTTP API on SQLite and PostgreSQL (issue 10): config, accounts, issuance,
transfers with their contract status codes, decay seen through balances and supply."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from loopnode.domain.decay import add_months
from loopnode.domain.times import format_timestamp
from loopnode.protocol.jsonld import CONTEXT_V020
from tests.fakes import FakeClock
from tests.official import errors as schema_errors

API = "/api/v1/loopcoin"


def open_account(client: Any, auth: dict[str, str], kind: str = "user") -> str:
    answer = client.post(f"{API}/accounts", json={"kind": kind}, headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def issue(client: Any, auth: dict[str, str], to: str, amount: str) -> Any:
    body = {"to": to, "amount": amount, "reserve_deposit": amount}
    return client.post(f"{API}/issue", json=body, headers=auth)


def transfer(source: str, target: str, amount: Any, transfer_id: str | None = None) -> str:
    """A LoopCoinTransfer body as raw JSON text, so amounts reach the node exactly as written."""
    return (
        f'{{"@context": "{CONTEXT_V020}", "@type": "LoopCoinTransfer",'
        f' "id": "{transfer_id or uuid.uuid4()}", "from": "{source}", "to": "{target}",'
        f' "amount": {amount}, "currency": "LC-MUC", "timestamp": "2026-06-01T12:00:00Z"}}'
    )


def pay(client: Any, auth: dict[str, str], body: str) -> Any:
    return client.post(f"{API}/transfer", content=body, headers=auth)


def test_config_is_public_schema_valid_and_shows_the_live_supply(
    client: Any, auth: dict[str, str], reference_dir: Path
) -> None:
    first = client.get(f"{API}/config")
    assert first.status_code == 200
    assert schema_errors(reference_dir, "loopcoin.schema.json", first.json()) == []
    assert first.json()["current_supply"] == 0
    assert first.json()["currency_code"] == "LC-MUC"
    account = open_account(client, auth)
    assert issue(client, auth, account, "1500.50").status_code == 201
    assert client.get(f"{API}/config").json()["current_supply"] == 1500
    assert client.get("/api/v1/node/info").json()["statistics"]["loopcoin_supply"] == 1500


def test_accounts_are_pseudonymous_and_personal_data_is_refused(
    client: Any, auth: dict[str, str]
) -> None:
    account = open_account(client, auth, "business")
    assert account.startswith("business:b-") and account.endswith("@munich.loop")
    user = open_account(client, auth)
    assert user.startswith("user:u-")
    refused = client.post(
        f"{API}/accounts", json={"kind": "user", "email": "maria@example.org"}, headers=auth
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_REQUEST"
    assert client.post(f"{API}/accounts", json={"kind": "robot"}, headers=auth).status_code == 400
    assert client.post(f"{API}/accounts", json={"kind": "user"}).status_code == 401
    shown = client.get(f"{API}/accounts/{user}", headers=auth).json()
    assert shown == {
        "id": user,
        "kind": "user",
        "currency": "LC-MUC",
        "at": shown["at"],
        "balance": "0.00",
        "lots": [],
    }
    assert client.get(f"{API}/accounts/user:u-nobody@munich.loop", headers=auth).status_code == 404


def test_issuance_is_capped_by_reserve_and_a_refusal_posts_nothing(
    client: Any, auth: dict[str, str]
) -> None:
    account = open_account(client, auth)
    short = client.post(
        f"{API}/issue", json={"to": account, "amount": "100", "reserve_deposit": "50"}, headers=auth
    )
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "CONFLICT"
    supply = client.get(f"{API}/supply", headers=auth).json()
    assert supply["issued"] == "0.00" and supply["reserve"] == "0.00"
    assert issue(client, auth, account, "100").status_code == 201
    over = client.post(
        f"{API}/issue",
        json={"to": account, "amount": "1000000", "reserve_deposit": "2000000"},
        headers=auth,
    )
    assert over.status_code == 409  # max_issuance is 1,000,000 and 100 are out


def test_a_transfer_pays_answers_idempotently_and_refuses_bad_amounts(
    client: Any, auth: dict[str, str], reference_dir: Path
) -> None:
    maria, brewery = open_account(client, auth), open_account(client, auth, "business")
    assert issue(client, auth, maria, "100.00").status_code == 201
    body = transfer(maria, brewery, "9.01")
    first = pay(client, auth, body)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert schema_errors(reference_dir, "loopcoin.schema.json", stored) == []
    again = pay(client, auth, body)
    assert again.status_code == 200 and again.json() == stored
    assert client.get(first.headers["Location"], headers=auth).json() == stored
    assert client.get(f"{API}/transfer/{uuid.uuid4()}", headers=auth).status_code == 404
    reused = pay(client, auth, body.replace('"amount": 9.01', '"amount": 9.02'))
    assert reused.status_code == 409
    for amount in ("0.001", "-1", "0", "9.015", "0.009"):
        refused = pay(client, auth, transfer(maria, brewery, amount))
        assert refused.status_code == 400, amount
        assert refused.json()["error"]["code"] == "INVALID_REQUEST"
    broke = pay(client, auth, transfer(maria, brewery, "1000.00"))
    assert broke.status_code == 409 and broke.json()["error"]["code"] == "CONFLICT"
    assert client.get(f"{API}/accounts/{maria}", headers=auth).json()["balance"] == "90.99"
    assert client.get(f"{API}/accounts/{brewery}", headers=auth).json()["balance"] == "9.01"
    entries = client.get(f"{API}/accounts/{maria}/statement", headers=auth).json()["entries"]
    assert [(e["kind"], e["amount"]) for e in entries] == [
        ("issue", "100.00"),
        ("transfer", "-9.01"),
    ]


def test_foreign_currency_and_foreign_accounts_are_refused(
    client: Any, auth: dict[str, str]
) -> None:
    maria = open_account(client, auth)
    issue(client, auth, maria, "10")
    other_currency = transfer(maria, "user:u-x@munich.loop", "1").replace("LC-MUC", "LC-BER")
    assert pay(client, auth, other_currency).status_code == 400
    assert pay(client, auth, transfer(maria, "user:u-x@berlin.loop", "1")).status_code == 400
    assert pay(client, auth, transfer(maria, "user:u-unknown@munich.loop", "1")).status_code == 400
    assert pay(client, auth, "[1, 2]").status_code == 400
    assert pay(client, auth, '{"amount": NaN}').status_code == 400


def test_decay_moves_value_to_the_community_fund_and_local_bonus_comes_back_from_it(
    client: Any, auth: dict[str, str], clock: FakeClock, container: Any
) -> None:
    maria, brewery = open_account(client, auth), open_account(client, auth, "business")
    issue(client, auth, maria, "1000.00")
    received = clock.now()
    at = format_timestamp(add_months(received, 6))
    projected = client.get(f"{API}/accounts/{maria}", params={"at": at}, headers=auth).json()
    assert projected["balance"] == "950.00"
    later = client.get(f"{API}/supply", params={"at": at}, headers=auth).json()
    assert (later["circulating"], later["community_fund"]) == ("950.00", "50.00")
    assert client.get(f"{API}/accounts/{maria}", headers=auth).json()["balance"] == "1000.00"
    assert (
        client.get(f"{API}/supply", params={"at": "2000-01-01T00:00:00Z"}, headers=auth).status_code
        == 400
    )
    assert client.get(f"{API}/supply", params={"at": "yesterday"}, headers=auth).status_code == 400
    clock.current = add_months(received, 7)
    auth = {**auth, "Authorization": f"Bearer {container.api_keys.create('later').secret}"}
    assert client.get(f"{API}/accounts/{maria}", headers=auth).json()["balance"] == "902.50"
    # Paying materialises the decay (97.50 to the fund) and earns 5 % back from the fund.
    assert pay(client, auth, transfer(maria, brewery, "100.00")).status_code == 201
    assert client.get(f"{API}/accounts/{maria}", headers=auth).json()["balance"] == "807.50"
    supply = client.get(f"{API}/supply", headers=auth).json()
    assert supply == {
        **supply,
        "issued": "1000.00",
        "redeemed": "0.00",
        "circulating": "907.50",
        "community_fund": "92.50",
    }
    kinds = [
        e["kind"]
        for e in client.get(f"{API}/accounts/{maria}/statement", headers=auth).json()["entries"]
    ]
    assert kinds == ["issue", "decay", "transfer"]


def test_redemption_burns_coins_and_releases_reserve(client: Any, auth: dict[str, str]) -> None:
    maria = open_account(client, auth)
    issue(client, auth, maria, "50.00")
    answer = client.post(f"{API}/redeem", json={"from": maria, "amount": "20.00"}, headers=auth)
    assert answer.status_code == 201
    assert answer.json()["reserve_released"] == "20.00"
    too_much = client.post(f"{API}/redeem", json={"from": maria, "amount": "31"}, headers=auth)
    assert too_much.status_code == 409
    supply = client.get(f"{API}/supply", headers=auth).json()
    assert (supply["issued"], supply["redeemed"], supply["circulating"], supply["reserve"]) == (
        "50.00",
        "20.00",
        "30.00",
        "30.00",
    )


@pytest.mark.parametrize("path", ["issue", "redeem", "transfer", "accounts"])
def test_writes_need_a_key_and_garbage_is_a_400_not_a_500(
    client: Any, auth: dict[str, str], path: str
) -> None:
    assert client.post(f"{API}/{path}", json={}).status_code == 401
    for body in ("{}", '{"to": 5, "from": [], "amount": {}}', "null", '"x"'):
        answer = client.post(f"{API}/{path}", content=body, headers=auth)
        assert answer.status_code == 400, (body, answer.text)


def test_absurdly_large_amounts_are_refused_not_overflowed(
    client: Any, auth: dict[str, str]
) -> None:
    maria, brewery = open_account(client, auth), open_account(client, auth, "business")
    huge = {"to": maria, "amount": "1", "reserve_deposit": 1e300}
    assert client.post(f"{API}/issue", json=huge, headers=auth).status_code == 400
    assert pay(client, auth, transfer(maria, brewery, "1e300")).status_code == 400
    redeem = {"from": maria, "amount": "99999999999999999999"}
    assert client.post(f"{API}/redeem", json=redeem, headers=auth).status_code == 400
    assert (
        client.post(
            f"{API}/issue", json={"to": maria, "amount": "1", "id": "x"}, headers=auth
        ).status_code
        == 400
    )
