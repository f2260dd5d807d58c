"""Signed node-to-node HTTP requests (DECISIONS 19; SPEC-DIGEST §4.3, §7 items 13-14).

Theory of operation: the spec names the headers `X-Node-ID`, `X-Node-Signature` and
`X-Timestamp` (±5 min) but defines no algorithm; loopnode mirrors the core-dp envelope. The
sender signs, with its Ed25519 node key, the RFC 8785 canonical JSON of

    {method, path, x_node_id, x_timestamp, target_node_id, body_sha256}

where `method` is upper-case, `path` is the request target exactly as sent (path plus query
string), `x_timestamp` is the `X-Timestamp` header text (RFC 3339 UTC `Z`, whole seconds when
we emit it), `target_node_id` is the receiving node's id (so a request captured on its way to
one node cannot be replayed to another) and `body_sha256` is the lowercase hex SHA-256 of
the raw body bytes. It sends `X-Node-ID`, `X-Timestamp`, `X-Node-Key-Id`,
`X-Node-Signature-Input-SHA256` (hex SHA-256 of the canonical bytes) and `X-Node-Signature`
(base64url Ed25519, 86 characters).

The receiver (`verify_request`, pure: clock and key lookup are injected) checks, cheapest
first: all headers present (401); timestamp parses (400) and is within ±`max_skew_s` of its
clock, both edges included (401); the key is known for that node (401), not revoked and
usable at the request's timestamp (401, lifecycle rules in `trust`); the input digest matches
(401); the signature verifies (401). Every error subclasses `Unauthorized` or
`InvalidRequest`, so the web layer maps them without knowing this module.

Replays: a valid request may be accepted once. The caller keeps a seen-signature cache keyed
by `replay_key(headers)` (or `VerifiedRequest.replay_key`) until
`VerifiedRequest.replay_expires_at` (timestamp + max skew); after that the skew check rejects
the request anyway. Check and insert atomically (e.g. `SET NX` with a TTL); a hit is a replay
and should be refused with 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import InvalidRequest, Unauthorized
from loopnode.domain.times import format_utc, timestamp_or_none
from loopnode.protocol import keys
from loopnode.protocol.canonical import CanonicalizationFailed, canonical_bytes
from loopnode.protocol.trust import KeyProblem, KeyRecord, key_problem

__all__ = [
    "MAX_SKEW_S",
    "SIGNED_HEADERS",
    "BadSignature",
    "BadTimestamp",
    "ClockSkew",
    "DigestMismatch",
    "KeyNotValid",
    "MissingSignatureHeaders",
    "RequestSignatureError",
    "RevokedKey",
    "UnknownKey",
    "UnknownNode",
    "VerifiedRequest",
    "replay_key",
    "request_signing_input",
    "sign_request",
    "verify_request",
]

H_NODE_ID: Final = "X-Node-ID"
H_TIMESTAMP: Final = "X-Timestamp"
H_KEY_ID: Final = "X-Node-Key-Id"
H_INPUT_SHA256: Final = "X-Node-Signature-Input-SHA256"
H_SIGNATURE: Final = "X-Node-Signature"
SIGNED_HEADERS: Final = (H_NODE_ID, H_TIMESTAMP, H_KEY_ID, H_INPUT_SHA256, H_SIGNATURE)
MAX_SKEW_S: Final = 300


class RequestSignatureError(Unauthorized):
    """The request's node signature is missing or not acceptable (401)."""


class MissingSignatureHeaders(RequestSignatureError):
    """One of `SIGNED_HEADERS` is absent or empty."""


class UnknownKey(RequestSignatureError):
    """No trusted key with this key id for this node."""


class UnknownNode(UnknownKey):
    """The node itself is unknown to the trust store."""


class RevokedKey(RequestSignatureError):
    """The key has been revoked (always rejected)."""


class KeyNotValid(RequestSignatureError):
    """The key is outside its validity window, or rotated before the request's timestamp."""


class DigestMismatch(RequestSignatureError):
    """`X-Node-Signature-Input-SHA256` is not the digest of what the receiver reconstructs."""


class BadSignature(RequestSignatureError):
    """The Ed25519 signature does not verify."""


class ClockSkew(RequestSignatureError):
    """`X-Timestamp` is more than the allowed skew away from the receiver's clock."""


