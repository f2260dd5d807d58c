# ruff: noqa: F811  (fixtures imported from test_federation_api are parameters here)
"""Node-id squatting and unverified overwrites (issue 15), on SQLite and PostgreSQL.

A pending claim to a node id must neither block the real node nor speak for it; an
announcement must not change what this node verified about an origin unless the origin signed
it with a key obtained through a trusted path; an announcement we could not verify is not
relayed with its origin signature.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from loopnode.domain.errors import InvalidRequest
from tests.fakes import FakeClock
from tests.integration.federation.test_federation_api import (  # noqa: F401  (fixtures)
    ANNOUNCE,
    BERLIN,
    HANDSHAKE,
    VIENNA,
    ZURICH,
    _handshake,
    _serving,
    add_peer,
    api,
    node,
    outbox_rows,
)
from tests.unit.services.federation.fakes import FakePeer, json_page, post_signed

SQUATTER = FakePeer("vienna", seed=99)  # claims vienna.loop with its own key and endpoint
SQUATTER_ENDPOINT = "http://squatter.test/api/v1"
VIENNA_MAT = "MAT-AT-VIE-2026-PLASTIC-C00001"


def squat(api: Any, clock: FakeClock) -> Any:
    fake = _serving(api, VIENNA)
    info = SQUATTER.node_info(endpoint=SQUATTER_ENDPOINT)
    fake.pages[SQUATTER_ENDPOINT + "/node/info"] = json_page(info)
    claim = _handshake(SQUATTER, clock.now(), endpoint=SQUATTER_ENDPOINT)
    response = post_signed(api, SQUATTER, HANDSHAKE, claim, clock.now())
    assert response.json()["status"] == "accepted"  # recorded as a pending claim
    clock.advance(seconds=1)
    return fake


def test_a_pending_squatter_does_not_block_the_real_nodes_handshake(
    api: Any,
    node: Any,
    clock: FakeClock,
) -> None:
    squat(api, clock)
    real = post_signed(api, VIENNA, HANDSHAKE, _handshake(VIENNA, clock.now()), clock.now())
    assert real.status_code == 200, real.text
    assert real.json()["status"] == "accepted"
    [peer] = node.federation.peers.describe()
    assert (peer["status"], peer["endpoint"]) == ("pending", VIENNA.endpoint)
    assert peer["keys"] == [{"key_id": VIENNA.key_id, "status": "active"}]
    with node.engine.connect() as connection:
        summaries = connection.execute(text("SELECT summary FROM evidence")).scalars().all()
    assert any("handshake-reclaim" in (s or "") for s in summaries)


def test_the_operator_approves_only_the_key_verified_out_of_band(
    api: Any,
    node: Any,
    clock: FakeClock,
) -> None:
    squat(api, clock)
    with pytest.raises(InvalidRequest):
        node.federation.peers.approve("vienna.loop", key_id=VIENNA.key_id)
    assert node.federation.peers.describe()[0]["status"] == "pending"
    post_signed(api, VIENNA, HANDSHAKE, _handshake(VIENNA, clock.now()), clock.now())
    node.federation.peers.approve("vienna.loop", key_id=VIENNA.key_id)
    clock.advance(seconds=1)
    body = VIENNA.announcement(VIENNA_MAT)
    assert post_signed(api, VIENNA, ANNOUNCE, body, clock.now()).status_code == 202


def test_a_pending_claims_key_does_not_verify_announcements_as_its_origin(
    api: Any,
    node: Any,
    clock: FakeClock,
) -> None:
    squat(api, clock)
    add_peer(node, BERLIN)
    forged = SQUATTER.announcement(VIENNA_MAT)  # signed by the squatter's pending key
    assert post_signed(api, BERLIN, ANNOUNCE, forged, clock.now()).status_code == 202
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert remote["origin_verified"] is False


@pytest.mark.parametrize(("signature", "status"), [("none", 202), ("forged", 401)])
def test_an_unsigned_or_forged_origin_cannot_overwrite_a_verified_entry(
    api: Any, node: Any, clock: FakeClock, signature: str, status: int
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    add_peer(node, ZURICH)
    genuine = VIENNA.announcement(VIENNA_MAT)
    assert post_signed(api, VIENNA, ANNOUNCE, genuine, clock.now()).status_code == 202
    queued = len(outbox_rows(node))
    clock.advance(seconds=1)
    lie = BERLIN.announcement(VIENNA_MAT, sign=False, announcement_id="ann_lie_000001")
    lie = {**lie, "origin": "vienna.loop", "available": False}
    if signature == "forged":
        lie["origin_key_id"] = VIENNA.key_id
        lie["origin_signature"] = BERLIN.announcement(VIENNA_MAT)["origin_signature"]
    response = post_signed(api, BERLIN, ANNOUNCE, lie, clock.now())
    assert response.status_code == status, response.text
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert (remote["available"], remote["origin_verified"]) == (True, True)
    assert len(outbox_rows(node)) == queued  # nothing forwarded


def test_an_unknown_origin_is_stored_unverified_and_relayed_without_its_signature(
    api: Any, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    add_peer(node, ZURICH)
    stranger = FakePeer("lisbon", 5, 38.72, -9.14)
    body = stranger.announcement("MAT-PT-LIS-2026-PLASTIC-D00001", hop_count=2, ttl=3)
    body["origin_location"] = {"lat": 48.0, "lon": 11.0}  # within the radius
    body["origin_signature"] = body["origin_signature"][::-1]  # bogus
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert remote["origin_verified"] is False
    [forward] = outbox_rows(node)
    relayed = orjson.loads(forward.body)
    assert "origin_signature" not in relayed and "origin_key_id" not in relayed
    assert relayed["material"] == body["material"]


def test_an_unverified_copy_never_replaces_a_verified_one(
    api: Any, node: Any, clock: FakeClock
) -> None:
    """Even when the origin has since left: the verified state stands until it speaks again."""
    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    assert (
        post_signed(api, VIENNA, ANNOUNCE, VIENNA.announcement(VIENNA_MAT), clock.now()).status_code
        == 202
    )
    node.federation.peers.remove("vienna.loop")
    clock.advance(seconds=1)
    later = VIENNA.announcement(VIENNA_MAT, available=False, announcement_id="ann_later_0001")
    assert post_signed(api, BERLIN, ANNOUNCE, later, clock.now()).status_code == 202
    [remote] = api.get("/api/v1/federation/materials").json()["results"]
    assert (remote["available"], remote["origin_verified"]) == (True, True)
    assert orjson.dumps(remote)  # still serialisable


# -- unverified announcements are verified once the origin's key arrives through a trusted path ---
GENUINE, ALTERED, UNSIGNED = (f"MAT-AT-VIE-2026-PLASTIC-C0000{n}" for n in (2, 3, 4))


def _relayed_before_vienna_is_known(api: Any, node: Any, clock: FakeClock) -> None:
    """Berlin relays three announcements naming Vienna as origin before Vienna is a peer."""
    add_peer(node, BERLIN)
    altered = VIENNA.announcement(ALTERED)
    altered["category"] = "metal-steel"  # changed on the way, after Vienna signed
    for body in (
        VIENNA.announcement(GENUINE),
        altered,
        VIENNA.announcement(UNSIGNED, sign=False),
    ):
        assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    assert _remote(api) == {GENUINE: False, ALTERED: False, UNSIGNED: False}


def _remote(api: Any) -> dict[str, bool]:
    results = api.get("/api/v1/federation/materials").json()["results"]
    return {r["material"]: r["origin_verified"] for r in results}


def test_approving_the_origin_verifies_its_stored_announcements_and_drops_forgeries(
    api: Any, node: Any, clock: FakeClock
) -> None:
    _relayed_before_vienna_is_known(api, node, clock)
    _serving(api, VIENNA)
    clock.advance(seconds=1)
    hello = post_signed(api, VIENNA, HANDSHAKE, _handshake(VIENNA, clock.now()), clock.now())
    assert hello.json()["status"] == "accepted"
    # A pending claim is not a trusted path: nothing changes yet.
    assert _remote(api) == {GENUINE: False, ALTERED: False, UNSIGNED: False}
    node.federation.peers.approve("vienna.loop", key_id=VIENNA.key_id)
    assert _remote(api) == {GENUINE: True, UNSIGNED: False}
    with node.engine.connect() as connection:
        summaries = connection.execute(text("SELECT summary FROM evidence")).scalars().all()
    assert any("reverification" in (s or "") and ALTERED in s for s in summaries)


def test_an_operator_import_of_the_origins_key_verifies_its_stored_announcements(
    api: Any, node: Any, clock: FakeClock
) -> None:
    from loopnode.protocol.trust import KeyRecord, TrustStore

    _relayed_before_vienna_is_known(api, node, clock)
    record = KeyRecord(VIENNA.node_id, VIENNA.key_id, VIENNA.raw, "active")
    assert node.federation.trust.import_store(TrustStore.of([record])) == (1, 0)
    assert _remote(api) == {GENUINE: True, UNSIGNED: False}


def test_a_verified_entry_is_not_reverified_by_a_pending_claims_key(
    api: Any, node: Any, clock: FakeClock
) -> None:
    """The squatter's pending key matches the key id it signs with, yet verifies nothing."""
    add_peer(node, BERLIN)
    forged = SQUATTER.announcement(VIENNA_MAT)
    assert post_signed(api, BERLIN, ANNOUNCE, forged, clock.now()).status_code == 202
    squat(api, clock)
    from loopnode.services.federation.announcements import reverify

    with node.uow(write=True) as uow:
        assert reverify(uow, "vienna.loop", "test", clock.now()) == (0, 0)
    assert _remote(api) == {VIENNA_MAT: False}


