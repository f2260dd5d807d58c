"""Federation between real node processes on loopback, each with its own SQLite database.

Peering and approval, flooding through a line and a diamond, refused requests, key
revocation, cross-node search, delivery across a peer's downtime and the sender's restart,
and TLS (1.3 only, CA-verified or pinned, untrusted certificates never contacted).
"""

from __future__ import annotations

import socket
import sqlite3
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from loopnode.adapters.federation import tls
from loopnode.config import read_settings_file, write_settings_file
from loopnode.protocol import keys
from loopnode.protocol.request_signing import sign_request
from loopnode.services.federation import flooding
from tests import official
from tests.e2e.nodes import Federation, Node, NodeSpec, free_port

pytestmark = pytest.mark.slow

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
VIENNA = NodeSpec("vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE")
ZURICH = NodeSpec("zurich", 47.377, 8.541, city="Zurich", country="CH", city_code="ZRH")
PRAGUE = NodeSpec("prague", 50.075, 14.437, city="Prague", country="CZ", city_code="PRG")
ANNOUNCE = "/api/v1/federate/announce"


def material(node: Node, category: str = "plastic-pet") -> dict[str, Any]:
    city = node.spec.city
    return {
        "@context": CONTEXT,
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "category": category,
        "quantity": {"value": 250, "unit": "kg"},
        "origin_city": city,
        "current_city": city,
        "available_from": "2026-06-01T08:00:00Z",
    }


def register(node: Node, category: str = "plastic-pet") -> str:
    response = node.post("/api/v1/material", json=material(node, category))
    assert response.status_code == 201, response.text
    material_id: str = response.json()["id"]
    return material_id


def remote(node: Node) -> dict[str, dict[str, Any]]:
    page = node.get("/api/v1/federation/materials", params={"limit": 100}).json()
    return {item["material"]: item for item in page["results"]}


def outbox(node: Node) -> dict[str, Any]:
    response = node.get("/api/v1/federation/outbox")
    assert response.status_code == 200
    page: dict[str, Any] = response.json()
    return page


def signed(
    sender: Node, target: Node, path: str, body: bytes, *, key: Any = None, when: Any = None
) -> dict[str, str]:
    private = key or sender.private_key()
    headers = sign_request(
        key=private,
        key_id=keys.key_id(keys.public_raw(private), sender.node_id),
        node_id=sender.node_id,
        target_node_id=target.node_id,
        method="POST",
        path_with_query=path,
        body=body,
        now=when or datetime.now(UTC),
    )
    return {**headers, "Content-Type": "application/json"}


def announcement(origin: Node, material_id: str, **extra: Any) -> bytes:
    """An announcement `origin` signs as its origin (what its relay would send)."""
    key = origin.private_key()
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "MaterialAnnouncement",
        "material": material_id,
        "origin": origin.node_id,
        "available": True,
        "announcement_id": f"ann_{material_id.lower()}",
        "origin_location": {"lat": origin.spec.lat, "lon": origin.spec.lon},
        "origin_key_id": keys.key_id(keys.public_raw(key), origin.node_id),
        **extra,
    }
    body["origin_signature"] = keys.sign(key, flooding.origin_signing_input(body))
    return orjson.dumps({**body, "ttl": body.pop("ttl", 3), "hop_count": 1})


