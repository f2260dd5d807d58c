"""The core-dp envelope checks of the conformance harness, in its wording.

Theory of operation (SPEC-DIGEST §4.1 "Verification order", "Replay window", "Body binding";
§5.2): five checks judge an envelope: the signing-input hash, the detached Ed25519 signature
(hash, `signature.key_id == sender.key_id`, trust lookup by `(sender.node_id, key_id)`, key
lifecycle at `created_at`, then Ed25519), trusted-key resolution alone (including the rotation
rule), the body binding, and the replay window at a given receiver time. Each returns failure
texts (empty = pass) and never raises; the receiver (`envelope.verify_envelope`) and the
conformance runner share them. Like the JS harness, an unparsable `created_at` skips the key
window comparison here; the receiver refuses such envelopes earlier, as schema-invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from loopnode.domain.times import timestamp_or_none
from loopnode.protocol import keys
from loopnode.protocol.canonical import CanonicalizationFailed
from loopnode.protocol.coredp._js import get, strict_eq, text, truthy
from loopnode.protocol.coredp.signing_input import (
    BODY_SCHEMA_BY_MESSAGE_TYPE,
    digest_hex,
    signing_input_bytes,
)
from loopnode.protocol.trust import KeyProblem, KeyRecord, TrustStore, key_problem

__all__ = [
    "KeyLookup",
    "check_body_contract",
    "check_ed25519_signature",
    "check_replay_window",
    "check_signing_input_sha256",
    "check_trusted_key",
    "resolve_lookup",
]

KeyLookup = Callable[[str, str], KeyRecord | None]


def _hash_failures(envelope: object) -> tuple[list[str], bytes | None]:
    claimed = get(envelope, "signature", "signing_input_sha256")
    try:
        data = signing_input_bytes(envelope) if isinstance(envelope, Mapping) else None
    except CanonicalizationFailed as exc:
        return [f"signing input cannot be canonicalised (schema_invalid): {exc}"], None
    if data is None:
        return ["signed envelope must be a JSON object."], None
    actual = digest_hex(data)
    if not strict_eq(claimed, actual):
        return [f"expected signing_input_sha256 {actual}, got {text(claimed)}"], data
    return [], data


def check_signing_input_sha256(envelope: object) -> list[str]:
    """`core-dp-envelope-signing-input-sha256`."""
    return _hash_failures(envelope)[0]


def resolve_lookup(trust: TrustStore | KeyLookup | None) -> KeyLookup | None:
    return trust.lookup if isinstance(trust, TrustStore) else trust


def _key_failures(
    envelope: object, lookup: KeyLookup, *, rotation: bool
) -> tuple[list[str], KeyRecord | None]:
    key_id, node_id = get(envelope, "signature", "key_id"), get(envelope, "sender", "node_id")
    found = (
        lookup(node_id, key_id) if isinstance(key_id, str) and isinstance(node_id, str) else None
    )
    who = f"sender key {text(key_id)}"
    if found is None:
        return [f"{who} not found in trust store for node {text(node_id)}."], None
    created_text = get(envelope, "created_at")
    created = timestamp_or_none(created_text)
    # JS compares NaN as false both ways: an unparsable created_at skips the window check.
    problem = key_problem(found, created) if created is not None else None
    if found.status == "revoked":
        problem = KeyProblem.REVOKED
    if problem is KeyProblem.REVOKED:
        return [f"{who} for node {node_id} has been revoked."], found
    if problem is KeyProblem.OUTSIDE_VALIDITY:
        return [
            f"{who} for node {node_id} not valid for message created_at {text(created_text)}."
        ], found
    if problem is KeyProblem.ROTATED and rotation:
        return [
            f"{who} for node {node_id} rotated and not valid for message created_at "
            f"{text(created_text)}."
        ], found
    return [], found


def check_trusted_key(envelope: object, trust: TrustStore | KeyLookup | None) -> list[str]:
    """`core-dp-envelope-trusted-key-resolution`: known, not revoked, valid at created_at."""
    lookup = resolve_lookup(trust)
    if lookup is None:
        return ["trustStore with keys array is required."]
    return _key_failures(envelope, lookup, rotation=True)[0]


def check_ed25519_signature(envelope: object, trust: TrustStore | KeyLookup | None) -> list[str]:
    """`core-dp-envelope-ed25519-signature`: hash, key id binding, trust, then Ed25519."""
    failures, data = _hash_failures(envelope)
    if not strict_eq(get(envelope, "signature", "key_id"), get(envelope, "sender", "key_id")):
        failures.append("signature.key_id must match sender.key_id.")
    lookup = resolve_lookup(trust)
    if lookup is None:
        return [*failures, "trustStore with keys array is required for signature verification."]
    key_failures, record = _key_failures(envelope, lookup, rotation=False)
    if key_failures or record is None:
        return failures + key_failures
    value = get(envelope, "signature", "value")
    if (
        data is None
        or not isinstance(value, str)
        or not keys.verify(record.public_key, data, value)
    ):
        failures.append("detached Ed25519 signature verification failed.")
    return failures


def check_body_contract(envelope: object) -> list[str]:
    """`core-dp-envelope-body-contract`: body_schema, message type, entity, correlation."""
    mt = get(envelope, "message_type")
    expected = BODY_SCHEMA_BY_MESSAGE_TYPE.get(mt) if isinstance(mt, str) else None
    failures = []
    if expected is None:
        failures.append(f"message_type {text(mt)} has no registered body_schema contract.")
    elif not strict_eq(get(envelope, "body_schema"), expected):
        failures.append(f"message_type {mt} must use body_schema {expected}.")
    body_type = get(envelope, "body", "message_type")
    if truthy(body_type) and not strict_eq(body_type, mt):
        failures.append(
            f"envelope message_type {text(mt)} must match body.message_type {text(body_type)}."
        )
    for entity in ("material", "product"):
        if mt == f"{entity}.search" and not strict_eq(get(envelope, "body", "entity_type"), entity):
            failures.append(f"{entity}.search envelope body entity_type must be {entity}.")
    correlation = get(envelope, "body", "correlation_id")
    if mt == "error" and strict_eq(correlation, get(envelope, "message_id")):
        failures.append(
            "error correlation_id must identify the failed message or conversation, not the "
            "error envelope itself."
        )
    return failures


def check_replay_window(
    envelope: object,
    now: datetime | None,
    *,
    skew_s: int = 0,
    max_window_s: int | None = None,
) -> list[str]:
    """`core-dp-envelope-replay-window` at receiver time `now` (None: unparsable time).

    `skew_s` tolerates a receiver clock that is behind the sender (only `now >= created_at`
    is relaxed); `max_window_s` caps the unsigned `replay_window_seconds` (SPEC-DIGEST §7
    item 16). Both default to the upstream behaviour.
    """
    window = get(envelope, "replay_window_seconds")
    if not _is_integer(window):
        return ["signed envelope replay_window_seconds is required."]
    created = timestamp_or_none(get(envelope, "created_at"))
    expires = timestamp_or_none(get(envelope, "expires_at"))
    if created is None or expires is None:
        return ["signed envelope created_at and expires_at must be valid date-time values."]
    failures = []
    if created >= expires:
        failures.append("signed envelope created_at must be earlier than expires_at.")
    if now is None:
        return [*failures, "signed envelope evaluation_time must be a valid date-time value."]
    if now + timedelta(seconds=skew_s) < created:
        failures.append("evaluation_time must be >= created_at.")
    if now >= expires:
        failures.append("message has expired (evaluation_time must be < expires_at).")
    limit = window if max_window_s is None else min(window, max_window_s)
    if expires > created + timedelta(seconds=limit):
        failures.append(
            "signed envelope expires_at must be within replay_window_seconds of created_at."
        )
    return failures


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