def test_a_rotation_notice_verifies_what_the_new_key_signed_before_it_arrived(
    api: Any, node: Any, clock: FakeClock
) -> None:
    """Berlin rotated; Vienna relays Berlin's announcement signed with the new key before this
    node heard of the rotation. The notice, signed by the key this node trusts, verifies it."""
    from loopnode.services.federation import notices

    add_peer(node, BERLIN)
    add_peer(node, VIENNA)
    successor = FakePeer("berlin", seed=33)
    material = "MAT-DE-BER-2026-PLASTIC-E00001"
    body = successor.announcement(material)
    assert post_signed(api, VIENNA, ANNOUNCE, body, clock.now()).status_code == 202
    assert _remote(api) == {material: False}
    notice = notices.build(
        notice_id="kn_test000000000009",
        node_id=BERLIN.node_id,
        action="rotated",
        key=BERLIN.raw,
        effective_at=clock.now(),
        signer=BERLIN.key,
        new_key=successor.key,
    )
    assert api.post("/api/v1/federation/keys", json=notice).json()["applied"] is True
    assert _remote(api) == {material: True}


def test_an_oversized_origin_signature_is_stored_unverified_without_it(
    api: Any, node: Any, clock: FakeClock
) -> None:
    """Only a signature of an Ed25519 signature's length is kept for later; a longer one could
    never verify, and must not reach the column (PostgreSQL would refuse it: a 500)."""
    add_peer(node, BERLIN)
    body = VIENNA.announcement(GENUINE)
    body["origin_signature"] = "A" * 5000
    assert post_signed(api, BERLIN, ANNOUNCE, body, clock.now()).status_code == 202
    with node.uow() as uow:
        [row] = uow.federation.announcements.unverified("vienna.loop")
    assert row.origin_signature is None
    assert len(VIENNA.announcement(GENUINE)["origin_signature"]) == 86