def post_raw(target: Node, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with target.client() as client:
        return client.post(path, content=body, headers=headers)


def rows(node: Node, query: str, *args: Any) -> list[Any]:
    with sqlite3.connect(node.data_dir / "loopnode.db") as db:
        return db.execute(query, args).fetchall()


# -- peering --------------------------------------------------------------------------------------
def test_a_handshake_makes_a_pending_peer_that_approval_lets_in(
    tmp_path: Path, reference_dir: Path
) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        munich, vienna = fed["munich"], fed["vienna"]
        munich.cli("peers", "add", vienna.base_url)
        [seen_by_vienna] = orjson.loads(vienna.cli("peers", "list", "--json").stdout)
        [seen_by_munich] = orjson.loads(munich.cli("peers", "list", "--json").stdout)
        assert (seen_by_vienna["node_id"], seen_by_vienna["status"]) == ("munich.loop", "pending")
        assert (seen_by_munich["node_id"], seen_by_munich["status"]) == ("vienna.loop", "approved")
        [own_key] = orjson.loads(munich.cli("keys", "list", "--json").stdout)
        assert seen_by_vienna["keys"] == [{"key_id": own_key["key_id"], "status": "active"}]

        body = announcement(munich, "MAT-DE-MUC-2026-PLASTIC-AAAAAA")
        refused = post_raw(vienna, ANNOUNCE, body, signed(munich, vienna, ANNOUNCE, body))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"

        vienna.cli("peers", "approve", munich.node_id)
        material_id = register(munich)
        arrived = fed.wait_until(lambda: remote(vienna).get(material_id))
        assert (arrived["source_node"], arrived["origin_verified"]) == ("munich.loop", True)
        registry = vienna.get("/api/v1/federation/nodes").json()
        assert official.errors(reference_dir, "node-info.schema.json", registry) == []
        assert [n["id"] for n in registry["nodes"]] == ["vienna.loop", "munich.loop"]


# -- flooding -------------------------------------------------------------------------------------
def test_an_announcement_from_a_reaches_c_through_b_and_stops_at_its_ttl(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA, PRAGUE]) as fed:
        a, b, c = fed["munich"], fed["vienna"], fed["prague"]
        fed.peer(a, b)
        fed.peer(b, c)
        material_id = register(a)
        at_c = fed.wait_until(lambda: remote(c).get(material_id))
        assert (at_c["source_node"], at_c["received_from"], at_c["hop_count"]) == (
            "munich.loop",
            "vienna.loop",
            2,
        )
        assert at_c["origin_verified"] is False  # c does not know a's key
        assert remote(b)[material_id]["origin_verified"] is True

        last_hop = "MAT-DE-MUC-2026-PLASTIC-TTL001"
        body = announcement(a, last_hop, ttl=1)
        accepted = post_raw(b, ANNOUNCE, body, signed(a, b, ANNOUNCE, body))
        assert accepted.status_code == 202
        assert last_hop in remote(b)
        fed.wait_until(lambda: outbox(b)["counts"]["pending"] == 0)
        forwarded = [r for r in outbox(b)["entries"] if r["kind"] == "announce"]
        assert len(forwarded) == 1  # only the first material went on to c
        assert last_hop not in remote(c)


def test_a_diamond_delivers_exactly_once(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA, ZURICH, PRAGUE]) as fed:
        a, b, c, d = fed["munich"], fed["vienna"], fed["zurich"], fed["prague"]
        for left, right in ((a, b), (a, c), (b, d), (c, d)):
            fed.peer(left, right)
        material_id = register(a)
        fed.wait_until(lambda: material_id in remote(d))
        for node in (a, b, c):
            fed.wait_until(lambda node=node: outbox(node)["counts"]["pending"] == 0)
        copies_to_d = [
            entry
            for node in (b, c)
            for entry in outbox(node)["entries"]
            if entry["peer_id"] == "prague.loop" and entry["status"] == "delivered"
        ]
        assert len(copies_to_d) == 2  # both paths delivered a copy ...
        query = "SELECT count(*) FROM fed_announcements WHERE material = ?"
        assert rows(d, query, material_id) == [(1,)]  # ... and d accepted one
        assert len(remote(d)) == 1
        received = rows(
            d, "SELECT count(*) FROM evidence WHERE event_type = ?", "node.federation_received"
        )
        assert received == [(1,)]


