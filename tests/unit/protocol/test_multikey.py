"""Multikey and base58-btc: round trips, one spelling per value, clean errors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from loopnode.protocol import keys, multikey


@given(st.binary(max_size=80))
def test_base58_round_trips(data: bytes) -> None:
    assert multikey.b58decode(multikey.b58encode(data)) == data


def test_base58_known_value() -> None:
    # "Hello World!" in the Bitcoin alphabet (draft-msporny-base58 test vector).
    assert multikey.b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert multikey.b58encode(b"\0\0\x28\x7f\xb4\xcd") == "11233QC4"


def test_public_multikey_round_trips_and_starts_z6mk() -> None:
    key = Ed25519PrivateKey.generate()
    text = multikey.public_key_multibase(key)
    assert text.startswith("z6Mk")
    assert keys.public_raw(multikey.public_key_from_multibase(text)) == keys.public_raw(key)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "z",
        "6Mk",
        "zz",
        "z0",
        "z" + "1" * 600,
        "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
    ],
)
def test_malformed_public_multikeys_raise_multikey_error(value: object) -> None:
    with pytest.raises(multikey.MultikeyError):
        multikey.public_key_from_multibase(value)
