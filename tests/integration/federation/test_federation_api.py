"""Federation over HTTP and storage (DECISIONS 18-21, 33), on SQLite and PostgreSQL.

The node under test is munich.loop; its peers are played by `FakePeer`s whose requests are
signed with their own keys, and outbound traffic goes to an in-memory `FakeTransport`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from loopnode.domain.times import to_us
from loopnode.protocol import keys
from loopnode.protocol.trust import KeyRecord
from loopnode.services.federation import notices
from loopnode.services.federation.announcements import AnnouncementService, FloodSettings
from loopnode.services.federation.delivery import FederationChannel
from loopnode.services.federation.ports import PeerRow, TransportError
from loopnode.services.federation.search import CrossNodeSearch
from loopnode.services.messaging.delivery import Delivery, DeliverySettings
from loopnode.services.messaging.resilience import RetryPolicy
from loopnode.services.registry.search import SearchService
from tests import lifecycle_payloads as p
from tests import official
from tests.fakes import CountingHex, FakeClock
from tests.unit.services.federation.fakes import (
    FakePeer,
    FakeTransport,
    answering,
    json_page,
    post_signed,
)

ANNOUNCE = "/api/v1/federate/announce"
OFFER = "/api/v1/federate/offer"
BERLIN, VIENNA, ZURICH = (
    FakePeer("berlin", 2),
    FakePeer("vienna", 3, 48.21, 16.37),
    FakePeer("zurich", 4, 47.37, 8.54),
)
LISBON = FakePeer("lisbon", 5, 38.72, -9.14)
MAT = p.MATERIAL_ID
REMOTE_MAT = "MAT-DE-BER-2026-PLASTIC-B00001"


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Any]:
    from loopnode.bootstrap import build
    from loopnode.config import load_settings

    keys.save_private_key(
        Ed25519PrivateKey.from_private_bytes(b"\x01" * 32), tmp_path / "node_ed25519.key"
    )
    settings = load_settings(
        tmp_path,
        node_id="munich.loop",
        name="Munich LOOP node",
        country="DE",
        city_code="MUC",
        city="Munich",
        lat=48.137,
        lon=11.575,
        base_url="https://munich.example",
        database_url=database_url,
        federation_worker=False,
        peer_allowlist=["zurich.loop"],
    )
    container = build(settings, clock=clock, random_hex=CountingHex())
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def api(node: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from loopnode.web.app import create_app

    app = create_app(container=node)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.app_state = app.state
        yield client


@pytest.fixture
def writer(node: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.api_keys.create('ops').secret}"}


def add_peer(node: Any, peer: FakePeer, status: str = "approved") -> None:
    with node.uow(write=True) as uow:
        uow.federation.peers.put(
            PeerRow(
                node_id=peer.node_id,
                name=peer.name,
                endpoint=peer.endpoint,
                status=status,
                capabilities=("material-registry",),
                created_us=0,
                updated_us=0,
                lat=peer.lat,
                lon=peer.lon,
            )
        )
        uow.federation.peer_keys.put(KeyRecord(peer.node_id, peer.key_id, peer.raw), "test", 0)


def outbox_rows(node: Any) -> list[Any]:
    with node.uow() as uow:
        return uow.messaging.outbox.page(None, 0, 500)


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    code: str = body["error"]["code"]
    return code


# -- registry and keys -----------------------------------------------------------------------------
def test_node_registry_lists_this_node_and_approved_peers_and_is_schema_valid(
    api: Any, node: Any, reference_dir: Path
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA, status="pending")
    registry = api.get("/api/v1/federation/nodes")
    assert registry.status_code == 200
    document = registry.json()
    assert official.errors(reference_dir, "node-info.schema.json", document) == []
    assert [n["id"] for n in document["nodes"]] == ["munich.loop", "berlin.loop"]
    assert document["nodes"][0]["public_key"].endswith("-----END PUBLIC KEY-----")
    assert keys.load_public_pem(document["nodes"][1]["public_key"])


def test_own_key_history_is_a_valid_core_dp_trust_store(
    api: Any, node: Any, reference_dir: Path
) -> None:
    document = api.get("/api/v1/federation/keys").json()
    assert official.errors(reference_dir, "trust-store.schema.json", document) == []
    [key] = document["keys"]
    assert key["lifecycle_status"] == "active"
    assert key["key_id"] == node.federation.keys.signing_key()[1]


def test_rotation_records_history_evidence_and_a_notice_for_each_approved_peer(
    api: Any, node: Any, clock: FakeClock, reference_dir: Path
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA, status="pending")
    old_id = node.federation.keys.signing_key()[1]
    clock.advance(minutes=5)
    change = node.federation.keys.rotate()
    assert change.retired_key_id == old_id and change.peers_notified == 1
    assert node.federation.keys.signing_key()[1] == change.active_key_id != old_id
    history = {r.key_id: r for r in node.federation.keys.history()}
    assert history[old_id].status == "rotated"
    assert history[old_id].rotated_to_key_id == change.active_key_id
    [row] = outbox_rows(node)
    assert (row.peer_id, row.kind, row.path) == ("berlin.loop", "key-notice", "/federation/keys")
    notice = notices.parse(orjson.loads(row.body))
    assert notice.action == "rotated" and notice.new_key_id == change.active_key_id
    events = [e["event_type"] for e in api.get("/api/v1/evidence").json()["entries"]]
    assert events.count("key.created") == 2 and "key.rotated" in events
    document = api.get("/api/v1/federation/keys").json()
    assert official.errors(reference_dir, "trust-store.schema.json", document) == []


# -- announcements ---------------------------------------------------------------------------------
def test_announce_from_an_approved_peer_is_202_with_increasing_event_ids(
    api: Any, node: Any, clock: FakeClock, reference_dir: Path
) -> None:
    add_peer(node, BERLIN)
    first = post_signed(api, BERLIN, ANNOUNCE, BERLIN.announcement(REMOTE_MAT), clock.now())
    clock.advance(seconds=1)
    other = BERLIN.announcement("MAT-DE-BER-2026-PLASTIC-B00002")
    second = post_signed(api, BERLIN, ANNOUNCE, other, clock.now())
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.headers["content-type"].startswith("application/json")
    for response in (first, second):
        assert (
            official.errors(reference_dir, "federate-accepted.schema.json", response.json()) == []
        )
    assert second.json()["id"] > first.json()["id"] >= 1
    remote = api.get("/api/v1/federation/materials").json()["results"]
    assert [(r["material"], r["source_node"], r["origin_verified"]) for r in remote] == [
        (REMOTE_MAT, "berlin.loop", True),
        ("MAT-DE-BER-2026-PLASTIC-B00002", "berlin.loop", True),
    ]


def test_a_duplicate_announcement_is_dropped_and_answers_the_first_id(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    body = BERLIN.announcement(REMOTE_MAT)
    first = post_signed(api, BERLIN, ANNOUNCE, body, clock.now())
    clock.advance(seconds=1)
    relayed = {**body, "ttl": 2, "hop_count": 2}  # the same announcement via another path
    second = post_signed(api, VIENNA, ANNOUNCE, relayed, clock.now())
    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert len(api.get("/api/v1/federation/materials").json()["results"]) == 1
    assert [r.peer_id for r in outbox_rows(node)] == ["vienna.loop"]


def test_announcements_without_extension_fields_are_deduplicated_by_content(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    bare = {
        "@context": p.CONTEXT,
        "@type": "MaterialAnnouncement",
        "material": REMOTE_MAT,
        "origin": "berlin.loop",
        "available": True,
    }
    first = post_signed(api, BERLIN, ANNOUNCE, bare, clock.now())
    clock.advance(seconds=1)
    second = post_signed(api, BERLIN, ANNOUNCE, bare, clock.now())
    clock.advance(seconds=1)
    changed = post_signed(api, BERLIN, ANNOUNCE, {**bare, "available": False}, clock.now())
    assert first.json()["id"] == second.json()["id"] != changed.json()["id"]
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert remote["available"] is False


def test_forwarding_skips_sender_and_origin_and_decrements_ttl(
    api: Any, node: Any, clock: FakeClock
) -> None:
    for peer in (BERLIN, VIENNA, ZURICH):
        add_peer(node, peer)
    body = VIENNA.announcement("MAT-AT-VIE-2026-PLASTIC-C00001")
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    rows = outbox_rows(node)
    assert [r.peer_id for r in rows] == ["zurich.loop"]
    forwarded = orjson.loads(rows[0].body)
    assert (forwarded["ttl"], forwarded["hop_count"]) == (2, 2)
    assert forwarded["origin_signature"] == body["origin_signature"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"ttl": 1}, "ttl"),
        ({"origin_location": {"lat": 38.72, "lon": -9.14}}, "radius"),
    ],
)
def test_an_announcement_at_its_last_hop_or_beyond_the_radius_is_kept_not_forwarded(
    api: Any, node: Any, clock: FakeClock, extra: dict[str, Any], reason: str
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    body = BERLIN.announcement(REMOTE_MAT, **extra)
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    assert len(api.get("/api/v1/federation/materials").json()["results"]) == 1
    assert outbox_rows(node) == [], reason


def test_a_forged_origin_signature_of_a_known_origin_is_401(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    body = VIENNA.announcement("MAT-AT-VIE-2026-PLASTIC-C00001")
    body["available"] = False  # changed after the origin signed
    response = post_signed(api, BERLIN, ANNOUNCE, body, clock.now())
    assert response.status_code == 401
    assert error_of(response) == "UNAUTHORIZED"


def test_an_announcement_relayed_from_an_unknown_origin_is_kept_unverified(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    body = LISBON.announcement("MAT-PT-LIS-2026-PLASTIC-D00001", hop_count=2, ttl=2)
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert (remote["source_node"], remote["received_from"]) == ("lisbon.loop", "berlin.loop")
    assert remote["origin_verified"] is False


def test_an_invalid_announcement_is_400_with_pointers(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    body = BERLIN.announcement(REMOTE_MAT, ttl=99, sign=False)
    del body["available"]
    response = post_signed(api, BERLIN, ANNOUNCE, body, clock.now())
    assert response.status_code == 400
    pointers = {i["pointer"] for i in response.json()["error"]["details"]["validation"]}
    assert "/available" in pointers


def test_remote_materials_page_with_a_cursor(api: Any, node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    for index in range(5):
        clock.advance(seconds=1)
        body = BERLIN.announcement(f"MAT-DE-BER-2026-PLASTIC-B0000{index}")
        assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/federation/materials", params=params).json()
        seen += [r["material"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"MAT-DE-BER-2026-PLASTIC-B0000{i}" for i in range(5)]
    assert api.get("/api/v1/federation/materials", params={"cursor": "nope"}).status_code == 400


# -- signed-request refusals -----------------------------------------------------------------------
def _refusal(api: Any, node: Any, clock: FakeClock, case: str) -> Any:
    body = orjson.dumps(BERLIN.announcement(REMOTE_MAT))
    now = clock.now()
    if case == "unknown node":
        return post_signed(api, LISBON, ANNOUNCE, body, now)
    add_peer(node, BERLIN, status="pending" if case == "pending peer" else "approved")
    headers = BERLIN.headers(ANNOUNCE, body, now)
    if case == "forged":
        impostor = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
        headers = BERLIN.headers(ANNOUNCE, body, now, key=impostor)
    elif case == "expired":
        headers = BERLIN.headers(ANNOUNCE, body, now - timedelta(seconds=301))
    elif case == "other target":
        headers = BERLIN.headers(ANNOUNCE, body, now, target="vienna.loop")
    elif case == "digest":
        body = body.replace(b"true", b"false")
    elif case == "bad timestamp":
        headers["X-Timestamp"] = "yesterday"
    elif case == "missing header":
        del headers["X-Node-Signature"]
    elif case == "revoked":
        with node.uow(write=True) as uow:
            record = uow.federation.peer_keys.get(BERLIN.node_id, BERLIN.key_id)
            uow.federation.peer_keys.put(replace(record, status="revoked"), "test", 0)
    elif case == "replayed":
        assert api.post(ANNOUNCE, content=body, headers=headers).status_code == 202
    return api.post(ANNOUNCE, content=body, headers=headers)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unknown node", 401, "UNAUTHORIZED"),
        ("pending peer", 403, "FORBIDDEN"),
        ("forged", 401, "UNAUTHORIZED"),
        ("expired", 401, "UNAUTHORIZED"),
        ("other target", 401, "UNAUTHORIZED"),
        ("digest", 401, "UNAUTHORIZED"),
        ("revoked", 401, "UNAUTHORIZED"),
        ("replayed", 401, "UNAUTHORIZED"),
        ("missing header", 401, "UNAUTHORIZED"),
        ("bad timestamp", 400, "INVALID_REQUEST"),
    ],
)
def test_signed_routes_refuse_bad_requests_in_the_spec_error_format(
    api: Any, node: Any, clock: FakeClock, case: str, status: int, code: str
) -> None:
    response = _refusal(api, node, clock, case)
    assert response.status_code == status
    assert error_of(response) == code


def test_expired_replay_cache_rows_are_pruned(api: Any, node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    assert post_signed(api, BERLIN, ANNOUNCE, BERLIN.announcement(REMOTE_MAT), clock.now())
    clock.advance(seconds=301)
    assert node.federation.trust.prune() == 1


# -- bids ------------------------------------------------------------------------------------------
def _bid(material: str = MAT, until: str = "2026-06-02T12:00:00Z") -> dict[str, Any]:
    return {
        "@context": p.CONTEXT,
        "@type": "MaterialOffer",
        "material": material,
        "from": "berlin.loop",
        "base_price": 60,
        "loop_cost": 104.5,
        "valid_until": until,
        "to_city": "Berlin",
    }


def test_bids_for_unknown_or_expired_material_offers_are_refused(
    api: Any, node: Any, clock: FakeClock, auth: dict[str, str]
) -> None:
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    missing = post_signed(api, BERLIN, OFFER, _bid(REMOTE_MAT), clock.now())
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["searched_id"] == REMOTE_MAT
    clock.advance(seconds=1)
    expired = post_signed(api, BERLIN, OFFER, _bid(until="2026-06-01T11:00:00Z"), clock.now())
    assert expired.status_code == 400


def test_a_bid_is_stored_listed_and_accepted_into_a_match(
    api: Any, node: Any, clock: FakeClock, auth: dict[str, str], reference_dir: Path
) -> None:
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    first = post_signed(api, BERLIN, OFFER, _bid(), clock.now())
    clock.advance(seconds=1)
    again = post_signed(api, BERLIN, OFFER, _bid(), clock.now())
    assert first.status_code == 202
    assert official.errors(reference_dir, "federate-accepted.schema.json", first.json()) == []
    assert again.json() == first.json()
    assert api.get("/api/v1/federation/bids").status_code == 401
    [bid] = api.get("/api/v1/federation/bids", headers=auth).json()["results"]
    assert (bid["material_id"], bid["bidder_node"], bid["status"]) == (MAT, "berlin.loop", "open")
    no_offer = api.post(f"/api/v1/federation/bids/{bid['id']}/accept", headers=auth)
    assert no_offer.status_code == 409
    assert api.post("/api/v1/offer", json=p.offer(), headers=auth).status_code == 201
    accepted = api.post(f"/api/v1/federation/bids/{bid['id']}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.json()
    match_id = accepted.json()["match_id"]
    match = api.get(f"/api/v1/match/{match_id}").json()
    assert match["status"] == "accepted" and match["to_city"] == "Berlin"
    again = api.post(f"/api/v1/federation/bids/{bid['id']}/accept", headers=auth)
    assert again.status_code == 409


# -- handshakes ------------------------------------------------------------------------------------
HANDSHAKE = "/api/v1/federation/handshake"


def _handshake(peer: FakePeer, now: Any, **extra: Any) -> dict[str, Any]:
    return {
        "@context": p.CONTEXT,
        "@type": "NodeHandshake",
        "schema_version": "0.2.0",
        "node_id": peer.node_id,
        "name": f"{peer.name.title()} node",
        "endpoint": peer.endpoint,
        "capabilities": ["material-registry"],
        "public_key": keys.public_pem(peer.raw),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def _serving(api: Any, peer: FakePeer, info: dict[str, Any] | None = None) -> FakeTransport:
    fake = FakeTransport()
    fake.pages[peer.endpoint + "/node/info"] = json_page(info or peer.node_info())
    api.app_state.federation_transport = fake
    return fake


def test_a_first_handshake_records_a_pending_peer_after_checking_its_node_info(
    api: Any, node: Any, clock: FakeClock, reference_dir: Path
) -> None:
    _serving(api, BERLIN)
    response = post_signed(api, BERLIN, HANDSHAKE, _handshake(BERLIN, clock.now()), clock.now())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    answer = response.json()
    assert official.errors(reference_dir, "handshake.schema.json", answer) == []
    assert (answer["status"], answer["peer_id"]) == ("accepted", "munich.loop")
    [peer] = node.federation.peers.describe()
    assert (peer["node_id"], peer["status"]) == ("berlin.loop", "pending")
    assert peer["keys"] == [{"key_id": BERLIN.key_id, "status": "active"}]
    clock.advance(seconds=1)
    announce = post_signed(api, BERLIN, ANNOUNCE, BERLIN.announcement(REMOTE_MAT), clock.now())
    assert announce.status_code == 403
    node.federation.peers.approve("berlin.loop")
    clock.advance(seconds=1)
    announce = post_signed(api, BERLIN, ANNOUNCE, BERLIN.announcement(REMOTE_MAT), clock.now())
    assert announce.status_code == 202


def test_an_allowlisted_node_is_approved_by_its_first_handshake(
    api: Any, node: Any, clock: FakeClock
) -> None:
    _serving(api, ZURICH)
    response = post_signed(api, ZURICH, HANDSHAKE, _handshake(ZURICH, clock.now()), clock.now())
    assert response.json()["status"] == "accepted"
    assert node.federation.peers.describe()[0]["status"] == "approved"


@pytest.mark.parametrize(
    "info",
    [{"id": "vienna.loop"}, {"public_key": keys.public_pem(LISBON.raw)}],
    ids=["other node", "other key"],
)
def test_a_handshake_contradicting_the_endpoints_node_info_is_rejected(
    api: Any, node: Any, clock: FakeClock, info: dict[str, Any]
) -> None:
    _serving(api, BERLIN, BERLIN.node_info(**info))
    response = post_signed(api, BERLIN, HANDSHAKE, _handshake(BERLIN, clock.now()), clock.now())
    assert response.json()["status"] == "rejected"
    assert node.federation.peers.describe() == []


def test_nobody_can_take_over_a_known_node_id_or_its_endpoint(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    impostor = FakePeer("berlin", seed=66)
    _serving(api, impostor)
    claim = _handshake(impostor, clock.now(), endpoint="http://evil.test/api/v1")
    response = post_signed(api, impostor, HANDSHAKE, claim, clock.now())
    assert response.status_code == 401
    [peer] = node.federation.peers.describe()
    assert peer["endpoint"] == BERLIN.endpoint
    assert peer["keys"] == [{"key_id": BERLIN.key_id, "status": "active"}]


def test_a_handshake_whose_sender_header_differs_from_node_id_is_400(
    api: Any, node: Any, clock: FakeClock
) -> None:
    _serving(api, BERLIN)
    body = orjson.dumps(_handshake(BERLIN, clock.now()))
    headers = VIENNA.headers(HANDSHAKE, body, clock.now())
    assert api.post(HANDSHAKE, content=body, headers=headers).status_code == 400


def test_after_revocation_a_new_key_waits_for_the_operator(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    with node.uow(write=True) as uow:
        record = uow.federation.peer_keys.get(BERLIN.node_id, BERLIN.key_id)
        uow.federation.peer_keys.put(replace(record, status="revoked"), "test", 0)
    renewed = FakePeer("berlin", seed=21)
    _serving(api, renewed)
    response = post_signed(api, renewed, HANDSHAKE, _handshake(renewed, clock.now()), clock.now())
    assert response.json()["status"] == "accepted"
    [peer] = node.federation.peers.describe()
    assert peer["pending_key_id"] == renewed.key_id
    clock.advance(seconds=1)
    body = renewed.announcement(REMOTE_MAT)
    assert post_signed(api, renewed, ANNOUNCE, body, clock.now()).status_code == 401
    node.federation.peers.approve("berlin.loop")
    clock.advance(seconds=1)
    assert post_signed(api, renewed, ANNOUNCE, body, clock.now()).status_code == 202


# -- key notices -----------------------------------------------------------------------------------
KEYS = "/api/v1/federation/keys"


def test_a_rotation_notice_switches_the_peers_key(api: Any, node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    successor = FakePeer("berlin", seed=33)
    notice = notices.build(
        notice_id="kn_test000000000001",
        node_id=BERLIN.node_id,
        action="rotated",
        key=BERLIN.raw,
        effective_at=clock.now(),
        signer=BERLIN.key,
        new_key=successor.key,
    )
    applied = api.post(KEYS, json=notice)
    assert applied.status_code == 200 and applied.json()["applied"] is True
    assert api.post(KEYS, json=notice).json()["applied"] is False  # idempotent
    clock.advance(seconds=1)
    body = BERLIN.announcement(REMOTE_MAT)
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 401
    assert post_signed(api, successor, ANNOUNCE, body, clock.now()).status_code == 202


def test_a_revocation_notice_makes_the_key_useless(api: Any, node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    notice = notices.build(
        notice_id="kn_test000000000002",
        node_id=BERLIN.node_id,
        action="revoked",
        key=BERLIN.raw,
        effective_at=clock.now(),
        signer=BERLIN.key,
    )
    assert api.post(KEYS, json=notice).status_code == 200
    body = BERLIN.announcement(REMOTE_MAT)
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 401


def test_a_notice_not_signed_by_the_peers_key_is_401(api: Any, node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    impostor = Ed25519PrivateKey.from_private_bytes(b"\x44" * 32)
    notice = notices.build(
        notice_id="kn_test000000000003",
        node_id=BERLIN.node_id,
        action="rotated",
        key=BERLIN.raw,
        effective_at=clock.now(),
        signer=impostor,
        new_key=impostor,
    )
    notice["signer_key_id"] = BERLIN.key_id
    response = api.post(KEYS, json=notice)
    assert response.status_code == 401
    assert error_of(response) == "UNAUTHORIZED"


def test_trust_store_import_keeps_revoked_keys_revoked(node: Any, reference_dir: Path) -> None:
    from loopnode.protocol.trust import load_trust_store

    store = load_trust_store(
        reference_dir / "profiles/core-dp/conformance/trust/accepted-peer-keys.json"
    )
    assert node.federation.trust.import_store(store) == (4, 0)
    statuses = {r.key_id: r.status for r in node.federation.trust.keys_of("munich.loop")}
    assert statuses["key_munich_revoked_001"] == "revoked"
    revived = replace(store.records[2], status="active")
    assert node.federation.trust.import_store(type(store).of([revived])) == (0, 1)


# -- relay: local materials are announced ----------------------------------------------------------
def test_a_registered_material_is_announced_once_per_version_to_approved_peers(
    api: Any, node: Any, clock: FakeClock, auth: dict[str, str]
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA, status="pending")
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    assert node.federation.announcements.relay() == 1
    assert node.federation.announcements.relay() == 0
    [row] = outbox_rows(node)
    body = orjson.loads(row.body)
    assert (row.peer_id, body["material"], body["available"]) == ("berlin.loop", MAT, True)
    assert (body["ttl"], body["hop_count"], body["origin"]) == (3, 1, "munich.loop")
    public = keys.public_raw(node.federation.keys.signing_key()[0])
    from loopnode.services.federation.flooding import origin_signing_input

    assert keys.verify(public, origin_signing_input(body), body["origin_signature"])
    clock.advance(seconds=5)
    with node.engine.begin() as connection:
        connection.execute(
            text("UPDATE dna_records SET availability = 'withdrawn', updated_us = :u"),
            {"u": to_us(clock.now())},
        )
    assert node.federation.announcements.relay() == 1
    assert orjson.loads(outbox_rows(node)[-1].body)["available"] is False


def _relay_signing_with(node: Any, during_signing: Any) -> Any:
    """The node's relay, with `during_signing` called each time it takes its signing key."""

    def signing_key() -> Any:
        during_signing()
        return node.federation.keys.signing_key()

    return AnnouncementService(
        node.federation.uow, node.clock, node.node, signing_key, lambda: "a1", FloodSettings()
    )


