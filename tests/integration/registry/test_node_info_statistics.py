"""NodeInfo's transaction and user counters are live (issue 15), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests import lifecycle_payloads as p


def statistics(client: Any) -> dict[str, int]:
    found: dict[str, int] = client.get("/api/v1/node/info").json()["statistics"]
    return found


def test_transaction_and_user_counters_follow_the_data(
    client: Any, auth: dict[str, str], container: Any, clock: Any
) -> None:
    assert statistics(client)["users_active"] == 1  # the `auth` key (60 days)
    other = container.api_keys.create("second")
    container.api_keys.create("third")  # the 30-day default
    assert statistics(client)["users_active"] == 3
    container.api_keys.revoke(other.key_id)
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    for number in ("001", "002"):
        body = p.transaction(f"TXN-2026-06-01-{number}")
        assert client.post("/api/v1/transaction", json=body, headers=auth).status_code == 201
    counters = statistics(client)
    assert (counters["transactions_total"], counters["transactions_daily"]) == (2, 2)
    assert counters["users_active"] == 2
    clock.advance(hours=25)
    counters = statistics(client)
    assert (counters["transactions_total"], counters["transactions_daily"]) == (2, 0)
    clock.advance(days=30)
    assert statistics(client)["users_active"] == 1  # the 30-day key expired
