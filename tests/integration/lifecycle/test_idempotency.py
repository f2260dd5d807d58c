"""`Idempotency-Key` on every POST (SPEC-DIGEST §4.12), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from loopnode.services.idempotency import IdempotencyRequest
from loopnode.services.ports import IdempotencyRow, KeyTaken
from loopnode.services.results import Created, Replayed
from loopnode.web.idempotency import render
from tests import lifecycle_payloads as p

MAT = p.MATERIAL_ID


def post(client: Any, auth: dict[str, str], path: str, body: dict[str, Any], key: str) -> Any:
    return client.post(f"/api/v1/{path}", json=body, headers={**auth, "Idempotency-Key": key})


def evidence_count(client: Any) -> int:
    return len(client.get("/api/v1/evidence", params={"limit": 500}).json()["entries"])


@pytest.fixture
def registered(client: Any, auth: dict[str, str]) -> None:
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(
    client: Any, auth: dict[str, str], registered: None
) -> None:
    body = p.offer(MAT, 10)  # no id: a second run would mint another offer
    first = post(client, auth, "offer", body, "key-1")
    entries = evidence_count(client)
    again = post(client, auth, "offer", body, "key-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert evidence_count(client) == entries
    assert len(client.get("/api/v1/offer").json()["results"]) == 1


def test_the_same_key_with_another_body_is_409(
    client: Any, auth: dict[str, str], registered: None
) -> None:
    assert post(client, auth, "offer", p.offer(MAT, 10), "key-1").status_code == 201
    response = post(client, auth, "offer", p.offer(MAT, 11), "key-1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_the_same_key_on_another_route_is_409(
    client: Any, auth: dict[str, str], registered: None
) -> None:
    body = p.status_update(status="reserved")
    assert post(client, auth, "material-status", body, "key-1").status_code == 201
    assert post(client, auth, "offer", body, "key-1").status_code == 409


def test_keys_expire_after_24_hours(
    client: Any, auth: dict[str, str], registered: None, clock: Any
) -> None:
    body = p.offer(MAT, 10)
    first = post(client, auth, "offer", body, "key-1")
    clock.advance(hours=23, minutes=59)
    assert post(client, auth, "offer", body, "key-1").json() == first.json()
    clock.advance(minutes=2)
    later = post(client, auth, "offer", body, "key-1")
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in later.headers


def test_keys_belong_to_their_principal(
    client: Any, auth: dict[str, str], registered: None, container: Any
) -> None:
    other = {**auth, "Authorization": f"Bearer {container.api_keys.create('other').secret}"}
    body = p.offer(MAT, 10)
    first = post(client, auth, "offer", body, "shared")
    second = post(client, other, "offer", body, "shared")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


def test_a_failed_request_stores_nothing_so_the_key_can_be_retried(
    client: Any, auth: dict[str, str], registered: None
) -> None:
    too_much = p.offer(MAT, 1000)
    assert post(client, auth, "offer", too_much, "key-1").status_code == 400
    assert post(client, auth, "offer", too_much, "key-1").status_code == 400
    assert post(client, auth, "offer", p.offer(MAT, 10), "key-1").status_code == 201


def test_status_transitions_replay_instead_of_answering_409(
    client: Any, auth: dict[str, str], registered: None
) -> None:
    offer_id = post(client, auth, "offer", p.offer(MAT, 10), "k1").json()["id"]
    body = {"status": "withdrawn", "reason": "sold elsewhere"}
    first = post(client, auth, f"offer/{offer_id}/status", body, "k2")
    again = post(client, auth, f"offer/{offer_id}/status", body, "k2")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert post(client, auth, f"offer/{offer_id}/status", body, "k3").status_code == 409


def test_transactions_replay(client: Any, auth: dict[str, str]) -> None:
    post(client, auth, "material", p.material(), "m1")  # a transaction names a known material
    first = post(client, auth, "transaction", p.transaction(), "k1")
    again = post(client, auth, "transaction", p.transaction(), "k1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


@pytest.mark.parametrize("kind", ["material", "product"])
def test_registry_posts_replay_and_conflict(client: Any, auth: dict[str, str], kind: str) -> None:
    body = p.material() if kind == "material" else p.product()
    del body["id"]  # minted: a second run would register a second record
    first = post(client, auth, kind, body, "reg-1")
    again = post(client, auth, kind, body, "reg-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(client.get(f"/api/v1/{kind}").json()["results"]) == 1
    other = {**body, "current_city": "Berlin"}
    assert post(client, auth, kind, other, "reg-1").status_code == 409


def test_a_failed_registration_frees_its_key(client: Any, auth: dict[str, str]) -> None:
    invalid = {**p.material(), "quality": 7}
    assert post(client, auth, "material", invalid, "reg-1").status_code == 400
    assert post(client, auth, "material", p.material(), "reg-1").status_code == 201


@pytest.mark.parametrize("key", [b"", b"x" * 256, "caf\u00e9".encode("latin-1"), b"a b"])
def test_malformed_keys_are_400(client: Any, auth: dict[str, str], key: bytes) -> None:
    headers = {**auth, "Idempotency-Key": key}
    response = client.post("/api/v1/transaction", json=p.transaction(), headers=headers)
    assert response.status_code == 400


def test_concurrent_first_uses_of_a_key_run_the_action_once(
    client: Any, auth: dict[str, str], registered: None, container: Any
) -> None:
    body = p.offer(MAT, 10)
    request = IdempotencyRequest.of("apikey:tests", "race", "POST", "/api/v1/offer", body)
    outcomes: list[Any] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        try:
            barrier.wait()
            change = container.lifecycle.create_change("offer", body, "apikey:tests")
            outcomes.append(container.idempotency.run(request, change, render))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    replays = [o for o in outcomes if isinstance(o, Replayed)]
    firsts = [o for o in outcomes if isinstance(o, Created)]
    assert len(firsts) == 1
    assert len(replays) == 7
    assert {r.response.body["id"] for r in replays} == {firsts[0].document["id"]}
    assert len(client.get("/api/v1/offer").json()["results"]) == 1


def test_the_key_table_refuses_a_second_row_for_a_key(container: Any) -> None:
    row = IdempotencyRow("apikey:tests", "k", "a" * 64, "pending", 0, 10)
    with container.uow(write=True) as uow:
        uow.idempotency.insert(row)
    with pytest.raises(KeyTaken), container.uow(write=True) as uow:
        uow.idempotency.insert(row)


def test_expired_keys_are_purged(
    client: Any, auth: dict[str, str], container: Any, clock: Any
) -> None:
    post(client, auth, "material", p.material(), "m1")  # a transaction names a known material
    post(client, auth, "transaction", p.transaction(), "k1")
    clock.advance(hours=25)
    container.idempotency._last_purge = None  # the purge runs at most every ten minutes
    post(client, auth, "transaction", p.transaction("TXN-2026-06-01-002"), "k2")
    with container.engine.connect() as connection:
        keys = [r[0] for r in connection.execute(text("SELECT key FROM idempotency_keys"))]
    assert keys == ["k2"]  # "m1" expired with "k1"