def test_the_relay_signs_outside_its_write_transaction(
    api: Any, node: Any, auth: dict[str, str]
) -> None:
    """Issue 12 item 7: signing (0.4 ms per announcement) must not hold the write lock that
    every writing request waits for. A write made while the relay signs commits at once."""
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    written: list[int] = []

    def write_meanwhile() -> None:  # waits 2 s for the lock, then fails, if the relay holds it
        with node.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            driver = connection.connection.driver_connection
            if sqlite:
                driver.execute("PRAGMA busy_timeout=2000")
            try:
                with connection.begin():
                    if not sqlite:
                        connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                    connection.execute(text("UPDATE fed_relay_state SET cursor_us = cursor_us"))
            finally:
                if sqlite:
                    driver.execute("PRAGMA busy_timeout=30000")
        written.append(1)

    assert _relay_signing_with(node, write_meanwhile).relay() == 1
    assert written == [1]
    assert [orjson.loads(r.body)["material"] for r in outbox_rows(node)] == [MAT]


def test_a_material_changed_while_the_relay_signs_is_announced_in_its_new_version_only(
    api: Any, node: Any, clock: FakeClock, auth: dict[str, str]
) -> None:
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    clock.advance(seconds=5)

    def withdraw() -> None:
        with node.engine.begin() as connection:
            connection.execute(
                text("UPDATE dna_records SET availability = 'withdrawn', updated_us = :u"),
                {"u": to_us(clock.now())},
            )

    assert _relay_signing_with(node, withdraw).relay() == 0  # signed "available": stale
    assert outbox_rows(node) == []
    assert node.federation.announcements.relay() == 1
    [row] = outbox_rows(node)
    assert orjson.loads(row.body)["available"] is False


