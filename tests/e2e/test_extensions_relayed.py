"""Extension blocks reach another node unchanged by every path that carries a whole passport.

munich.loop and berlin.loop run as `loopnode serve` processes on loopback with their own SQLite
databases, peered the federation way. munich registers a MaterialDNA carrying every extension
block (`passport`, `classification`, `traceability`, `conformity_claims`), each with members
the schema does not know. The passport then reaches berlin by the paths that carry it whole —
berlin's cross-node search, a core-dp `material.read` from berlin, and the core-dp exchange
that gives berlin the record its offer is about and carries it through a transfer to Berlin —
and every block must arrive equal to what munich registered, as JSON values. (Federation
announcements carry a summary, not the passport, so they are not a path.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes
from loopnode.protocol.coredp.envelope import (
    NodeRef,
    build_envelope,
    new_idempotency_key,
    new_message_id,
    sign_envelope,
)
from loopnode.services.coredp.messages import advertised_endpoint
from tests.e2e.nodes import Federation, Node, NodeSpec

pytestmark = pytest.mark.slow

MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
BERLIN = NodeSpec("berlin", 52.52, 13.405, city="Berlin", city_code="BER")
BLOCKS = ("passport", "classification", "traceability", "conformity_claims")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Federation]:
    with Federation(tmp_path, [MUNICH, BERLIN]) as fed:
        fed.peer(fed["munich"], fed["berlin"])
        yield fed


def passport(reference_dir: Path) -> dict[str, Any]:
    """The official DPP-extensions example with a conformity claim and unknown members."""
    examples = reference_dir / "examples"
    document: dict[str, Any] = json.loads(
        (examples / "12-material-dna-dpp-extensions.json").read_text()
    )
    document.pop("expires")  # the example's week lies in the past of a real clock
    document["available_from"] = "2026-01-01T08:00:00Z"
    document["passport"]["x_city_scheme"] = {"bin": "B-7", "codes": [1, 2.5, -0.0, "ü€"]}
    document["classification"]["x_local_code"] = "MUC-17"
    document["traceability"]["epcis_event_refs"][0]["x_note"] = {"nested": [True, None]}
    document["traceability"]["x_lane"] = 3
    document["conformity_claims"][0]["x_by"] = "lab"
    document["conformity_claims"].append(
        {"claim_id": "CLM-X-002", "conformance": False, "x_detail": {"ratio": 0.125}}
    )
    return document


def product(reference_dir: Path, material_id: str) -> dict[str, Any]:
    """The official product example made of `material_id`, with every ProductDNA block."""
    path = reference_dir / "examples" / "14-product-reuse-registration.json"
    document: dict[str, Any] = json.loads(path.read_text())
    document["material_ids"] = [material_id]
    document["passport"]["x_reuse_grade"] = {"grade": "A", "score": 8.75}
    document["traceability"] = {"batch_id": "B-1", "x_lane": 3, "document_refs": []}
    document["conformity_claims"] = [{"claim_id": "C-1", "conformance": True, "x_by": "lab"}]
    return document


def blocks(document: dict[str, Any]) -> dict[str, Any]:
    return {name: document.get(name) for name in BLOCKS}


def assert_unchanged(relayed: dict[str, Any], sent: dict[str, Any]) -> None:
    assert blocks(relayed) == blocks(sent)
    # Equal values could still differ in kind (1 vs 1.0, -0.0 vs 0): compare canonical bytes.
    for name in BLOCKS:
        assert canonical_bytes(relayed.get(name)) == canonical_bytes(sent.get(name)), name


def search(node: Node, kind: str, subject_node: str, **filters: Any) -> list[dict[str, Any]]:
    request = {
        "entity_type": kind,
        "scope": "cross-node",
        "filters": filters,
        "limit": 20,
        "consistency": "eventual",
        "auth": {"mode": "node-signature", "subject_node": subject_node},
    }
    answer = node.post(f"/api/v1/{kind}/search", json=request)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def read_envelope(
    reader: Node, origin: Node, record_id: str, kind: str = "material"
) -> dict[str, Any]:
    """A `{kind}.read` core-dp envelope signed with `reader`'s node key."""
    key = reader.private_key()

    def ref(node: Node, key_id: str) -> NodeRef:
        return NodeRef(node.node_id, advertised_endpoint(node.base_url, node.node_id), key_id)

    origin_key = keys.key_id(keys.public_raw(origin.private_key()), origin.node_id)
    body = {
        "message_type": f"{kind}.read",
        "operation": "read_request",
        "entity_type": kind,
        "request_id": "req_" + new_message_id()[4:],
        "record_id": record_id,
    }
    envelope = build_envelope(
        message_type=f"{kind}.read",
        sender=ref(reader, keys.key_id(keys.public_raw(key), reader.node_id)),
        receiver=ref(origin, origin_key),
        body=body,
        message_id=new_message_id(),
        idempotency_key=new_idempotency_key(),
        created_at=datetime.now(UTC),
    )
    return sign_envelope(envelope, key)


