"""Core-dp envelopes: the official signing input, our own signatures, every refusal path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopnode.protocol import keys
from loopnode.protocol.coredp import envelope as env
from loopnode.protocol.coredp.schemas import schema
from tests.unit.protocol.coredp.conftest import (
    BERLIN_KEY,
    CREATED,
    offer_publish_body,
    our_trust,
    signed_offer_publish,
)

VALID_001_CANONICAL_PREFIX = b'{"body":{"accepted_profile_version":"0.1.0-lab","attempt":1,'


def test_official_valid_vector_signing_input_is_byte_exact(vector_payload: Callable) -> None:
    payload = vector_payload("core-dp-envelope-valid-001")
    data = env.signing_input_bytes(payload)
    assert len(data) == 972
    assert data.startswith(VALID_001_CANONICAL_PREFIX)
    assert env.signing_input_sha256(payload) == (
        "164dbf698ab242f1b671323a85c257171d526ba71f7228dec406c8ff8c64c0ac"
    )


@pytest.mark.parametrize(
    "vector_id",
    [
        "core-dp-envelope-valid-001",
        "core-dp-envelope-valid-replay-window-001",
        "core-dp-envelope-valid-trust-resolution-001",
        "core-dp-envelope-valid-replay-evaluation-time-001",
    ],
)
def test_official_valid_envelopes_pass_every_envelope_check(
    vector_id: str, vector_payload: Callable, official_trust: Any
) -> None:
    payload = vector_payload(vector_id)
    assert env.check_signing_input_sha256(payload) == []
    assert env.check_ed25519_signature(payload, official_trust) == []
    assert env.check_trusted_key(payload, official_trust) == []
    assert env.check_body_contract(payload) == []


def test_official_valid_envelope_is_accepted_at_its_creation_time(
    vector_payload: Callable, official_trust: Any
) -> None:
    payload = vector_payload("core-dp-envelope-valid-001")
    now = env.timestamp_or_none(payload["created_at"])
    assert now is not None
    verdict = env.verify_envelope(payload, official_trust, now, receiver_node_id="berlin.loop")
    assert verdict.accepted, verdict.failures
    assert verdict.replay_key == "core-dp:munich.loop:msg_validEnvelope0001"
    assert verdict.cache_until == now + timedelta(minutes=5)
    assert verdict.key is not None and verdict.key.key_id == "key_munich_2026_07"


def test_our_signed_envelope_is_schema_valid_and_accepted() -> None:
    envelope = signed_offer_publish()
    assert schema("envelope.schema.json").issues(envelope) == []
    verdict = env.verify_envelope(envelope, our_trust(), CREATED, receiver_node_id="berlin.loop")
    assert verdict.accepted, verdict.failures
    assert (verdict.error_code, verdict.message_id) == (None, "msg_offerPublish000000001")


def test_build_envelope_refuses_windows_the_schema_forbids() -> None:
    for expires_in_s, window in ((301, 300), (0, 300), (30, 30), (60, 901)):
        with pytest.raises(ValueError, match=r"window|expires"):
            env.build_envelope(
                message_type="offer.publish",
                sender=env.NodeRef("munich.loop", "https://munich.loop", "key_munich_1"),
                receiver=env.NodeRef("berlin.loop", "https://berlin.loop", "key_berlin_1"),
                body={},
                message_id="msg_0123456789abcdef",
                idempotency_key="idem_0123456789abcdef",
                created_at=CREATED,
                expires_in_s=expires_in_s,
                replay_window_s=window,
            )


def _reject(envelope: Any, code: str, text: str, **kwargs: Any) -> None:
    kwargs.setdefault("now", CREATED)
    trust = kwargs.pop("trust", our_trust())
    verdict = env.verify_envelope(envelope, trust, **kwargs)
    assert not verdict.accepted
    assert verdict.error_code == code, verdict.failures
    assert any(text in failure for failure in verdict.failures), verdict.failures


def test_a_flipped_body_byte_is_signature_invalid() -> None:
    envelope = signed_offer_publish()
    envelope["body"]["subject"]["id"] = "OFF-DE-MUC-2026-000002"
    _reject(envelope, "signature_invalid", "expected signing_input_sha256")


def test_a_tampered_body_with_a_recomputed_hash_still_fails_the_signature() -> None:
    envelope = signed_offer_publish()
    envelope["body"]["subject"]["id"] = "OFF-DE-MUC-2026-000002"
    envelope["signature"]["signing_input_sha256"] = env.signing_input_sha256(envelope)
    _reject(envelope, "signature_invalid", "detached Ed25519 signature verification failed")


def test_a_flipped_signature_byte_is_signature_invalid() -> None:
    envelope = signed_offer_publish()
    raw = bytearray(keys.b64url_decode(envelope["signature"]["value"]) or b"")
    raw[5] ^= 0x10
    envelope["signature"]["value"] = keys.b64url_encode(bytes(raw))
    _reject(envelope, "signature_invalid", "detached Ed25519 signature verification failed")


def test_a_signature_by_another_key_is_signature_invalid() -> None:
    _reject(signed_offer_publish(key=BERLIN_KEY), "signature_invalid", "verification failed")


def test_signature_key_id_must_be_the_sender_key_id() -> None:
    envelope = signed_offer_publish()
    envelope["signature"]["key_id"] = "key_berlin_test_0001"
    _reject(envelope, "signature_invalid", "signature.key_id must match sender.key_id")


def test_an_untrusted_key_is_signature_invalid() -> None:
    envelope = signed_offer_publish()
    trust = env.TrustStore.of(r for r in our_trust().records if r.node_id != "munich.loop")
    _reject(envelope, "signature_invalid", "not found in trust store", trust=trust)


def test_a_revoked_key_is_rejected_even_inside_its_window() -> None:
    trust = our_trust(status="revoked", revoked_at=CREATED + timedelta(days=1))
    _reject(signed_offer_publish(), "signature_invalid", "has been revoked", trust=trust)


def test_a_rotated_key_is_accepted_only_for_messages_created_before_the_rotation() -> None:
    rotation = CREATED + timedelta(minutes=10)
    trust = our_trust(status="rotated", valid_until=rotation, rotated_to_key_id="key_munich_next1")
    assert env.verify_envelope(signed_offer_publish(), trust, CREATED).accepted
    late = signed_offer_publish(created_at=rotation)
    _reject(
        late, "signature_invalid", "not valid for message created_at", trust=trust, now=rotation
    )
    early_rotation = our_trust(
        status="rotated", rotated_at=CREATED, rotated_to_key_id="key_munich_next1"
    )
    _reject(
        signed_offer_publish(), "signature_invalid", "rotated and not valid", trust=early_rotation
    )


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=299), timedelta(seconds=150)])
def test_receiver_time_inside_the_window_is_accepted(offset: timedelta) -> None:
    verdict = env.verify_envelope(signed_offer_publish(), our_trust(), CREATED + offset)
    assert verdict.accepted, verdict.failures


def test_receiver_time_at_expiry_is_stale() -> None:
    now = CREATED + timedelta(seconds=300)
    _reject(signed_offer_publish(), "stale_message", "message has expired", now=now)


def test_receiver_time_before_creation_is_stale_unless_skew_is_allowed() -> None:
    early = CREATED - timedelta(seconds=1)
    _reject(
        signed_offer_publish(), "stale_message", "evaluation_time must be >= created_at", now=early
    )
    verdict = env.verify_envelope(signed_offer_publish(), our_trust(), early, skew_s=30)
    assert verdict.accepted
    _reject(
        signed_offer_publish(),
        "stale_message",
        ">= created_at",
        now=CREATED - timedelta(seconds=31),
        skew_s=30,
    )


def test_expiry_may_reach_but_not_pass_the_replay_window() -> None:
    envelope = signed_offer_publish(expires_in_s=300)
    assert env.check_replay_window(envelope, CREATED) == []
    envelope["replay_window_seconds"] = 299  # unsigned, so the signature still holds
    _reject(envelope, "stale_message", "expires_at must be within replay_window_seconds")


def test_a_local_cap_overrides_a_larger_unsigned_replay_window() -> None:
    envelope = signed_offer_publish(expires_in_s=300)
    _reject(envelope, "stale_message", "within replay_window_seconds", max_window_s=120)


def test_unsigned_fields_can_change_without_breaking_the_signature() -> None:
    envelope = signed_offer_publish()
    envelope["replay_window_seconds"] = 900
    envelope["version_negotiation"] = {"requested": "0.1.0-lab", "supported": ["0.1.0-lab"]}
    assert env.verify_envelope(envelope, our_trust(), CREATED).accepted


def test_a_message_for_another_node_is_refused() -> None:
    _reject(
        signed_offer_publish(), "invalid_request", "addressed to", receiver_node_id="hamburg.loop"
    )


def test_an_unsupported_profile_version_is_named_as_such() -> None:
    envelope = signed_offer_publish()
    envelope["profile_version"] = "0.2.0-lab"
    _reject(envelope, "unsupported_profile_version", "0.2.0-lab")


def test_a_sender_without_the_author_role_is_forbidden() -> None:
    body = offer_publish_body(origin_node="berlin.loop", counterparty_node="munich.loop")
    _reject(signed_offer_publish(body), "forbidden", "sender.node_id must be berlin.loop")


def test_a_schema_valid_body_breaking_a_profile_rule_is_invalid_request() -> None:
    body = offer_publish_body(attempt=2)
    _reject(signed_offer_publish(body), "invalid_request", "retry attempts above 1")


def test_a_schema_invalid_body_is_schema_invalid() -> None:
    body = offer_publish_body(state="offer-acked")
    _reject(signed_offer_publish(body), "schema_invalid", "(const): must be equal to constant")


@pytest.mark.parametrize(
    "poison",
    [2**53, -(2**60), "\ud800", {"\udfff": 1}, float("nan")],
    ids=["2^53", "-2^60", "lone-surrogate", "surrogate-key", "nan"],
)
def test_canonicalisation_failures_are_schema_invalid_and_never_raise(poison: object) -> None:
    envelope = signed_offer_publish()
    envelope["body"]["reason"] = poison
    _reject(envelope, "schema_invalid", "canonical")
    assert env.check_signing_input_sha256(envelope)[0].startswith("signing input cannot be")
    assert any(
        "cannot be canonicalised" in f for f in env.check_ed25519_signature(envelope, our_trust())
    )


def test_sign_envelope_refuses_to_sign_what_has_no_canonical_form() -> None:
    envelope = signed_offer_publish()
    envelope["body"]["reason"] = 2**60
    with pytest.raises(env.CanonicalizationFailed):
        env.sign_envelope(envelope, Ed25519PrivateKey.generate())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verify_envelope_never_raises_on_arbitrary_json(data: st.DataObject) -> None:
    envelope: Any = copy.deepcopy(signed_offer_publish())
    for _ in range(data.draw(st.integers(1, 3))):
        target, key = _pick(data, envelope)
        if isinstance(target, dict):
            target[key] = data.draw(json_values)
    whole = data.draw(st.one_of(st.just(envelope), json_values))
    verdict = env.verify_envelope(whole, our_trust(), CREATED)
    assert verdict.accepted == (verdict.error_code is None)


def _pick(data: st.DataObject, envelope: dict[str, Any]) -> tuple[Any, str]:
    choices = [(envelope, k) for k in envelope] + [
        (value, k) for value in envelope.values() if isinstance(value, dict) for k in value
    ]
    return data.draw(st.sampled_from(choices))


def test_body_contract_catches_mismatched_binding() -> None:
    envelope = json.loads(json.dumps(signed_offer_publish()))
    envelope["body_schema"] = env.BODY_SCHEMA_BY_MESSAGE_TYPE["material.search"]
    envelope["body"]["message_type"] = "offer.ack"
    failures = env.check_body_contract(envelope)
    assert any("must use body_schema" in f for f in failures)
    assert any("must match body.message_type offer.ack" in f for f in failures)
    envelope["message_type"] = "error"
    envelope["body"] = {"correlation_id": envelope["message_id"]}
    assert any("not the error envelope itself" in f for f in env.check_body_contract(envelope))
    envelope["message_type"] = "product.search"
    envelope["body"] = {"entity_type": "material"}
    assert "product.search envelope body entity_type must be product." in env.check_body_contract(
        envelope
    )
