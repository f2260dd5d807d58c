"""Canonical JSON: byte-exact RFC 8785 output, the official envelope hashes, one error class."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.canonical import (
    CanonicalizationFailed,
    _fast_path_applies,
    canonical_bytes,
    sha256_hex,
)
from tests.reference import require_reference

# SPEC-DIGEST §4.1: the signing input is exactly these envelope keys.
SIGNING_INPUT_KEYS = (
    "profile",
    "profile_version",
    "message_id",
    "message_type",
    "created_at",
    "expires_at",
    "sender",
    "receiver",
    "idempotency_key",
    "body_schema",
    "body",
)

# Envelope vectors whose recorded signing_input_sha256 is consistent with their payload (one
# official vector carries a stale hash on purpose; it is not listed).
HASHED_VECTORS = (
    "core-dp-envelope-valid-001",
    "core-dp-envelope-valid-replay-window-001",
    "core-dp-envelope-valid-replay-evaluation-time-001",
    "core-dp-envelope-valid-trust-resolution-001",
    "core-dp-envelope-invalid-replay-window-001",
    "core-dp-envelope-invalid-trust-revoked-key-001",
    "core-dp-envelope-invalid-trust-rotated-key-001",
    "core-dp-choreography-invalid-wrong-sender-injection-001",
)


def _vectors() -> dict[str, dict[str, Any]]:
    path = require_reference() / "profiles/core-dp/conformance/vectors/core-dp-vectors.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {vector["id"]: vector for vector in data["vectors"]}


@pytest.mark.parametrize("vector_id", HASHED_VECTORS)
def test_sha256_of_signing_input_reproduces_official_envelope_hash(vector_id: str) -> None:
    envelope = _vectors()[vector_id]["payload"]
    signing_input = {key: envelope[key] for key in SIGNING_INPUT_KEYS}

    assert sha256_hex(signing_input) == envelope["signature"]["signing_input_sha256"]


def test_canonical_bytes_match_the_worked_example_byte_for_byte() -> None:
    envelope = _vectors()["core-dp-envelope-valid-001"]["payload"]
    signing_input = {key: envelope[key] for key in SIGNING_INPUT_KEYS}

    canonical = canonical_bytes(signing_input)

    assert len(canonical) == 972
    assert canonical.startswith(b'{"body":{"accepted_profile_version":"0.1.0-lab","attempt":1,')
    assert canonical.endswith(b'"key_id":"key_munich_2026_07","node_id":"munich.loop"}}')


def test_integral_floats_print_like_javascript_numbers() -> None:
    assert canonical_bytes({"v": 420.0, "w": 1e21, "x": 1.5e-7, "y": -0.0}) == (
        b'{"v":420,"w":1e+21,"x":1.5e-7,"y":0}'
    )


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is a surrogate pair (0xD83D...) in UTF-16, so it sorts before U+FFFD there.
    assert canonical_bytes({"\ufffd": 1, "\U0001f600": 2}) == (
        '{"\U0001f600":2,"\ufffd":1}'.encode()
    )


def test_non_ascii_is_raw_utf8_and_controls_are_escaped() -> None:
    assert canonical_bytes(["München", "a\nb\u0001/"]) == '["München","a\\nb\\u0001/"]'.encode()


def test_sha256_hex_is_lowercase_64_hex() -> None:
    digest = sha256_hex({"a": [1, 2, 3]})

    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


@pytest.mark.parametrize(
    "value",
    [
        2**53,
        -(2**53),
        10**400,
        {"big": 9007199254740993},
        "lone \ud800 surrogate",
        {"key \udfff": 1},
        {"\udfff": 1, "a": 2},
        math.nan,
        math.inf,
        -math.inf,
        {1: "non-string key"},
        {"set": {1, 2}},
        b"bytes",
        object(),
    ],
)
def test_uncanonicalisable_values_raise_canonicalization_failed(value: object) -> None:
    with pytest.raises(CanonicalizationFailed):
        canonical_bytes(value)
    with pytest.raises(CanonicalizationFailed):
        sha256_hex(value)


def test_canonicalization_failed_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_bytes(2**60)

    assert caught.value.code == "INVALID_REQUEST"


def test_pathologically_deep_nesting_is_canonicalization_failed() -> None:
    deep: object = []
    for _ in range(100_000):
        deep = [deep]

    with pytest.raises(CanonicalizationFailed):
        canonical_bytes(deep)


def test_largest_safe_integers_are_accepted() -> None:
    assert canonical_bytes([2**53 - 1, -(2**53) + 1]) == b"[9007199254740991,-9007199254740991]"


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_any_json_like_value_round_trips_or_fails_with_the_one_error(value: object) -> None:
    try:
        canonical = canonical_bytes(value)
    except CanonicalizationFailed:
        return
    # Compare numbers as doubles: JCS prints 3.8e16 as the integer 38025754558362990, which is
    # the same double but not the same Python int.
    assert json.loads(canonical, parse_int=float) == json.loads(json.dumps(value), parse_int=float)


# The orjson fast path (docs/performance.md) must give exactly what `rfc8785` gives, or the same
# refusal. Keys mix ASCII and non-ASCII (BMP, private use, astral: where UTF-16 and code-point
# order differ), strings hold controls, surrogates and astral characters, numbers straddle
# ±2^53 and include floats, containers include tuples.
_tricky_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())
)
_tricky_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.sampled_from([2**53 - 1, -(2**53) + 1, 2**53, -(2**53)])
    | st.floats()
    | st.floats(min_value=1e-5, max_value=1e16)
    | st.sampled_from([1e-4, 1e-5, 9.99e-5, 1e15 - 0.5, 1e15, 1e16, 1.0, -0.0, 123.0])
    | _tricky_text
)
_tricky_values = st.recursive(
    _tricky_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=5) | _tricky_text, inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=500)
@given(_tricky_values)
def test_canonical_bytes_equal_the_rfc8785_library_byte_for_byte(value: object) -> None:
    try:
        expected: bytes | None = rfc8785.dumps(value)  # type: ignore[arg-type]
    except (ValueError, RecursionError):
        expected = None
    if expected is None:
        with pytest.raises(CanonicalizationFailed):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected


def test_the_fast_path_serves_ordinary_documents_and_not_exotic_numbers() -> None:
    document = {"id": "MAT-X", "quantity": {"value": 1000, "unit": "kg"}, "tags": ["a", "é"]}
    assert _fast_path_applies(document)
    assert _fast_path_applies({"quality": 0.95, "lat": -48.1351})
    assert not _fast_path_applies({"quality": 1.0})
    assert not _fast_path_applies([1e-5, 1e15 + 0.5])
    assert not _fast_path_applies([2**53])
    assert not _fast_path_applies({"é": 1})
    assert not _fast_path_applies({"when": datetime.now(UTC)})