def test_a_material_another_process_announced_while_the_relay_signs_is_queued_once(
    api: Any, node: Any, auth: dict[str, str]
) -> None:
    add_peer(node, BERLIN)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    others: list[int] = []
    relay = _relay_signing_with(node, lambda: others.append(node.federation.announcements.relay()))
    assert relay.relay() == 0
    assert others == [1]
    assert len(outbox_rows(node)) == 1


# -- delivery --------------------------------------------------------------------------------------
def _delivery(node: Any, clock: FakeClock, transport: FakeTransport, **policy: Any) -> Delivery:
    settings = DeliverySettings(
        policy=RetryPolicy(base_s=1, cap_s=8, max_attempts=4, breaker_threshold=3, **policy),
        timeout_s=1,
    )
    return Delivery(node.uow, clock, transport, lambda: 1.0, settings, [FederationChannel()])


def _queue(node: Any, peer: FakePeer, count: int = 1) -> None:
    from loopnode.services.federation.outbox import enqueue

    with node.uow(write=True) as uow:
        for index in range(count):
            enqueue(
                uow,
                [peer.node_id],
                kind="announce",
                path="/federate/announce",
                body=f'{{"n": {index}}}',
                dedupe_key=None,
                now_us=to_us(node.clock.now()),
            )


def test_queueing_many_leaves_out_what_is_queued_already(node: Any, clock: FakeClock) -> None:
    from loopnode.services.federation.outbox import enqueue
    from loopnode.services.messaging.ports import OutboxDraft

    now_us = to_us(clock.now())
    with node.uow(write=True) as uow:
        enqueue(
            uow,
            ["berlin.loop"],
            kind="announce",
            path="/a",
            body="1",
            dedupe_key="k1",
            now_us=now_us,
        )
        drafts = [
            OutboxDraft("berlin.loop", "announce", "POST", "/a", "2", "k1"),  # queued already
            OutboxDraft("vienna.loop", "announce", "POST", "/a", "3", "k1"),
            OutboxDraft("berlin.loop", "announce", "POST", "/a", "4", "k2"),
            OutboxDraft("berlin.loop", "announce", "POST", "/a", "5"),
            OutboxDraft("berlin.loop", "announce", "POST", "/a", "6"),  # no key: never a duplicate
        ]
        assert uow.messaging.outbox.add_many(drafts, now_us) == 4
    rows = outbox_rows(node)
    assert [(r.peer_id, r.body, r.status, r.attempts) for r in rows] == [
        ("berlin.loop", "1", "pending", 0),
        ("vienna.loop", "3", "pending", 0),
        ("berlin.loop", "4", "pending", 0),
        ("berlin.loop", "5", "pending", 0),
        ("berlin.loop", "6", "pending", 0),
    ]


