"""Multikey: Ed25519 keys as base58-btc multibase strings (`z6Mk…`), for Data Integrity proofs.

Theory of operation (W3C Controlled Identifiers v1.0 §2.2.2 "Multikey"; Data Integrity EdDSA
Cryptosuites v1.0 §2.1.1): a public key is the multicodec header `0xed 0x01` followed by the 32
raw bytes, a secret key `0x80 0x26` followed by the 32-byte seed; both are written as multibase
base58-btc, i.e. the letter `z` and the Bitcoin base58 alphabet. Decoding is strict: exactly one
spelling per key (no stray leading `1`s beyond the encoded zero bytes, the right header, the right
length), and every malformed input raises `MultikeyError`, never anything else.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol import keys

__all__ = [
    "MultikeyError",
    "b58decode",
    "b58encode",
    "decode_multibase",
    "encode_multibase",
    "private_key_from_multibase",
    "private_key_multibase",
    "public_key_from_multibase",
    "public_key_multibase",
]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: i for i, char in enumerate(ALPHABET)}
ED25519_PUB_HEADER = b"\xed\x01"
ED25519_PRIV_HEADER = b"\x80\x26"
_MAX_CHARS = 512  # no key or signature comes near this; it bounds the quadratic decoder


class MultikeyError(InvalidRequest):
    """Not a well-formed base58-btc multibase value, or not an Ed25519 Multikey."""


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(ALPHABET[rest])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > _MAX_CHARS:
        raise MultikeyError("base58 value must be a string of at most 512 characters")
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            raise MultikeyError(f"not a base58-btc character: {char!r}")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def encode_multibase(data: bytes) -> str:
    """Multibase base58-btc: `z` + base58."""
    return "z" + b58encode(data)


def decode_multibase(text: object) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise MultikeyError("multibase value must be a string starting with 'z' (base58-btc)")
    return b58decode(text[1:])


def public_key_multibase(pub: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> str:
    raw = pub if isinstance(pub, bytes) else keys.public_raw(pub)
    if len(raw) != keys.PUBLIC_KEY_BYTES:
        raise MultikeyError("an Ed25519 public key has 32 bytes")
    return encode_multibase(ED25519_PUB_HEADER + raw)


def public_key_from_multibase(text: object) -> Ed25519PublicKey:
    raw = _strip_header(decode_multibase(text), ED25519_PUB_HEADER, "public")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - every 32-byte string parses today
        raise MultikeyError(f"invalid Ed25519 public key: {exc}") from exc


def private_key_multibase(key: Ed25519PrivateKey) -> str:
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return encode_multibase(ED25519_PRIV_HEADER + seed)


def private_key_from_multibase(text: object) -> Ed25519PrivateKey:
    seed = _strip_header(decode_multibase(text), ED25519_PRIV_HEADER, "secret")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _strip_header(data: bytes, header: bytes, what: str) -> bytes:
    if len(data) != len(header) + 32 or not data.startswith(header):
        raise MultikeyError(
            f"not an Ed25519 {what} Multikey (header {header.hex()} and 32 bytes expected)"
        )
    return data[len(header) :]