class BadTimestamp(InvalidRequest):
    """`X-Timestamp` is not an RFC 3339 timestamp with a time zone (400)."""


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request whose signature was accepted; see the module docstring for replays."""

    node_id: str
    key_id: str
    timestamp: datetime
    key: KeyRecord
    replay_key: str
    replay_expires_at: datetime


def request_signing_input(
    *,
    method: str,
    path_with_query: str,
    node_id: str,
    timestamp: str,
    target_node_id: str,
    body_sha256: str,
) -> bytes:
    """The canonical bytes both sides sign/verify; raises `CanonicalizationFailed`."""
    return canonical_bytes(
        {
            "method": method.upper(),
            "path": path_with_query,
            "x_node_id": node_id,
            "x_timestamp": timestamp,
            "target_node_id": target_node_id,
            "body_sha256": body_sha256,
        }
    )


def sign_request(
    *,
    key: Ed25519PrivateKey,
    key_id: str,
    node_id: str,
    target_node_id: str,
    method: str,
    path_with_query: str,
    body: bytes,
    now: datetime,
) -> dict[str, str]:
    """The five headers that authenticate one request from `node_id` to `target_node_id`."""
    timestamp = format_utc(now)
    data = request_signing_input(
        method=method,
        path_with_query=path_with_query,
        node_id=node_id,
        timestamp=timestamp,
        target_node_id=target_node_id,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    return {
        H_NODE_ID: node_id,
        H_TIMESTAMP: timestamp,
        H_KEY_ID: key_id,
        H_INPUT_SHA256: hashlib.sha256(data).hexdigest(),
        H_SIGNATURE: keys.sign(key, data),
    }


def verify_request(
    headers: Mapping[str, str],
    *,
    method: str,
    path_with_query: str,
    body: bytes,
    receiver_node_id: str,
    now: datetime,
    lookup_key: Callable[[str, str], KeyRecord | None],
    max_skew_s: int = MAX_SKEW_S,
    node_known: Callable[[str], bool] | None = None,
) -> VerifiedRequest:
    """Accept or refuse a signed request; raises a `RequestSignatureError` or `BadTimestamp`.

    `lookup_key(node_id, key_id)` returns the trusted key or None. When `node_known` is given
    an unknown node raises `UnknownNode` rather than `UnknownKey` (its parent class).
    """
    node_id, timestamp_text, key_id, input_sha256, signature = _signature_headers(headers)
    timestamp = timestamp_or_none(timestamp_text)
    if timestamp is None:
        raise BadTimestamp(f"{H_TIMESTAMP} is not an RFC 3339 timestamp: {timestamp_text!r}")
    if abs((now - timestamp).total_seconds()) > max_skew_s:
        raise ClockSkew(f"{H_TIMESTAMP} is more than {max_skew_s} s away from our clock")
    record = _trusted_key(node_id, key_id, timestamp, lookup_key, node_known)
    try:
        data = request_signing_input(
            method=method,
            path_with_query=path_with_query,
            node_id=node_id,
            timestamp=timestamp_text,
            target_node_id=receiver_node_id,
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
    except CanonicalizationFailed as exc:
        raise BadSignature("the request has no canonical signing input") from exc
    # compare_digest raises TypeError on non-ASCII str: a hostile header must be a refusal.
    if not input_sha256.isascii() or not hmac.compare_digest(
        hashlib.sha256(data).hexdigest(), input_sha256.lower()
    ):
        raise DigestMismatch(f"{H_INPUT_SHA256} does not match the request")
    if not keys.verify(record.public_key, data, signature):
        raise BadSignature(f"{H_SIGNATURE} does not verify")
    return VerifiedRequest(
        node_id=node_id,
        key_id=key_id,
        timestamp=timestamp,
        key=record,
        replay_key=_replay_key(node_id, signature),
        replay_expires_at=timestamp + timedelta(seconds=max_skew_s),
    )


def replay_key(headers: Mapping[str, str]) -> str:
    """The seen-signature cache key of a request; meaningful after `verify_request` accepted it.

    Signatures are accepted only in their one canonical base64url spelling, so re-encoding a
    captured signature cannot produce a new key.
    """
    node_id, _, _, _, signature = _signature_headers(headers)
    return _replay_key(node_id, signature)


def _replay_key(node_id: str, signature: str) -> str:
    return f"node-sig:{node_id}:{signature}"


def _signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str, str, str]:
    lowered = {str(name).lower(): value for name, value in headers.items()}
    values = []
    for name in SIGNED_HEADERS:
        value = lowered.get(name.lower())
        if not isinstance(value, str) or not value.strip():
            raise MissingSignatureHeaders(f"missing {name} header")
        values.append(value.strip())
    node_id, timestamp, key_id, input_sha256, signature = values
    return node_id, timestamp, key_id, input_sha256, signature


def _trusted_key(
    node_id: str,
    key_id: str,
    timestamp: datetime,
    lookup_key: Callable[[str, str], KeyRecord | None],
    node_known: Callable[[str], bool] | None,
) -> KeyRecord:
    record = lookup_key(node_id, key_id)
    if record is None or record.node_id != node_id or record.key_id != key_id:
        if node_known is not None and not node_known(node_id):
            raise UnknownNode(f"node {node_id} is not trusted")
        raise UnknownKey(f"key {key_id} is not trusted for node {node_id}")
    problem = key_problem(record, timestamp)
    if problem is KeyProblem.REVOKED:
        raise RevokedKey(f"key {key_id} of node {node_id} has been revoked")
    if problem is not None:
        raise KeyNotValid(f"key {key_id} of node {node_id} is not valid at {format_utc(timestamp)}")
    return record
