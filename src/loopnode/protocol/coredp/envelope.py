"""Core-dp signed envelopes (`Ed25519-lab-detached-v1`): build, sign, verify.

Theory of operation (SPEC-DIGEST §1.14 "Envelope", §4.1, §4.2; DECISIONS 20; SPEC-DIGEST §7
items 16-19):

- **Signing input** = the RFC 8785 canonical JSON of exactly 11 envelope fields
  (`SIGNED_FIELDS`). `replay_window_seconds`, `version_negotiation` and `signature` are not
  signed, so they are never trusted for security decisions. `signing_input_sha256` is the
  lowercase hex SHA-256 of those bytes; `signature.value` is pure Ed25519 over the same bytes,
  base64url unpadded. `signature.key_id` must equal `sender.key_id`.
- **Trust**: the key is looked up in the receiver's store by `(sender.node_id, key_id)` and
  must be usable at `created_at` (`trust.key_problem`: revoked never, `[valid_from,
  valid_until)`, rotated keys only before the rotation).
- **Replay window**: `created_at < expires_at <= created_at + replay_window_seconds`
  (60..900, optionally capped lower by the receiver), and the receiver's clock satisfies
  `created_at <= now < expires_at` (an optional skew allowance relaxes the first half only).
  Within the window the caller's seen-message cache (`EnvelopeVerdict.replay_key`, kept until
  `cache_until`) stops exact replays; the idempotency key handles retries.
- **Body binding**: `body_schema` follows `message_type` (`BODY_SCHEMA_BY_MESSAGE_TYPE`), the
  body repeats the message type, search bodies name their entity, and an error body never
  correlates to its own envelope.

`verify_envelope` runs all of this plus the schema and profile rules and returns a verdict
whose `error_code` is the core-dp error to answer with; it never raises on any input.
Canonicalisation failures (integers beyond 2^53, lone surrogates) are `schema_invalid`.
The signing input lives in `signing_input`, the individual checks in `envelope_rules`; both are
re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.times import format_utc, timestamp_or_none
from loopnode.protocol import keys
from loopnode.protocol.canonical import CanonicalizationFailed, canonical_bytes
from loopnode.protocol.coredp import choreography, dna_rules, errors, search_rules
from loopnode.protocol.coredp._js import get
from loopnode.protocol.coredp.envelope_rules import (
    KeyLookup,
    check_body_contract,
    check_ed25519_signature,
    check_replay_window,
    check_signing_input_sha256,
    check_trusted_key,
    resolve_lookup,
)
from loopnode.protocol.coredp.errors import ErrorCode
from loopnode.protocol.coredp.schemas import format_issues, schemas
from loopnode.protocol.coredp.signing_input import (
    ALG,
    BODY_SCHEMA_BY_MESSAGE_TYPE,
    CHOREOGRAPHY_SCHEMA,
    DNA_SCHEMA,
    PROFILE,
    PROFILE_VERSION,
    SEARCH_SCHEMA,
    SIGNED_FIELDS,
    digest_hex,
    signing_input,
    signing_input_bytes,
    signing_input_sha256,
)
from loopnode.protocol.trust import KeyRecord, TrustStore

__all__ = [
    "ALG",
    "BODY_SCHEMA_BY_MESSAGE_TYPE",
    "PROFILE",
    "PROFILE_VERSION",
    "SIGNED_FIELDS",
    "EnvelopeVerdict",
    "KeyLookup",
    "NodeRef",
    "build_envelope",
    "check_body_contract",
    "check_ed25519_signature",
    "check_replay_window",
    "check_signing_input_sha256",
    "check_trusted_key",
    "new_idempotency_key",
    "new_message_id",
    "sign_envelope",
    "signing_input",
    "signing_input_bytes",
    "signing_input_sha256",
    "verify_envelope",
]

DEFAULT_REPLAY_WINDOW_S: Final = 300
MIN_REPLAY_WINDOW_S: Final = 60
MAX_REPLAY_WINDOW_S: Final = 900


@dataclass(frozen=True, slots=True)
class NodeRef:
    """An envelope `sender`/`receiver`: node id, https endpoint, key id."""

    node_id: str
    endpoint: str
    key_id: str

    def as_dict(self) -> dict[str, str]:
        return {"node_id": self.node_id, "endpoint": self.endpoint, "key_id": self.key_id}


def new_message_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    return "msg_" + random_bytes(16).hex()


def new_idempotency_key(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    return "idem_" + random_bytes(16).hex()


def build_envelope(
    *,
    message_type: str,
    sender: NodeRef,
    receiver: NodeRef,
    body: Mapping[str, Any],
    message_id: str,
    idempotency_key: str,
    created_at: datetime,
    expires_in_s: int = DEFAULT_REPLAY_WINDOW_S,
    replay_window_s: int = DEFAULT_REPLAY_WINDOW_S,
    version_negotiation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An unsigned envelope (no `signature`); timestamps are emitted as UTC whole seconds."""
    if message_type not in BODY_SCHEMA_BY_MESSAGE_TYPE:
        raise ValueError(f"unknown core-dp message_type {message_type!r}")
    if not MIN_REPLAY_WINDOW_S <= replay_window_s <= MAX_REPLAY_WINDOW_S:
        raise ValueError("replay_window_s must be within 60..900")
    if not 0 < expires_in_s <= replay_window_s:
        raise ValueError("expires_in_s must be positive and within the replay window")
    created = created_at.replace(microsecond=0)
    envelope: dict[str, Any] = {
        "profile": PROFILE,
        "profile_version": PROFILE_VERSION,
        "message_id": message_id,
        "message_type": message_type,
        "created_at": format_utc(created),
        "expires_at": format_utc(created + timedelta(seconds=expires_in_s)),
        "sender": sender.as_dict(),
        "receiver": receiver.as_dict(),
        "idempotency_key": idempotency_key,
        "replay_window_seconds": replay_window_s,
        "body_schema": BODY_SCHEMA_BY_MESSAGE_TYPE[message_type],
        "body": dict(body),
    }
    if version_negotiation is not None:
        envelope["version_negotiation"] = dict(version_negotiation)
    return envelope