# -- refusals -------------------------------------------------------------------------------------
def test_forged_expired_replayed_and_revoked_requests_are_refused(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        a, b = fed["munich"], fed["vienna"]
        fed.peer(a, b)
        body = announcement(a, "MAT-DE-MUC-2026-PLASTIC-REF001")

        def attempt(headers: dict[str, str], content: bytes = body) -> httpx.Response:
            return post_raw(b, ANNOUNCE, content, headers)

        forged_key = keys.generate_private_key()
        forged = signed(a, b, ANNOUNCE, body)
        forged["X-Node-Signature"] = signed(a, b, ANNOUNCE, body, key=forged_key)[
            "X-Node-Signature"
        ]
        expired = signed(a, b, ANNOUNCE, body, when=datetime.now(UTC) - timedelta(seconds=400))
        bad_time = {**signed(a, b, ANNOUNCE, body), "X-Timestamp": "26/11/2026 10:00"}
        stranger = fed_stranger_headers(b, body)
        tampered = body.replace(b'"available":true', b'"available":false')
        for headers, content, status in (
            (forged, body, 401),
            (expired, body, 401),
            (bad_time, body, 400),
            (stranger, body, 401),
            (signed(a, b, ANNOUNCE, body), tampered, 401),
        ):
            response = attempt(headers, content)
            assert response.status_code == status, response.text
            assert set(response.json()["error"]) == {"code", "message", "details"}
        valid = signed(a, b, ANNOUNCE, body)
        assert attempt(valid).status_code == 202
        replayed = attempt(valid)
        assert replayed.status_code == 401
        assert "already used" in replayed.json()["error"]["message"]

        old_key = a.private_key()
        a.cli("keys", "revoke")  # the notice is signed by the revoked key itself
        fed.wait_until(lambda: _key_status(b, a) == "revoked")
        later = announcement(a, "MAT-DE-MUC-2026-PLASTIC-REF002")
        headers = signed(a, b, ANNOUNCE, later, key=old_key)
        revoked = attempt(headers, later)
        assert revoked.status_code == 401
        assert "revoked" in revoked.json()["error"]["message"]

        # The replacement key is not trusted until vienna's operator approves it.
        a.stop()
        a.start()  # NodeInfo advertises the new key after a restart
        material_id = register(a)
        fed.wait_until(lambda: _outbox_error(a).startswith("HTTP 401"))
        a.cli("peers", "add", b.base_url)
        assert orjson.loads(b.cli("peers", "list", "--json").stdout)[0]["pending_key_id"]
        b.cli("peers", "approve", a.node_id)
        fed.wait_until(lambda: material_id in remote(b))


def fed_stranger_headers(target: Node, body: bytes) -> dict[str, str]:
    stranger_key = keys.generate_private_key()
    headers = sign_request(
        key=stranger_key,
        key_id=keys.key_id(keys.public_raw(stranger_key), "rome.loop"),
        node_id="rome.loop",
        target_node_id=target.node_id,
        method="POST",
        path_with_query=ANNOUNCE,
        body=body,
        now=datetime.now(UTC),
    )
    return {**headers, "Content-Type": "application/json"}


def _key_status(holder: Node, of: Node) -> str:
    peers = orjson.loads(holder.cli("peers", "list", "--json").stdout)
    [peer] = [p for p in peers if p["node_id"] == of.node_id]
    statuses = [k["status"] for k in peer["keys"]]
    return "revoked" if statuses and all(s == "revoked" for s in statuses) else "usable"


def _outbox_error(node: Node) -> str:
    entries = [e for e in outbox(node)["entries"] if e["kind"] == "announce"]
    return (entries[-1]["last_error"] or "") if entries else ""


def test_a_rotation_reaches_peers_and_the_new_key_works_without_an_operator(
    tmp_path: Path,
) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        a, b = fed["munich"], fed["vienna"]
        fed.peer(a, b)
        old_id = orjson.loads(a.cli("keys", "list", "--json").stdout)[0]["key_id"]
        new_id = a.cli("keys", "rotate").stdout.strip().splitlines()[-1]
        material_id = register(a)  # signed by the running node with the new key
        fed.wait_until(lambda: material_id in remote(b))
        [peer] = orjson.loads(b.cli("peers", "list", "--json").stdout)
        assert {k["key_id"]: k["status"] for k in peer["keys"]} == {
            old_id: "rotated",
            new_id: "active",
        }
        history = orjson.loads(a.cli("keys", "list", "--json").stdout)
        assert [(k["key_id"], k["status"]) for k in history] == [
            (old_id, "rotated"),
            (new_id, "active"),
        ]


def test_init_tls_self_signed_serves_https_13_with_an_owner_only_key(tmp_path: Path) -> None:
    node = Node(MUNICH, tmp_path / "munich", free_port())
    node.data_dir.mkdir()
    node.cli(
        "init",
        "--node-id",
        "munich.loop",
        "--name",
        "Munich",
        "--country",
        "DE",
        "--city-code",
        "MUC",
        "--city",
        "Munich",
        "--lat",
        "48.1",
        "--lon",
        "11.6",
        "--base-url",
        f"https://127.0.0.1:{node.port}",
        "--tls",
        "self-signed",
    )
    assert (node.data_dir / "node.key").stat().st_mode & 0o777 == 0o600
    node.pinned = node.data_dir / "node.crt"
    node.ca = node.pinned  # https
    node.start()
    try:
        context = tls.client_context(pinned_pem=node.pinned.read_text())
        with (
            socket.create_connection(("127.0.0.1", node.port), timeout=5) as raw,
            context.wrap_socket(raw) as wrapped,
        ):
            assert wrapped.version() == "TLSv1.3"
        assert node.get("/api/v1/node/info").json()["endpoint"].startswith("https://")
    finally:
        node.stop()


# -- search ---------------------------------------------------------------------------------------
def test_a_cross_node_search_merges_every_peer_and_names_the_missing(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA, ZURICH]) as fed:
        a, b, c = fed["munich"], fed["vienna"], fed["zurich"]
        fed.peer(a, b)
        fed.peer(a, c)
        ids = {node.node_id: register(node, "metal-aluminum") for node in (a, b, c)}
        register(b, "plastic-pet")
        request = {
            "entity_type": "material",
            "scope": "cross-node",
            "filters": {"category_prefix": "metal"},
            "limit": 20,
            "consistency": "eventual",
            "auth": {"mode": "node-signature", "subject_node": "munich.loop"},
        }
        answer = a.post("/api/v1/material/search", json=request).json()
        found = {(r["source_node"], r["id"]) for r in answer["results"]}
        assert found == set(ids.items())
        assert all(len(r["record_hash_sha256"]) == 64 for r in answer["results"])
        stamps = [(r["updated_at"], r["id"]) for r in answer["results"]]
        assert stamps == sorted(stamps)
        assert sorted(answer["provenance"]["queried_nodes"]) == sorted(ids)
        c.stop()
        partial = a.post("/api/v1/material/search", json=request).json()
        assert partial["provenance"]["omitted_nodes"] == [
            {"node_id": "zurich.loop", "reason": "unreachable"}
        ]
        assert {r["source_node"] for r in partial["results"]} == {"munich.loop", "vienna.loop"}