def test_delivery_retries_with_backoff_then_delivers(
    node: Any, clock: FakeClock, writer: dict[str, str], api: Any
) -> None:
    add_peer(node, BERLIN)
    _queue(node, BERLIN)
    fake = FakeTransport(handlers={BERLIN.node_id: TransportError("unreachable", "down")})
    delivery = _delivery(node, clock, fake)
    assert asyncio.run(delivery.run_once()) == 1
    [row] = outbox_rows(node)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_us == to_us(clock.now()) + 1_000_000  # base 1 s, jitter 1.0
    assert asyncio.run(delivery.run_once()) == 0  # not due yet
    clock.advance(seconds=1)
    assert asyncio.run(delivery.run_once()) == 1
    assert outbox_rows(node)[0].next_attempt_us == to_us(clock.now()) + 2_000_000
    fake.handlers[BERLIN.node_id] = answering(202)
    clock.advance(seconds=2)
    assert asyncio.run(delivery.run_once()) == 1
    [row] = outbox_rows(node)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    page = api.get("/api/v1/federation/outbox", headers=writer).json()
    assert page["counts"] == {"pending": 0, "delivered": 1, "dead": 0}
    assert api.get("/api/v1/federation/outbox").status_code == 401


def test_delivery_dead_letters_after_max_attempts_or_at_once_on_a_client_error(
    node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    _queue(node, BERLIN)
    _queue(node, VIENNA)
    fake = FakeTransport(handlers={BERLIN.node_id: answering(503), VIENNA.node_id: answering(400)})
    delivery = _delivery(node, clock, fake, cooldown_s=0.001)
    for _ in range(6):
        asyncio.run(delivery.run_once())
        clock.advance(seconds=30)
    rows = {r.peer_id: r for r in outbox_rows(node)}
    assert (rows["vienna.loop"].status, rows["vienna.loop"].attempts) == ("dead", 1)
    assert (rows["berlin.loop"].status, rows["berlin.loop"].attempts) == ("dead", 4)
    assert rows["berlin.loop"].last_error.startswith("HTTP 503")
    assert node.federation.outbox.retry_dead("berlin.loop") == 1


def test_the_circuit_breaker_opens_and_lets_one_probe_through(node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    _queue(node, BERLIN, count=3)
    fake = FakeTransport(handlers={BERLIN.node_id: TransportError("timeout", "slow")})
    delivery = _delivery(node, clock, fake, cooldown_s=60)
    asyncio.run(delivery.run_once())  # 3 failures (the threshold): open for 60 s
    with node.uow() as uow:
        breaker = uow.messaging.circuits.get(BERLIN.node_id)
    assert breaker is not None and breaker.state == "open"
    clock.advance(seconds=30)
    sent = len(fake.sent)
    assert asyncio.run(delivery.run_once()) == 0  # rows are due, the breaker is open
    clock.advance(seconds=31)
    fake.handlers[BERLIN.node_id] = answering(202)
    assert asyncio.run(delivery.run_once()) == 1  # half-open: one probe
    assert len(fake.sent) == sent + 1
    assert asyncio.run(delivery.run_once()) == 2  # closed again
    assert {r.status for r in outbox_rows(node)} == {"delivered"}


def test_rows_for_a_removed_peer_become_dead_letters(node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    _queue(node, BERLIN)
    node.federation.peers.remove(BERLIN.node_id)
    asyncio.run(_delivery(node, clock, FakeTransport()).run_once())
    [row] = outbox_rows(node)
    assert row.status == "dead" and "approved" in row.last_error


def test_a_clean_shutdown_releases_rows_being_sent(node: Any, clock: FakeClock) -> None:
    add_peer(node, BERLIN)
    _queue(node, BERLIN)
    delivery = _delivery(node, clock, FakeTransport())
    claims = delivery.claim()
    delivery.in_flight.update(c.row.id for c in claims)
    assert delivery.claim() == []  # leased: invisible to other workers
    delivery.release_in_flight()
    [row] = outbox_rows(node)
    assert (row.attempts, row.next_attempt_us) == (0, to_us(clock.now()))


# -- cross-node search -----------------------------------------------------------------------------
def test_cross_node_search_merges_peers_and_names_the_omitted_ones(
    node: Any, clock: FakeClock, auth: dict[str, str], api: Any, reference_dir: Path
) -> None:
    for peer in (BERLIN, VIENNA, ZURICH):
        add_peer(node, peer)
    assert api.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    remote = {
        **p.material("MAT-DE-BER-2026-PLASTIC-B00001"),
        "source_node": "berlin.loop",
        "record_hash_sha256": "a" * 64,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    fake = FakeTransport(
        handlers={
            BERLIN.node_id: answering(200, {"results": [remote]}),
            VIENNA.node_id: TransportError("timeout", "slow"),
        }
    )
    search = SearchService(
        node.uow, clock, node.node, CrossNodeSearch(node.uow, clock, "munich.loop", lambda: fake, 1)
    )
    request = {
        "entity_type": "material",
        "scope": "cross-node",
        "filters": {"category_prefix": "plastic"},
        "limit": 10,
        "consistency": "eventual",
        "auth": {"mode": "node-signature"},
    }
    answer = search.core_dp_search("material", request)
    assert (
        official.errors(
            reference_dir, "search-contract.schema.json", answer, "/$defs/searchResponse"
        )
        == []
    )
    assert [(r["id"], r["source_node"]) for r in answer["results"]] == [
        ("MAT-DE-BER-2026-PLASTIC-B00001", "berlin.loop"),
        (MAT, "munich.loop"),
    ]
    assert answer["consistency"]["mode"] == "eventual"
    assert answer["provenance"] == {
        "queried_nodes": ["munich.loop", "berlin.loop"],
        "omitted_nodes": [
            {"node_id": "vienna.loop", "reason": "timeout"},
            {"node_id": "zurich.loop", "reason": "unreachable"},
        ],
    }
    sent = orjson.loads(fake.sent[0][3])
    assert sent["scope"] == "local" and sent["auth"]["mode"] == "node-signature"


def test_cross_node_search_over_http_needs_node_signature_mode(api: Any) -> None:
    request = {
        "entity_type": "material",
        "scope": "cross-node",
        "filters": {},
        "limit": 10,
        "consistency": "eventual",
        "auth": {"mode": "bearer"},
    }
    assert api.post("/api/v1/material/search", json=request).status_code == 400
    request["auth"] = {"mode": "node-signature"}
    answer = api.post("/api/v1/material/search", json=request)
    assert answer.status_code == 200
    assert answer.json()["provenance"] == {"queried_nodes": ["munich.loop"], "omitted_nodes": []}
