"""Signed node-to-node requests (DECISIONS 19): round trip, tampering, skew, key lifecycle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest, Unauthorized
from loopnode.protocol import keys
from loopnode.protocol import request_signing as rs
from loopnode.protocol.trust import KeyRecord, TrustStore

NOW = datetime(2026, 7, 17, 12, 0, 0, tzinfo=UTC)
SENDER, RECEIVER = "munich.loop", "berlin.loop"
PATH = "/api/v1/federate/offer?trace=1"
BODY = b'{"@type":"MaterialOffer","base_price":12.5}'
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RAW = keys.public_raw(KEY)
KEY_ID = keys.key_id(RAW, SENDER)


def store(**fields: object) -> TrustStore:
    return TrustStore.of([KeyRecord(SENDER, KEY_ID, RAW, **fields)])  # type: ignore[arg-type]


def signed(**overrides: object) -> dict[str, str]:
    arguments: dict[str, object] = {
        "key": KEY,
        "key_id": KEY_ID,
        "node_id": SENDER,
        "target_node_id": RECEIVER,
        "method": "POST",
        "path_with_query": PATH,
        "body": BODY,
        "now": NOW,
    }
    arguments.update(overrides)
    return rs.sign_request(**arguments)  # type: ignore[arg-type]


def verify(headers: dict[str, str], trust: TrustStore | None = None, **overrides: object):  # type: ignore[no-untyped-def]
    trust = trust or store()
    arguments: dict[str, object] = {
        "method": "POST",
        "path_with_query": PATH,
        "body": BODY,
        "receiver_node_id": RECEIVER,
        "now": NOW,
        "lookup_key": trust.lookup,
        "node_known": trust.knows_node,
    }
    arguments.update(overrides)
    return rs.verify_request(headers, **arguments)  # type: ignore[arg-type]


def test_sign_request_emits_the_five_headers_in_the_documented_form() -> None:
    headers = signed(now=NOW + timedelta(microseconds=900_000))
    assert tuple(headers) == rs.SIGNED_HEADERS
    assert headers["X-Node-ID"] == SENDER
    assert headers["X-Timestamp"] == "2026-07-17T12:00:00Z"
    assert headers["X-Node-Key-Id"] == KEY_ID
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", headers["X-Node-Signature"])


def test_signing_input_is_the_canonical_json_of_the_six_fields() -> None:
    headers = signed()
    expected = json.dumps(
        {
            "body_sha256": hashlib.sha256(BODY).hexdigest(),
            "method": "POST",
            "path": PATH,
            "target_node_id": RECEIVER,
            "x_node_id": SENDER,
            "x_timestamp": "2026-07-17T12:00:00Z",
        },
        separators=(",", ":"),
    ).encode()
    assert headers["X-Node-Signature-Input-SHA256"] == hashlib.sha256(expected).hexdigest()
    assert keys.verify(RAW, expected, headers["X-Node-Signature"])


def test_a_signed_request_verifies_with_case_insensitive_headers() -> None:
    headers = {name.lower(): value for name, value in signed().items()}
    verified = verify(headers)
    assert (verified.node_id, verified.key_id, verified.timestamp) == (SENDER, KEY_ID, NOW)
    assert verified.key.public_key == RAW


def test_replay_key_is_stable_and_held_until_the_skew_window_closes() -> None:
    headers = signed()
    verified = verify(headers)
    assert verified.replay_key == rs.replay_key(headers)
    assert verified.replay_expires_at == NOW + timedelta(seconds=300)
    assert rs.replay_key(signed(now=NOW + timedelta(seconds=1))) != verified.replay_key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", BODY.replace(b"12.5", b"12.6")),
        ("body", BODY[:-1] + bytes([BODY[-1] ^ 0x01])),
        ("path_with_query", "/api/v1/federate/offer?trace=2"),
        ("method", "PUT"),
        ("receiver_node_id", "hamburg.loop"),
    ],
)
def test_any_change_to_what_was_signed_is_a_digest_mismatch(field: str, value: object) -> None:
    with pytest.raises(rs.DigestMismatch):
        verify(signed(), **{field: value})


def test_a_recomputed_digest_does_not_rescue_a_tampered_body() -> None:
    tampered = BODY.replace(b"12.5", b"99.9")
    forged = signed(body=tampered, key=Ed25519PrivateKey.generate())
    headers = {**signed(), "X-Node-Signature-Input-SHA256": forged["X-Node-Signature-Input-SHA256"]}
    with pytest.raises(rs.BadSignature):
        verify(headers, body=tampered)


def test_a_flipped_signature_byte_is_a_bad_signature() -> None:
    headers = signed()
    raw = bytearray(keys.b64url_decode(headers["X-Node-Signature"]) or b"")
    raw[0] ^= 0x80
    with pytest.raises(rs.BadSignature):
        verify({**headers, "X-Node-Signature": keys.b64url_encode(bytes(raw))})


def test_a_signature_by_another_key_is_a_bad_signature() -> None:
    with pytest.raises(rs.BadSignature):
        verify(signed(key=Ed25519PrivateKey.generate()))


@pytest.mark.parametrize("offset", [-300, 300, 0, -299, 299])
def test_skew_of_exactly_300_seconds_either_way_is_accepted(offset: int) -> None:
    verify(signed(), now=NOW + timedelta(seconds=offset))


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_skew_beyond_300_seconds_is_refused_with_401(offset: int) -> None:
    with pytest.raises(rs.ClockSkew) as caught:
        verify(signed(), now=NOW + timedelta(seconds=offset))
    assert isinstance(caught.value, Unauthorized)


@pytest.mark.parametrize("stamp", ["yesterday", "2026-07-17", "2026-07-17T12:00:00", "1784"])
def test_an_unparsable_timestamp_is_a_400(stamp: str) -> None:
    with pytest.raises(rs.BadTimestamp) as caught:
        verify({**signed(), "X-Timestamp": stamp})
    assert isinstance(caught.value, InvalidRequest)
    assert not isinstance(caught.value, Unauthorized)


@pytest.mark.parametrize("header", rs.SIGNED_HEADERS)
def test_a_missing_or_empty_header_is_a_401(header: str) -> None:
    headers = signed()
    with pytest.raises(rs.MissingSignatureHeaders):
        verify({k: v for k, v in headers.items() if k != header})
    with pytest.raises(rs.MissingSignatureHeaders):
        verify({**headers, header: " "})


def test_an_unknown_node_and_an_unknown_key_are_told_apart() -> None:
    other = Ed25519PrivateKey.generate()
    stranger = signed(key=other, node_id="hamburg.loop", key_id="key_hamburg_0001")
    with pytest.raises(rs.UnknownNode):
        verify(stranger)
    with pytest.raises(rs.UnknownKey) as caught:
        verify(signed(key_id="key_munich_unknown_1"))
    assert type(caught.value) is rs.UnknownKey
    # Without `node_known` the receiver cannot tell, and says "unknown key".
    with pytest.raises(rs.UnknownKey):
        verify(stranger, node_known=None)


def test_a_revoked_key_is_refused_whatever_its_dates() -> None:
    trust = store(status="revoked", revoked_at=NOW + timedelta(days=365))
    with pytest.raises(rs.RevokedKey):
        verify(signed(), trust)


def test_a_rotated_key_signs_only_before_its_rotation() -> None:
    rotation = NOW + timedelta(seconds=1)
    trust = store(status="rotated", rotated_at=rotation, rotated_to_key_id="key_munich_next_001")
    verify(signed(), trust)
    late = signed(now=rotation)
    with pytest.raises(rs.KeyNotValid):
        verify(late, trust, now=rotation)


def test_validity_window_is_inclusive_at_the_start_and_exclusive_at_the_end() -> None:
    verify(signed(), store(valid_from=NOW, valid_until=NOW + timedelta(seconds=1)))
    with pytest.raises(rs.KeyNotValid):
        verify(signed(), store(valid_from=NOW - timedelta(days=1), valid_until=NOW))
    with pytest.raises(rs.KeyNotValid):
        verify(signed(), store(valid_from=NOW + timedelta(seconds=1)))


def test_every_refusal_is_unauthorized_except_the_unparsable_timestamp() -> None:
    for error in (
        rs.MissingSignatureHeaders,
        rs.UnknownNode,
        rs.UnknownKey,
        rs.RevokedKey,
        rs.KeyNotValid,
        rs.BadSignature,
        rs.DigestMismatch,
        rs.ClockSkew,
    ):
        assert issubclass(error, rs.RequestSignatureError)
        assert issubclass(error, Unauthorized)
    assert issubclass(rs.BadTimestamp, InvalidRequest)


header_values = st.one_of(st.text(max_size=100), st.sampled_from(["", "2026-07-17T12:00:00Z"]))


@given(
    headers=st.dictionaries(
        st.sampled_from([*rs.SIGNED_HEADERS, "x-node-id", "Other"]), header_values, max_size=7
    ),
    path=st.text(max_size=30),
    body=st.binary(max_size=30),
)
def test_garbage_requests_raise_only_the_documented_errors(
    headers: dict[str, str], path: str, body: bytes
) -> None:
    with contextlib.suppress(rs.RequestSignatureError, rs.BadTimestamp):
        verify(headers, path_with_query=path, body=body)


def test_a_path_without_a_canonical_form_is_a_bad_signature_not_a_crash() -> None:
    with pytest.raises(rs.BadSignature):
        verify(signed(), path_with_query="/api/v1/\ud800")


def test_received_timestamps_may_carry_offsets_and_fractions() -> None:
    stamp = "2026-07-17T14:00:00.250+02:00"  # the same instant as NOW + 250 ms
    headers = signed()
    data = rs.request_signing_input(
        method="POST",
        path_with_query=PATH,
        node_id=SENDER,
        timestamp=stamp,
        target_node_id=RECEIVER,
        body_sha256=hashlib.sha256(BODY).hexdigest(),
    )
    headers |= {
        "X-Timestamp": stamp,
        "X-Node-Signature-Input-SHA256": hashlib.sha256(data).hexdigest(),
        "X-Node-Signature": keys.sign(KEY, data),
    }
    assert verify(headers).timestamp == NOW + timedelta(milliseconds=250)