def test_extension_blocks_reach_another_node_unchanged(
    nodes: Federation, reference_dir: Path
) -> None:
    munich, berlin = nodes["munich"], nodes["berlin"]
    sent = passport(reference_dir)
    material_id = sent["id"]
    registered = munich.post("/api/v1/material", json=sent)
    assert registered.status_code == 201, registered.text
    assert_unchanged(munich.get(f"/api/v1/material/{material_id}").json(), sent)

    desk = product(reference_dir, material_id)
    registered = munich.post("/api/v1/product", json=desk)
    assert registered.status_code == 201, registered.text

    # Cross-node search: berlin asks munich and answers with munich's passports.
    results = search(berlin, "material", berlin.node_id, category_prefix="plastic")
    (found,) = [r for r in results if r["id"] == material_id]
    assert found["source_node"] == munich.node_id
    assert_unchanged(found, sent)
    results = search(berlin, "product", berlin.node_id, id_prefix="PRD-DE-MUC")
    (found,) = [r for r in results if r["id"] == desk["id"]]
    assert_unchanged(found, desk)

    # Core-dp *.read: berlin reads the records from munich.
    for kind, document in (("material", sent), ("product", desk)):
        envelope = read_envelope(berlin, munich, document["id"], kind)
        response = munich.post("/api/v1/core-dp/messages", json=envelope)
        assert response.status_code == 200, response.text
        read = response.json()["body"]
        assert read["result"]["status"] == "found"
        assert_unchanged(read["record"], document)

    # Core-dp exchange: munich gives berlin the record of its offer and sends part of the lot to
    # Berlin (a split: a new record holds the moved part), then the rest (a move).
    split = send_to_berlin(munich, berlin, material_id, "--quantity", "100")
    assert split["transfer"]["state"] == "transfer-acked", split
    for node in (munich, berlin):
        history = node.get(f"/api/v1/material/{material_id}/history").json()
        (custody,) = history["custody"]
        assert custody["mode"] == "split"
        child = node.get(f"/api/v1/material/{custody['child_id']}").json()
        assert (child["current_city"], child["metadata"]["parent_id"]) == ("Berlin", material_id)
        assert_unchanged(child, sent)
        assert_unchanged(node.get(f"/api/v1/material/{material_id}").json(), sent)
    moved = send_to_berlin(munich, berlin, material_id)
    assert moved["transfer"]["state"] == "transfer-acked", moved
    for node in (munich, berlin):
        there = node.get(f"/api/v1/material/{material_id}").json()
        assert there["current_city"] == "Berlin"
        assert_unchanged(there, sent)


def send_to_berlin(munich: Node, berlin: Node, material_id: str, *extra: str) -> Any:
    """`loopnode coredp send-offer … --through transfer` on munich: its steps."""
    return json.loads(
        munich.cli(
            "coredp",
            "send-offer",
            "--peer",
            berlin.node_id,
            "--material",
            material_id,
            "--to-city",
            "Berlin",
            "--through",
            "transfer",
            *extra,
        ).stdout
    )
