"""Core-dp exchanges between real node processes on loopback (docs/core-dp.md).

munich.loop and berlin.loop run as `loopnode serve` processes with their own SQLite databases,
peered the federation way (`peers add` + `peers approve`, which installs each other's keys).
munich's operator drives the exchange with `loopnode coredp …`; what the CLI cannot deliver
stays in the durable core-dp outbox, which munich's served node delivers when berlin is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.nodes import Federation, Node, NodeSpec

pytestmark = pytest.mark.slow

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
BERLIN = NodeSpec("berlin", 52.52, 13.405, city="Berlin", city_code="BER")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Federation]:
    with Federation(tmp_path, [MUNICH, BERLIN]) as fed:
        fed.peer(fed["munich"], fed["berlin"])
        yield fed


def register(node: Node, value: float = 250) -> str:
    document = {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "category": "plastic-pet",
        "quantity": {"value": value, "unit": "kg"},
        "origin_city": node.spec.city,
        "current_city": node.spec.city,
        "available_from": "2026-01-01T08:00:00Z",
    }
    response = node.post("/api/v1/material", json=document)
    assert response.status_code == 201, response.text
    material_id: str = response.json()["id"]
    return material_id


def coredp(node: Node, *args: str) -> Any:
    return json.loads(node.cli("coredp", *args).stdout)


def conversation(node: Node, conversation_id: str) -> dict[str, Any]:
    response = node.get(f"/api/v1/core-dp/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def assert_same_entities(munich: Node, berlin: Node, steps: dict[str, Any]) -> None:
    for entity in ("offer", "match", "transfer"):
        entity_id = steps[entity]["subject"]["id"]
        ours = munich.get(f"/api/v1/{entity}/{entity_id}")
        theirs = berlin.get(f"/api/v1/{entity}/{entity_id}")
        assert ours.status_code == theirs.status_code == 200, (ours.text, theirs.text)
        assert ours.json() == theirs.json()
    transfer = steps["transfer"]
    assert transfer["state"] == "transfer-acked"
    there = conversation(berlin, transfer["conversation_id"])
    assert there["state"] == "transfer-acked"
    assert there["convergence_hash_sha256"] == transfer["convergence_hash_sha256"] is not None
    assert there["local_evidence_hash_sha256"] == transfer["local_evidence_hash_sha256"]


def test_offer_match_transfer_between_two_processes(nodes: Federation) -> None:
    munich, berlin = nodes["munich"], nodes["berlin"]
    material_id = register(munich)
    steps = coredp(
        munich,
        "send-offer",
        "--peer",
        berlin.node_id,
        "--material",
        material_id,
        "--to-city",
        "Berlin",
        "--through",
        "transfer",
    )
    assert steps["capabilities"]["state"] == "capabilities-confirmed"
    assert steps["offer"]["state"] == "offer-acked"
    assert steps["match"]["state"] == "match-accepted"
    assert_same_entities(munich, berlin, steps)
    for node in (munich, berlin):
        record = node.get(f"/api/v1/material/{material_id}").json()
        assert record["current_city"] == "Berlin"
    offer = munich.get(f"/api/v1/offer/{steps['offer']['subject']['id']}").json()
    assert offer["status"] == "withdrawn"


def test_a_peer_stopped_mid_exchange_receives_everything_after_its_restart(
    nodes: Federation,
) -> None:
    munich, berlin = nodes["munich"], nodes["berlin"]
    material_id = register(munich)
    steps = coredp(
        munich,
        "send-offer",
        "--peer",
        berlin.node_id,
        "--material",
        material_id,
        "--to-city",
        "Berlin",
    )
    offer_id = steps["offer"]["subject"]["id"]
    assert steps["offer"]["state"] == "offer-acked"

    berlin.stop()
    proposed = coredp(munich, "propose-match", "--peer", berlin.node_id, "--offer", offer_id)
    assert proposed["state"] == "match-proposed"  # queued: berlin is down
    assert proposed["partitions"] >= 1
    berlin.start()
    match_conv = proposed["conversation_id"]
    accepted = nodes.wait_until(
        lambda: (c := conversation(munich, match_conv))["state"] == "match-accepted" and c,
        timeout=60,
    )
    steps["match"] = accepted
    match_id = accepted["subject"]["id"]
    assert berlin.get(f"/api/v1/match/{match_id}").json()["status"] == "accepted"

    berlin.stop()
    dispatched = coredp(munich, "dispatch", "--peer", berlin.node_id, "--match", match_id)
    assert dispatched["state"] == "transfer-dispatched"
    berlin.start()
    steps["transfer"] = nodes.wait_until(
        lambda: (
            (c := conversation(munich, dispatched["conversation_id"]))["state"] == "transfer-acked"
            and c
        ),
        timeout=60,
    )
    nodes.wait_until(
        lambda: conversation(berlin, dispatched["conversation_id"])["state"] == "transfer-acked",
        timeout=60,
    )
    assert_same_entities(munich, berlin, steps)
    outbox = munich.get("/api/v1/core-dp/outbox").json()["entries"]
    assert {row["status"] for row in outbox} == {"delivered"}
    assert any(row["unreached"] > 0 for row in outbox)
