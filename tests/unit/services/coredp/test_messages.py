"""The core-dp message helpers: bodies from the §4.6 table, retries, snapshots, answer table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import Conflict, InvalidRequest, LoopError, NotFound
from loopnode.protocol import keys
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.coredp.choreography import (
    RULES,
    check_message_rules,
    convergence_hash,
    idempotency_fingerprint,
)
from loopnode.protocol.coredp.envelope import verify_envelope
from loopnode.protocol.coredp.schemas import schema
from loopnode.protocol.trust import KeyRecord, TrustStore
from loopnode.services.coredp.delivery import active_key
from loopnode.services.coredp.messages import (
    REPLIES,
    CoreDpIdentity,
    CoreDpRefusal,
    advertised_endpoint,
    choreography_body,
    decode_snapshot,
    encode_snapshot,
    with_attempt,
)
from loopnode.services.coredp.steps import NON_TERMINAL_STATES, refusal_for

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
H = "d" * 64
EXTRAS: dict[str, dict[str, Any]] = {
    "capabilities.response": {"accepted_profile_version": "0.1.0-lab"},
    "transfer.ack": {
        "acknowledges_message_id": "msg_" + "1" * 32,
        "final_ack_role": "origin-confirms-receiver-receipt",
        "local_evidence_hash_sha256": H,
        "peer_evidence_hash_sha256": H,
        "convergence_hash_sha256": convergence_hash("TRF-DE-MUC-2026-000001", H, H),
    },
}
SUBJECTS = {"capabilities": "core-dp-0.1.0-lab", "offer": "OFR-DE-MUC-2026-000001"}


def body_of(message_type: str, **extra: Any) -> dict[str, Any]:
    subject_type = RULES[message_type].subject_type
    return choreography_body(
        message_type,
        conversation_id="conv_" + "a" * 32,
        origin_node="munich.loop",
        counterparty_node="berlin.loop",
        subject_type=subject_type,
        subject_id=SUBJECTS.get(subject_type, "TRF-DE-MUC-2026-000001"),
        timeout_at="2026-06-01T13:00:00Z",
        idempotency_key="idem_" + "b" * 32,
        **{**EXTRAS.get(message_type, {}), **extra},
    )


@pytest.mark.parametrize("message_type", sorted(RULES))
def test_bodies_follow_the_state_table_and_the_schema(message_type: str) -> None:
    body = body_of(message_type)
    assert schema("choreography-message.schema.json").issues(body) == []
    assert check_message_rules(body) == []
    assert body["state"] == RULES[message_type].state
    assert body["authoritative_role"] == RULES[message_type].author_role


def test_retries_name_their_original_and_keep_the_fingerprint() -> None:
    first = with_attempt("offer.publish", body_of("offer.publish"), 1, "msg_" + "1" * 32)
    retry = with_attempt("offer.publish", first, 3, "msg_" + "1" * 32)
    assert "duplicate_of" not in first
    assert retry["attempt"] == 3 and retry["duplicate_of"] == "msg_" + "1" * 32
    same = idempotency_fingerprint(first, "offer.publish", "berlin.loop")
    assert idempotency_fingerprint(retry, "offer.publish", "berlin.loop") == same
    other = idempotency_fingerprint({**retry, "reason": "x"}, "offer.publish", "berlin.loop")
    assert other != same
    dna = {"message_type": "material.read", "record_id": "MAT-X"}
    assert with_attempt("material.read", dna, 2, "msg_" + "1" * 32) == dna


def test_every_answer_is_the_next_row_of_the_table() -> None:
    for request, answers in REPLIES.items():
        for answer in answers:
            if request in RULES:
                assert RULES[answer].previous_state == RULES[request].state
            else:
                assert answer == request  # DNA and search answers keep their type


def test_a_snapshot_travels_bound_to_the_signed_hash() -> None:
    document = {"id": "OFR-DE-MUC-2026-000001", "quantity": {"value": 1.5, "unit": "t"}}
    body = body_of("offer.publish", local_evidence_hash_sha256=sha256_hex(document))
    header = encode_snapshot(document)
    assert decode_snapshot(header, body, 32_768) == document
    assert decode_snapshot(None, body, 32_768) is None
    refused = [
        (encode_snapshot({**document, "terms": "x"}), 32_768),  # another hash
        ("%%%", 32_768),  # not base64url
        (encode_snapshot({"id": "OFR-OTHER-000001"}), 32_768),  # another subject
        (header, 8),  # too large
    ]
    for text, limit in refused:
        with pytest.raises(CoreDpRefusal) as caught:
            decode_snapshot(text, body, limit)
        assert caught.value.code == "invalid_request"
    as_list = encode_snapshot([1])  # type: ignore[arg-type]
    with pytest.raises(CoreDpRefusal):
        decode_snapshot(as_list, {**body, "local_evidence_hash_sha256": sha256_hex([1])}, 99)


def test_the_advertised_endpoint_is_always_https() -> None:
    assert advertised_endpoint("https://munich.example/api/v1", "munich.loop") == (
        "https://munich.example/api/v1"
    )
    assert advertised_endpoint("http://127.0.0.1:8000/api/v1", "munich.loop") == (
        "https://munich.loop/api/v1"
    )


def test_the_identity_signs_envelopes_its_peer_verifies() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    key_id = keys.key_id(keys.public_raw(key), "munich.loop")
    identity = CoreDpIdentity("munich.loop", "https://munich.loop/api/v1", lambda: (key, key_id))
    receiver = identity.ref()
    receiver = type(receiver)("berlin.loop", "https://berlin.loop/api/v1", "key_berlin_000001")
    envelope = identity.sign(
        message_type="capabilities.announce",
        receiver=receiver,
        body=body_of("capabilities.announce"),
        message_id="msg_" + "2" * 32,
        idempotency_key="idem_" + "b" * 32,
        now=NOW,
        replay_window_s=300,
    )
    assert envelope["version_negotiation"]["supported"] == ["0.1.0-lab"]
    trust = TrustStore.of([KeyRecord("munich.loop", key_id, keys.public_raw(key))])
    verdict = verify_envelope(envelope, trust, NOW, receiver_node_id="berlin.loop")
    assert verdict.accepted, verdict.failures


def test_the_receiver_key_id_is_the_newest_usable_key() -> None:
    raw = keys.public_raw(Ed25519PrivateKey.from_private_bytes(b"\x06" * 32))
    old = KeyRecord("berlin.loop", "key_berlin_old_0001", raw, "rotated", valid_until=NOW)
    new = KeyRecord("berlin.loop", "key_berlin_new_0001", raw, valid_from=NOW - timedelta(days=1))
    gone = KeyRecord("berlin.loop", "key_berlin_gone_001", raw, "revoked", revoked_at=NOW)
    assert active_key([old, new, gone], NOW) == "key_berlin_new_0001"
    assert active_key([gone], NOW) is None
    assert active_key([], NOW) is None


def test_lifecycle_refusals_become_core_dp_codes() -> None:
    assert refusal_for(Conflict("x")).code == "conflict"
    assert refusal_for(InvalidRequest("x")).code == "invalid_request"
    assert refusal_for(NotFound("x")).code == "not_found"
    assert refusal_for(LoopError("x")).code == "internal_error"
    body = refusal_for(Conflict("taken", {"id": "OFR-1"})).body("msg_" + "3" * 32)
    assert schema("error.schema.json").issues(body) == []
    assert set(NON_TERMINAL_STATES) == {
        "announced",
        "offer-published",
        "match-proposed",
        "transfer-dispatched",
        "transfer-received",
    }
