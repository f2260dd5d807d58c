"""The overflow policy, stepped with a fake clock on SQLite and PostgreSQL (issue 11 item 5):
local demand absorbs a lot; only a lot nobody here wants is announced, bid on and routed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol.canonical import sha256_hex
from tests.accounts import open_accounts
from tests.routing_helpers import CONTEXT, VIENNA, add_peer, install

LOCAL = "MAT-DE-MUC-2026-ORGANIC-A00001"
SURPLUS = "MAT-DE-MUC-2026-ORGANIC-A00002"


@pytest.fixture(autouse=True)
def farm_account(container: Any) -> None:
    """Ballots and listings name existing LoopCoin accounts (services/access/ownership.py)."""
    open_accounts(container, "business:b-farm@munich.loop")


@pytest.fixture
def node_settings(tmp_path: Path, database_url: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from loopnode.config import load_settings
    from loopnode.protocol import keys

    keys.save_private_key(
        Ed25519PrivateKey.from_private_bytes(b"\x01" * 32), tmp_path / "node_ed25519.key"
    )
    return load_settings(
        tmp_path,
        node_id="munich.loop",
        city="Munich",
        city_code="MUC",
        lat=48.137,
        lon=11.575,
        base_url="https://munich.example",
        database_url=database_url,
        signals={"organic-food": Decimal("0.40"), "default": Decimal("0.05")},
        peer_distances_km={"vienna.loop": Decimal(400)},
        overflow_local_window_s=3600,
        overflow_bid_window_s=3600,
        federation_worker=False,
    )


@pytest.fixture
def munich(client: Any, container: Any) -> Any:
    add_peer(container, *VIENNA)
    install(container, {"vienna.loop": {"organic-food": 0.2}})
    return container


def register(client: Any, auth: dict[str, str], material_id: str) -> None:
    body = {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "id": material_id,
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-06-01T08:00:00Z",
        "base_price": "60.00",
    }
    assert client.post("/api/v1/material", json=body, headers=auth).status_code == 201


def want(client: Any, auth: dict[str, str]) -> str:
    body = {
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "max_price": "70.00",
        "valid_until": "2026-06-30T00:00:00Z",
        "requester": "business:b-farm@munich.loop",
    }
    return str(client.post("/api/v1/demand", json=body, headers=auth).json()["id"])


def step(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    answer = client.post("/api/v1/routing/step", headers=auth)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def announcements(container: Any) -> list[Any]:
    with container.federation.uow() as uow:
        rows = uow.messaging.outbox.page(None, 0, 100, channel="federation")
    return [row for row in rows if row.kind == "announce"]


def bid(container: Any, material_id: str) -> None:
    container.federation.bids.receive(
        "vienna.loop",
        {
            "@context": CONTEXT,
            "@type": "MaterialOffer",
            "material": material_id,
            "from": "vienna.loop",
            "base_price": 60,
            "loop_cost": 104,
            "valid_until": "2026-06-10T00:00:00Z",
            "to_city": "Vienna",
        },
    )


def matches(client: Any, material_id: str) -> list[dict[str, Any]]:
    page = client.get("/api/v1/match", params={"material_id": material_id}).json()
    results: list[dict[str, Any]] = page["results"]
    return results


def test_local_demand_absorbs_and_only_a_short_lot_overflows(
    client: Any, auth: dict[str, str], munich: Any, clock: Any
) -> None:
    farm = want(client, auth)
    register(client, auth, LOCAL)
    first = step(client, auth)
    assert first["enrolled"] == 1
    [absorbed] = first["decisions"]
    assert absorbed["decision"] == "absorbed"
    assert absorbed["selected"]["ref"] == farm and absorbed["selected"]["loop_cost"] == "60.00"
    [match] = matches(client, LOCAL)
    assert match["status"] == "accepted" and match["to_city"] == "Munich"
    assert client.get(f"/api/v1/demand/{farm}").json()["status"] == "matched"
    assert announcements(munich) == []

    register(client, auth, SURPLUS)
    assert step(client, auth)["decisions"] == []  # still in its local window
    assert announcements(munich) == []
    clock.advance(hours=2)
    [announced] = step(client, auth)["decisions"]
    assert (announced["material_id"], announced["decision"]) == (SURPLUS, "announced")
    assert [row.peer_id for row in announcements(munich)] == ["vienna.loop"]

    bid(munich, SURPLUS)
    assert step(client, auth)["decisions"] == []  # bids are collected until the deadline
    clock.advance(hours=2)
    [routed] = step(client, auth)["decisions"]
    assert routed["decision"] == "routed"
    assert (routed["selected"]["node"], routed["selected"]["loop_cost"]) == (
        "vienna.loop",
        "104.00",
    )
    assert routed["selected"]["breakdown"] == {
        "base": "60.00",
        "export": "24.00",
        "import": "12.00",
        "distance": "8.00",
    }
    [remote_match] = matches(client, SURPLUS)
    assert remote_match["to_city"] == "Vienna" and remote_match["id"] == routed["match_id"]
    states = {
        r["material_id"]: r["state"]
        for r in client.get("/api/v1/routing/overflow", headers=auth).json()["results"]
    }
    assert states == {LOCAL: "absorbed", SURPLUS: "routed"}
    entries = client.get("/api/v1/evidence", params={"limit": 500}).json()["entries"]
    routed_entries = [e for e in entries if e["event_type"] == "material.routed"]
    assert [e["subject"]["id"] for e in routed_entries] == [LOCAL, SURPLUS, SURPLUS]
    # the entry proves the decision with its costs: its payload hash is the decision's
    assert routed_entries[-1]["payload_hash_sha256"] == sha256_hex(routed)


def test_without_bids_the_deadline_moves_on(
    client: Any, auth: dict[str, str], munich: Any, clock: Any
) -> None:
    register(client, auth, SURPLUS)
    step(client, auth)
    clock.advance(hours=2)
    step(client, auth)
    clock.advance(hours=2)
    [waiting] = step(client, auth)["decisions"]
    assert waiting["decision"] == "no-bid"
    assert matches(client, SURPLUS) == []


def test_the_operator_confirms_when_auto_select_is_off(
    node_settings: Any, clock: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app
    from tests.fakes import CountingHex

    settings = node_settings.model_copy(update={"overflow_auto_select": False})
    built = build(settings, clock=clock, random_hex=CountingHex())
    try:
        with TestClient(create_app(container=built)) as client:
            auth = {"Authorization": f"Bearer {built.api_keys.create('t').secret}"}
            want(client, auth)
            register(client, auth, LOCAL)
            [proposed] = step(client, auth)["decisions"]
            assert proposed["decision"] == "proposed-absorbed"
            assert matches(client, LOCAL) == []
            answer = client.post(f"/api/v1/material/{LOCAL}/routes/confirm", headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["decision"] == "confirmed-absorbed"
            assert len(matches(client, LOCAL)) == 1
            again = client.post(f"/api/v1/material/{LOCAL}/routes/confirm", headers=auth)
            assert again.status_code == 409
    finally:
        built.close()


def test_two_workers_stepping_at_once_route_a_lot_once(
    client: Any, auth: dict[str, str], munich: Any
) -> None:
    import threading

    want(client, auth)
    register(client, auth, LOCAL)
    munich.routing.overflow.enrol()
    barrier = threading.Barrier(4)
    reports: list[dict[str, Any]] = []

    def run() -> None:
        barrier.wait()
        reports.append(munich.routing.overflow.step())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    decided = [d for r in reports for d in r["decisions"]]
    assert [d["decision"] for d in decided] == ["absorbed"]
    assert len(matches(client, LOCAL)) == 1


def test_the_background_worker_steps_by_itself(node_settings: Any, clock: Any) -> None:
    import time

    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app
    from tests.fakes import CountingHex

    settings = node_settings.model_copy(update={"overflow_worker": True, "overflow_poll_s": 0.05})
    built = build(settings, clock=clock, random_hex=CountingHex())
    try:
        with TestClient(create_app(container=built)) as client:
            auth = {"Authorization": f"Bearer {built.api_keys.create('t').secret}"}
            farm = want(client, auth)
            register(client, auth, LOCAL)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if client.get(f"/api/v1/demand/{farm}").json()["status"] == "matched":
                    break
                time.sleep(0.05)
            assert client.get(f"/api/v1/demand/{farm}").json()["status"] == "matched"
    finally:
        built.close()


def test_the_relay_holds_a_lot_back_until_the_policy_overflows_it(
    node_settings: Any, clock: Any
) -> None:
    """Local first (issue 11 item 5): with the policy on, registering a lot announces nothing;
    only the overflow step, once the local window has passed, puts it on the federation."""
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app
    from tests.fakes import CountingHex

    settings = node_settings.model_copy(update={"overflow_worker": True, "overflow_poll_s": 3600})
    node = build(settings, clock=clock, random_hex=CountingHex())
    try:
        add_peer(node, *VIENNA)
        install(node, {"vienna.loop": {"organic-food": 0.2}})
        headers = {"Authorization": f"Bearer {node.api_keys.create('t').secret}"}
        with TestClient(create_app(container=node)) as client:
            register(client, headers, SURPLUS)
            assert node.federation.announcements.relay() == 1  # seen, and held back
            assert announcements(node) == []
            step(client, headers)  # enrolled: still in its local window
            clock.advance(hours=2)
            [announced] = step(client, headers)["decisions"]
            assert announced["decision"] == "announced"
            assert [row.peer_id for row in announcements(node)] == ["vienna.loop"]
    finally:
        node.close()
