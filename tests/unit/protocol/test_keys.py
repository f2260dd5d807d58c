"""Ed25519 node identity: storage, the PEM/JWK renderings, key ids, sign and verify."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from loopnode.protocol import keys

SEED = bytes(range(32))
NODEINFO_PEM_RE = re.compile(r"^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\Z")
CORE_DP_KEY_ID_RE = re.compile(r"^key_[A-Za-z0-9_.:-]{8,120}\Z")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def test_saved_key_loads_back_and_is_owner_only(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "node.key"
    old_umask = os.umask(0)  # the file must not depend on a friendly umask
    try:
        keys.save_private_key(key, path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.public_raw(keys.load_private_key(path)) == keys.public_raw(key)
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_saving_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("old")
    path.chmod(0o644)
    keys.save_private_key(keys.generate_private_key(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]


def test_loading_a_non_ed25519_or_garbage_file_is_a_key_format_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(keys.KeyFormatError):
        keys.load_private_key(path)


def test_public_pem_matches_the_nodeinfo_pattern_without_trailing_newline(
    key: Ed25519PrivateKey,
) -> None:
    pem = keys.public_pem(key.public_key())
    assert NODEINFO_PEM_RE.match(pem)
    assert not pem.endswith("\n")
    assert keys.public_pem(keys.public_raw(key)) == pem


@pytest.mark.parametrize(
    "render",
    [
        lambda pem: pem,
        lambda pem: pem + "\n",
        lambda pem: pem.replace("\n", ""),
        lambda pem: pem.replace("\n", "\r\n"),
    ],
)
def test_public_pem_parses_back_in_any_line_layout(key: Ed25519PrivateKey, render) -> None:  # type: ignore[no-untyped-def]
    text = render(keys.public_pem(key.public_key()))
    assert keys.public_raw(keys.load_public_pem(text)) == keys.public_raw(key)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-----BEGIN PUBLIC KEY-----MIIB...END PUBLIC KEY-----",  # example 09's placeholder
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ],
)
def test_malformed_pem_is_a_key_format_error(text: str) -> None:
    with pytest.raises(keys.KeyFormatError):
        keys.load_public_pem(text)


def test_jwk_has_exactly_the_core_dp_members_and_round_trips(key: Ed25519PrivateKey) -> None:
    jwk = keys.public_jwk(key.public_key())
    assert set(jwk) == {"kty", "crv", "x"}
    assert (jwk["kty"], jwk["crv"], len(jwk["x"])) == ("OKP", "Ed25519", 43)
    assert keys.public_raw(keys.load_public_jwk(jwk)) == keys.public_raw(key)


def test_official_trust_store_jwk_parses() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "-7NRbVl-6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zlI"}
    assert len(keys.public_raw(keys.load_public_jwk(jwk))) == 32


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "Ed25519", "x": "-7NRbVl-6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zlI"},
        {"kty": "OKP", "crv": "X25519", "x": "-7NRbVl-6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zlI"},
        {"kty": "OKP", "crv": "Ed25519", "x": "-7NRbVl-6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zlI="},
        {"kty": "OKP", "crv": "Ed25519", "x": "-7NRbVl-6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zl"},
        {"kty": "OKP", "crv": "Ed25519", "x": "+7NRbVl/6ZYZBpXbKxksXkQF3V18rS8__ZRaGyt-zlI"},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": 5},
    ],
)
def test_malformed_jwk_is_a_key_format_error(jwk: dict[str, object]) -> None:
    with pytest.raises(keys.KeyFormatError):
        keys.load_public_jwk(jwk)


def test_key_id_is_deterministic_pattern_valid_and_per_node(key: Ed25519PrivateKey) -> None:
    pub = key.public_key()
    first = keys.key_id(pub, "munich.loop")
    assert first == keys.key_id(keys.public_raw(key), "munich.loop")
    assert CORE_DP_KEY_ID_RE.match(first)
    assert first != keys.key_id(pub, "berlin.loop")
    assert first != keys.key_id(keys.generate_private_key().public_key(), "munich.loop")


def test_key_id_stays_within_the_pattern_for_the_longest_node_ids(key: Ed25519PrivateKey) -> None:
    long_a, long_b = "a" * 116 + ".loop", "a" * 115 + "b.loop"
    id_a, id_b = keys.key_id(key.public_key(), long_a), keys.key_id(key.public_key(), long_b)
    assert CORE_DP_KEY_ID_RE.match(id_a) and CORE_DP_KEY_ID_RE.match(id_b)
    assert id_a != id_b


def test_signature_is_86_base64url_characters_and_verifies(key: Ed25519PrivateKey) -> None:
    signature = keys.sign(key, b"payload")
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", signature)
    assert keys.verify(key.public_key(), b"payload", signature)
    assert keys.verify(keys.public_raw(key), b"payload", signature)


def test_verify_rejects_other_data_other_keys_and_flipped_bytes(key: Ed25519PrivateKey) -> None:
    signature = keys.sign(key, b"payload")
    assert not keys.verify(key.public_key(), b"payload!", signature)
    assert not keys.verify(keys.generate_private_key().public_key(), b"payload", signature)
    raw = bytearray(keys.b64url_decode(signature) or b"")
    raw[10] ^= 0x01
    assert not keys.verify(key.public_key(), b"payload", keys.b64url_encode(bytes(raw)))


def test_verify_accepts_only_the_canonical_encoding_of_a_signature(
    key: Ed25519PrivateKey,
) -> None:
    signature = keys.sign(key, b"payload")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The last character carries 4 unused bits: other spellings decode to the same bytes.
    index = alphabet.index(signature[-1])
    respelled = signature[:-1] + alphabet[index ^ 0x01]
    assert keys.b64url_decode(respelled) is None
    assert not keys.verify(key.public_key(), b"payload", respelled)
    assert not keys.verify(key.public_key(), b"payload", signature + "==")


@given(
    pub=st.one_of(st.binary(max_size=40), st.text(max_size=5), st.none(), st.integers()),
    data=st.one_of(st.binary(max_size=20), st.text(max_size=5), st.none()),
    signature=st.one_of(st.text(max_size=100), st.binary(max_size=90), st.none(), st.integers()),
)
def test_verify_never_raises_on_garbage(pub: object, data: object, signature: object) -> None:
    assert keys.verify(pub, data, signature) in (True, False)  # type: ignore[arg-type]
