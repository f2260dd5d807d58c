"""Only an account's holder acts for it (issue 10 item 4, issue 15 item 2), on SQLite and
PostgreSQL: paying from a LoopCoin account, voting with it and listing demand for it. The holder
is the opening credential's pseudonymous subject; operators act for any account."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tests.accounts import open_accounts
from tests.integration.ledger.test_loopcoin_api import API, issue, transfer
from tests.integration.routing.test_signals_api import propose, vote

DEMAND = "/api/v1/demand"


def bearer(container: Any, subject: str, role: str = "trader") -> dict[str, str]:
    token = container.auth.issuer.issue(subject=subject, role=role, ttl=timedelta(minutes=30))
    return {"Authorization": f"Bearer {token.token}", "Content-Type": "application/ld+json"}


def opened(client: Any, headers: dict[str, str], kind: str = "user") -> str:
    answer = client.post(f"{API}/accounts", json={"kind": kind}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert "holder" not in answer.json()  # nothing about the credential is answered
    return str(answer.json()["id"])


def balance(client: Any, auth: dict[str, str], account: str) -> str:
    return str(client.get(f"{API}/accounts/{account}", headers=auth).json()["balance"])


def refused(answer: Any) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    assert set(answer.json()["error"]) >= {"code", "message"}


def test_the_holder_pays_and_another_trader_is_refused(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    alice, bob = bearer(container, "alice"), bearer(container, "bob")
    mine, brewery = opened(client, alice), opened(client, bob, "business")
    assert issue(client, auth, mine, "50.00").status_code == 201

    paid = client.post(f"{API}/transfer", content=transfer(mine, brewery, "10.00"), headers=alice)
    assert paid.status_code == 201, paid.text
    assert balance(client, auth, brewery) == "10.00"

    stolen_id = str(uuid.uuid4())
    stolen = client.post(
        f"{API}/transfer", content=transfer(mine, brewery, "5.00", stolen_id), headers=bob
    )
    refused(stolen)
    assert balance(client, auth, brewery) == "10.00"  # nothing posted
    assert client.get(f"{API}/transfer/{stolen_id}", headers=auth).status_code == 404
    statement = client.get(f"{API}/accounts/{mine}/statement", headers=auth).json()
    assert stolen_id not in {e["entry_id"] for e in statement["entries"]}


def test_a_holder_is_the_subject_not_the_token(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    mine = opened(client, bearer(container, "alice"))
    target = opened(client, bearer(container, "bob"))
    assert issue(client, auth, mine, "5.00").status_code == 201
    again = bearer(container, "alice")  # a fresh token for the same subject
    answer = client.post(f"{API}/transfer", content=transfer(mine, target, "1.00"), headers=again)
    assert answer.status_code == 201, answer.text


def test_an_operator_pays_from_any_account(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    mine = opened(client, bearer(container, "alice"))
    target = opened(client, bearer(container, "bob"))
    assert issue(client, auth, mine, "20.00").status_code == 201
    by_key = client.post(f"{API}/transfer", content=transfer(mine, target, "3.00"), headers=auth)
    assert by_key.status_code == 201, by_key.text
    operator = bearer(container, "ops", "operator")
    by_token = client.post(
        f"{API}/transfer", content=transfer(mine, target, "2.00"), headers=operator
    )
    assert by_token.status_code == 201, by_token.text
    assert balance(client, auth, target) == "5.00"


def test_an_account_opened_by_an_operator_key_is_not_a_traders(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    keyed = opened(client, auth)
    target = opened(client, bearer(container, "bob"))
    assert issue(client, auth, keyed, "5.00").status_code == 201
    refused(
        client.post(
            f"{API}/transfer",
            content=transfer(keyed, target, "1.00"),
            headers=bearer(container, "bob"),
        )
    )


def test_ballots_need_an_existing_account_held_by_the_caller(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    # The holder is the subject: alice opens with a trader token and votes with a voter token.
    mine = opened(client, bearer(container, "alice"))
    pid = propose(client, auth, ("plastic-pet", 0.05, 0.1))

    nobody = "user:u-nobody@munich.loop"
    unknown = vote(client, bearer(container, "alice", "voter"), pid, nobody, "for")
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["error"]["details"] == {"voter": nobody}

    refused(vote(client, bearer(container, "bob", "voter"), pid, mine, "for"))
    cast = vote(client, bearer(container, "alice", "voter"), pid, mine, "for")
    assert cast.status_code == 201, cast.text
    again = vote(client, bearer(container, "alice", "voter"), pid, mine, "against")
    assert again.status_code == 409  # one voter, one ballot
    ballots = client.get(f"/api/v1/signals/proposals/{pid}").json()["ballots"]
    assert ballots == {"for": 1, "against": 0}  # the refused ballots left nothing behind


def test_an_operator_votes_for_any_account(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    mine = opened(client, bearer(container, "alice"))
    pid = propose(client, auth, ("plastic-pet", 0.05, 0.1))
    assert vote(client, auth, pid, mine, "for").status_code == 201


def listing(requester: str) -> dict[str, Any]:
    return {
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "valid_until": "2026-06-30T00:00:00Z",
        "requester": requester,
    }


def test_demand_needs_an_existing_account_held_by_the_caller(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    alice, bob = bearer(container, "alice"), bearer(container, "bob")
    farm = opened(client, alice, "business")

    unknown = client.post(DEMAND, json=listing("business:b-ghost@munich.loop"), headers=alice)
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["error"]["details"] == {"requester": "business:b-ghost@munich.loop"}
    refused(client.post(DEMAND, json=listing(farm), headers=bob))
    assert client.get(DEMAND).json()["results"] == []

    created = client.post(DEMAND, json=listing(farm), headers=alice)
    assert created.status_code == 201, created.text
    demand_id = created.json()["id"]
    withdraw = f"{DEMAND}/{demand_id}/status"
    refused(client.post(withdraw, json={"status": "withdrawn"}, headers=bob))
    assert client.get(f"{DEMAND}/{demand_id}").json()["status"] == "open"
    done = client.post(withdraw, json={"status": "withdrawn"}, headers=alice)
    assert done.status_code == 200 and done.json()["status"] == "withdrawn"


def test_an_operator_lists_demand_for_any_account(
    client: Any, auth: dict[str, str], container: Any
) -> None:
    open_accounts(container, "business:b-farm@munich.loop", holder="someone")
    created = client.post(DEMAND, json=listing("business:b-farm@munich.loop"), headers=auth)
    assert created.status_code == 201, created.text
    withdraw = f"{DEMAND}/{created.json()['id']}/status"
    assert client.post(withdraw, json={"status": "withdrawn"}, headers=auth).status_code == 200