# -- durable delivery -----------------------------------------------------------------------------
def test_a_peer_down_mid_delivery_receives_everything_after_restart(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        a, b = fed["munich"], fed["vienna"]
        fed.peer(a, b)
        first = register(a)
        fed.wait_until(lambda: first in remote(b))
        b.stop()
        waiting = [register(a) for _ in range(5)]
        fed.wait_until(lambda: _outbox_error(a).startswith("unreachable"))
        a.stop()  # the sender restarts too, with deliveries still pending
        a.start()
        assert outbox(a)["counts"]["pending"] == 5
        b.start()
        fed.wait_until(lambda: set(waiting) <= set(remote(b)), timeout=40)
        fed.wait_until(lambda: outbox(a)["counts"] == {"pending": 0, "delivered": 6, "dead": 0})
        assert a.cli("federation", "outbox", "--json").returncode == 0


# -- TLS ------------------------------------------------------------------------------------------
def test_tls_13_only_ca_verified_peering_and_untrusted_certificates_are_not_contacted(
    tmp_path: Path,
) -> None:
    rogue_spec = NodeSpec("zurich", 47.377, 8.541, city="Zurich", country="CH", city_code="ZRH")
    fed = Federation(tmp_path, [MUNICH, VIENNA, rogue_spec], tls=True)
    rogue = fed["zurich"]
    own = tls.self_signed(rogue.data_dir / "own-cert", "zurich.loop")
    values = read_settings_file(rogue.data_dir)
    values.update(tls_cert=str(own.cert), tls_key=str(own.key))
    write_settings_file(rogue.data_dir, values)
    rogue.pinned = own.cert  # how the test itself reaches it
    with fed:
        a, b = fed["munich"], fed["vienna"]
        assert a.base_url.startswith("https://")

        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(str(fed.ca))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw,
            pytest.raises(ssl.SSLError),
        ):
            old.wrap_socket(raw, server_hostname="127.0.0.1")

        fed.peer(a, b)
        material_id = register(a)
        fed.wait_until(lambda: material_id in remote(b))

        refused = a.cli("peers", "add", rogue.base_url, check=False)
        assert refused.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr or "certificate" in refused.stderr
        assert orjson.loads(rogue.cli("peers", "list", "--json").stdout) == []

        pin = tls.fingerprint(own.cert.read_text())
        a.cli("peers", "add", rogue.base_url, "--fingerprint", pin)
        rogue.cli("peers", "approve", a.node_id)
        pinned = register(a)
        fed.wait_until(lambda: pinned in remote(rogue))

        rogue.stop()
        swapped = tls.self_signed(rogue.data_dir / "swapped-cert", "zurich.loop")
        values.update(tls_cert=str(swapped.cert), tls_key=str(swapped.key))
        write_settings_file(rogue.data_dir, values)
        rogue.pinned = swapped.cert
        rogue.start()
        unseen = register(a)
        fed.wait_until(lambda: _last_error_to(a, "zurich.loop").startswith("tls"))
        assert unseen not in remote(rogue)


def _last_error_to(node: Node, peer_id: str) -> str:
    entries = [e for e in outbox(node)["entries"] if e["peer_id"] == peer_id]
    return (entries[-1]["last_error"] or "") if entries else ""