def sign_envelope(envelope: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of `envelope` with its detached signature under `sender.key_id`."""
    data = signing_input_bytes(envelope)
    signed = {name: value for name, value in envelope.items() if name != "signature"}
    signed["signature"] = {
        "alg": ALG,
        "key_id": envelope["sender"]["key_id"],
        "signing_input_sha256": digest_hex(data),
        "value": keys.sign(key, data),
    }
    return signed


# --- the receiver's verdict -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeVerdict:
    """Outcome of `verify_envelope`.

    If `accepted`, the caller must still consult its seen-message cache: a hit on
    `replay_key` is a replay (answer `duplicate`, or the stored result for the idempotency
    key); otherwise store `replay_key` until `cache_until` (after which the envelope is stale
    anyway). If not accepted, answer with the core-dp error `error_code`.
    """

    accepted: bool
    error_code: ErrorCode | None
    failures: tuple[str, ...]
    message_id: str | None = None
    sender_node_id: str | None = None
    replay_key: str | None = None
    cache_until: datetime | None = None
    key: KeyRecord | None = None


def verify_envelope(
    envelope: object,
    trust: TrustStore | KeyLookup,
    now: datetime,
    *,
    receiver_node_id: str | None = None,
    skew_s: int = 0,
    max_window_s: int | None = None,
) -> EnvelopeVerdict:
    """Judge a received envelope completely; see the module docstring for the order."""
    steps: tuple[Callable[[Any], tuple[ErrorCode, list[str]] | None], ...] = (
        _shape_step,
        _profile_step,
        _schema_step,
        lambda env: _checked("schema_invalid", check_body_contract(env)),
        lambda env: _checked("signature_invalid", check_ed25519_signature(env, trust)),
        lambda env: _checked("signature_invalid", check_trusted_key(env, trust)),
        lambda env: _receiver_step(env, receiver_node_id),
        lambda env: _checked(
            "stale_message",
            check_replay_window(env, now, skew_s=skew_s, max_window_s=max_window_s),
        ),
        _authority_step,
        lambda env: _checked("invalid_request", _body_rules(env)),
    )
    for step in steps:
        outcome = step(envelope)
        if outcome is not None:
            return EnvelopeVerdict(False, outcome[0], tuple(outcome[1]), *_identity(envelope))
    assert isinstance(envelope, Mapping)
    sender = envelope["sender"]["node_id"]
    lookup = resolve_lookup(trust)
    record = lookup(sender, envelope["signature"]["key_id"]) if lookup is not None else None
    return EnvelopeVerdict(
        accepted=True,
        error_code=None,
        failures=(),
        message_id=envelope["message_id"],
        sender_node_id=sender,
        replay_key=f"core-dp:{sender}:{envelope['message_id']}",
        cache_until=timestamp_or_none(envelope["expires_at"]),
        key=record,
    )


def _identity(envelope: object) -> tuple[str | None, str | None]:
    message_id, sender = get(envelope, "message_id"), get(envelope, "sender", "node_id")
    return (
        message_id if isinstance(message_id, str) else None,
        sender if isinstance(sender, str) else None,
    )


def _checked(code: ErrorCode, failures: list[str]) -> tuple[ErrorCode, list[str]] | None:
    return (code, failures) if failures else None


def _shape_step(envelope: object) -> tuple[ErrorCode, list[str]] | None:
    if not isinstance(envelope, Mapping):
        return "schema_invalid", ["signed envelope must be a JSON object."]
    try:
        canonical_bytes(envelope)
    except CanonicalizationFailed as exc:
        return "schema_invalid", [f"envelope has no canonical JSON form: {exc}"]
    return None


def _profile_step(envelope: Mapping[str, Any]) -> tuple[ErrorCode, list[str]] | None:
    version = envelope.get("profile_version")
    if (
        envelope.get("profile") == PROFILE
        and isinstance(version, str)
        and version != PROFILE_VERSION
    ):
        return "unsupported_profile_version", [f"profile_version {version} is not supported."]
    return None


def _schema_step(envelope: Mapping[str, Any]) -> tuple[ErrorCode, list[str]] | None:
    issues = schemas()["envelope.schema.json"].issues(envelope)
    if issues:
        return "schema_invalid", [f"envelope failed envelope.schema.json:\n{format_issues(issues)}"]
    body_issues = schemas()[envelope["body_schema"]].issues(envelope["body"])
    if body_issues:
        body_schema = envelope["body_schema"]
        return "schema_invalid", [
            f"envelope body failed {body_schema}:\n{format_issues(body_issues)}"
        ]
    for name in ("created_at", "expires_at"):
        if timestamp_or_none(envelope[name]) is None:
            return "schema_invalid", [f"{name} is not an RFC 3339 timestamp with a time zone."]
    return None


def _receiver_step(
    envelope: Mapping[str, Any], receiver_node_id: str | None
) -> tuple[ErrorCode, list[str]] | None:
    addressed = envelope["receiver"]["node_id"]
    if receiver_node_id is not None and addressed != receiver_node_id:
        return "invalid_request", [f"envelope is addressed to {addressed}, not {receiver_node_id}."]
    return None


def _authority_step(envelope: Mapping[str, Any]) -> tuple[ErrorCode, list[str]] | None:
    if envelope["body_schema"] != CHOREOGRAPHY_SCHEMA:
        return None
    return _checked("forbidden", choreography.check_envelope_authority(envelope["body"], envelope))


def _body_rules(envelope: Mapping[str, Any]) -> list[str]:
    body, schema_id = envelope["body"], envelope["body_schema"]
    if schema_id == CHOREOGRAPHY_SCHEMA:
        return [
            *choreography.check_message_rules(body),
            *choreography.check_terminal_regression(body),
            *choreography.check_idempotency_retry(body),
            *choreography.check_stale_reordered(body),
            *choreography.check_transfer_convergence(body),
        ]
    if schema_id == DNA_SCHEMA:
        return dna_rules.check_dna_operation(body)
    if schema_id == SEARCH_SCHEMA:
        return search_rules.check_search_contract(body)
    return errors.check_error_contract(body)
