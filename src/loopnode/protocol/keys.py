"""Ed25519 node identity: generate, store, render and use one signing key.

Theory of operation (DECISIONS 18, SPEC-DIGEST §4.1 "Key ids and JWK", §7 item 29):
a node has exactly one Ed25519 key pair. The private key lives in a PKCS#8 PEM file that is
never readable by anyone but its owner, not even for the instant between creation and chmod.
The public key is stored raw (32 bytes) and rendered in the two forms the spec uses: PEM SPKI
for NodeInfo / NodeRegistry / handshake (without a trailing newline, because the NodeInfo
pattern ends in ``-----END PUBLIC KEY-----$``) and the OKP JWK for core-dp trust stores.

Signatures are pure Ed25519 (RFC 8032), base64url without padding: 64 bytes, 86 characters.
`verify` is a predicate for untrusted input: it never raises, whatever it is given, and it
accepts only the canonical encoding of a signature, so one signature has exactly one string
form (a seen-signature replay cache keyed on the string cannot be bypassed by re-encoding).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from loopnode.domain.errors import InvalidRequest

__all__ = [
    "KeyFormatError",
    "b64url_decode",
    "b64url_encode",
    "generate_private_key",
    "key_id",
    "load_private_key",
    "load_public_jwk",
    "load_public_pem",
    "public_jwk",
    "public_pem",
    "public_raw",
    "save_private_key",
    "sign",
    "verify",
]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
SIGNATURE_CHARS = 86
KEY_ID_RE = re.compile(r"^key_[A-Za-z0-9_.:-]{8,120}\Z")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*\Z")
_PEM_RE = re.compile(
    r"^\s*-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*\Z"
)
# key_ + at most 120 characters; the fingerprint part below takes 17 of them.
_KEY_ID_NODE_CHARS = 120 - 17


class KeyFormatError(InvalidRequest):
    """A key file, PEM text or JWK is not a well-formed Ed25519 key."""


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write `key` as unencrypted PKCS#8 PEM, atomically, mode 0o600 from the first byte.

    The file is created under a temporary name with O_EXCL and mode 0o600 (the umask can only
    remove bits), fsynced, then renamed over `path`, so readers see either the old file or the
    complete new one and nobody else can ever open it.
    """
    data = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; some platforms cannot open a directory, which is harmless.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"{path}: not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"{path}: not an Ed25519 private key")
    return key


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte raw public key of a private or public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(pub: Ed25519PublicKey | bytes) -> str:
    """SPKI PEM without the trailing newline (DECISIONS 18)."""
    pem = _as_public_key(pub).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii").rstrip("\n")


def public_jwk(pub: Ed25519PublicKey | bytes) -> dict[str, str]:
    """The OKP JWK of the core-dp trust store: exactly `kty`, `crv` and `x`."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(_raw(pub))}


def load_public_pem(text: str) -> Ed25519PublicKey:
    """Parse SPKI PEM, with or without line breaks or a trailing newline."""
    match = _PEM_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise KeyFormatError("not a PEM public key")
    body = "".join(match.group(1).split())
    try:
        der = base64.b64decode(body, validate=True)
        key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError("PEM public key is not Ed25519")
    return key


def load_public_jwk(jwk: Mapping[str, object]) -> Ed25519PublicKey:
    """Parse an OKP Ed25519 JWK; other members (kid, use...) are ignored."""
    if not isinstance(jwk, Mapping):
        raise KeyFormatError("JWK must be an object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyFormatError("JWK must have kty OKP and crv Ed25519")
    x = jwk.get("x")
    raw = b64url_decode(x, PUBLIC_KEY_BYTES) if isinstance(x, str) else None
    if raw is None:
        raise KeyFormatError("JWK x must be 43 characters of unpadded base64url")
    return _public_key_from_raw(raw)


def key_id(pub: Ed25519PublicKey | bytes, node_id: str) -> str:
    """A deterministic key id, unique per (node, key), matching the core-dp key_id pattern.

    `key_<node id>_<16 hex of sha256(node id NUL raw key)>`; the node id part is cut to keep
    within 120 characters, and the hash covers the full node id, so cut ids stay distinct.
    """
    digest = hashlib.sha256(node_id.encode("utf-8") + b"\0" + _raw(pub)).hexdigest()[:16]
    node_part = re.sub(r"[^A-Za-z0-9_.:-]", "-", node_id)[:_KEY_ID_NODE_CHARS]
    return f"key_{node_part}_{digest}" if node_part else f"key_{digest}"


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """Ed25519 over `data`, base64url without padding (86 characters)."""
    return b64url_encode(key.sign(data))


def verify(pub: Ed25519PublicKey | bytes, data: bytes, sig_b64url: str) -> bool:
    """True iff `sig_b64url` is the canonical encoding of a valid signature. Never raises."""
    try:
        signature = b64url_decode(sig_b64url, SIGNATURE_BYTES)
        if signature is None or not isinstance(data, bytes | bytearray | memoryview):
            return False
        key = _as_public_key(pub)
        key.verify(signature, bytes(data))
    except (InvalidSignature, KeyFormatError, ValueError, TypeError):
        return False
    return True


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, expected_len: int | None = None) -> bytes | None:
    """Strict unpadded base64url: None unless `text` is the canonical encoding.

    Node's decoder is lenient (padding, stray bits); we accept exactly one spelling per value.
    """
    if not isinstance(text, str) or not _B64URL_RE.match(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if expected_len is not None and len(data) != expected_len:
        return None
    return data if b64url_encode(data) == text else None


def _raw(pub: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(pub, bytes | bytearray):
        raw = bytes(pub)
        if len(raw) != PUBLIC_KEY_BYTES:
            raise KeyFormatError("raw Ed25519 public key must be 32 bytes")
        return raw
    return public_raw(pub)


def _as_public_key(pub: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    if isinstance(pub, Ed25519PublicKey):
        return pub
    if isinstance(pub, bytes | bytearray):
        return _public_key_from_raw(bytes(pub))
    raise KeyFormatError("expected an Ed25519 public key or its 32 raw bytes")


@lru_cache(maxsize=4096)
def _public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    # Cached: parsing costs about as much as a third of a verification, and the same few peer
    # keys are used over and over.
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyFormatError("raw Ed25519 public key must be 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyFormatError(f"invalid Ed25519 public key: {exc}") from exc
