"""Key notices: how a node tells its peers that one of its keys was rotated or revoked.

A notice is self-authenticating JSON (loopnode extension, `@type` `KeyNotice`), delivered to
`POST /api/v1/federation/keys`:

    {"@type": "KeyNotice", "schema_version": "0.2.0", "notice_id": "kn_…",
     "node_id": "munich.loop", "action": "rotated" | "revoked",
     "key_id": <the key concerned>, "public_key": <its PEM>, "effective_at": <RFC 3339 Z>,
     "signer_key_id": <key that signs>, "signature": <base64url Ed25519>,
     rotation only: "new_key_id", "new_public_key", "new_key_signature"}

Both signatures cover the RFC 8785 canonical JSON of the notice without `signature` and
`new_key_signature`. A rotation is signed by the old key (authority) and by the new one (proof
of possession); its `new_key_id` must be the deterministic id of the new key. A revocation is
signed by the revoked key itself (whoever holds a key may always give it up) or by a key of
the same node that the receiver holds as active. A notice never introduces a key for a node
whose keys are all revoked: that takes an operator (`loopnode peers approve`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain.errors import Issue, ValidationFailed
from loopnode.domain.times import format_utc, timestamp_or_none
from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes

SIGNATURE_FIELDS = frozenset({"signature", "new_key_signature"})
ACTIONS = frozenset({"rotated", "revoked"})


@dataclass(frozen=True, slots=True)
class KeyNotice:
    notice_id: str
    node_id: str
    action: str
    key_id: str
    public_key: bytes
    effective_at: datetime
    signer_key_id: str
    signature: str
    new_key_id: str | None = None
    new_public_key: bytes | None = None
    new_key_signature: str | None = None


def signing_input(payload: Mapping[str, Any]) -> bytes:
    return canonical_bytes({k: v for k, v in payload.items() if k not in SIGNATURE_FIELDS})


def build(
    *,
    notice_id: str,
    node_id: str,
    action: str,
    key: bytes,
    effective_at: datetime,
    signer: Ed25519PrivateKey,
    new_key: Ed25519PrivateKey | None = None,
) -> dict[str, Any]:
    """A signed notice about `key` (raw public bytes) of `node_id`."""
    signer_raw = keys.public_raw(signer)
    notice: dict[str, Any] = {
        "@type": "KeyNotice",
        "schema_version": LOOP_SPEC_VERSION,
        "notice_id": notice_id,
        "node_id": node_id,
        "action": action,
        "key_id": keys.key_id(key, node_id),
        "public_key": keys.public_pem(key),
        "effective_at": format_utc(effective_at),
        "signer_key_id": keys.key_id(signer_raw, node_id),
    }
    if new_key is not None:
        new_raw = keys.public_raw(new_key)
        notice["new_key_id"] = keys.key_id(new_raw, node_id)
        notice["new_public_key"] = keys.public_pem(new_raw)
    data = signing_input(notice)
    notice["signature"] = keys.sign(signer, data)
    if new_key is not None:
        notice["new_key_signature"] = keys.sign(new_key, data)
    return notice


def parse(payload: object) -> KeyNotice:
    """Check the shape and the key ids; signatures are checked against the trust store later."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed([Issue("", "must be a JSON object")])
    issues: list[Issue] = []

    def text(name: str, required: bool = True) -> str | None:
        value = payload.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            issues.append(Issue(f"/{name}", "must be a non-empty string"))
            return None
        return value

    if payload.get("@type") != "KeyNotice":
        issues.append(Issue("/@type", "must be 'KeyNotice'"))
    values = {n: text(n) for n in ("notice_id", "node_id", "action", "key_id", "signer_key_id")}
    values["signature"] = text("signature")
    if values["action"] is not None and values["action"] not in ACTIONS:
        issues.append(Issue("/action", "must be 'rotated' or 'revoked'"))
    public = _pem(text("public_key"), "/public_key", issues)
    effective = timestamp_or_none(payload.get("effective_at"))
    if effective is None:
        issues.append(Issue("/effective_at", "must be an RFC 3339 timestamp"))
    rotation = values["action"] == "rotated"
    new_id, new_sig = text("new_key_id", rotation), text("new_key_signature", rotation)
    new_public = _pem(text("new_public_key", rotation), "/new_public_key", issues)
    node_id = values["node_id"]
    if public is not None and node_id and values["key_id"] != keys.key_id(public, node_id):
        issues.append(Issue("/key_id", "is not the key id of public_key"))
    if new_public is not None and node_id and new_id != keys.key_id(new_public, node_id):
        issues.append(Issue("/new_key_id", "is not the key id of new_public_key"))
    if issues:
        raise ValidationFailed(issues)
    assert public is not None
    assert effective is not None
    return KeyNotice(
        notice_id=str(values["notice_id"]),
        node_id=str(node_id),
        action=str(values["action"]),
        key_id=str(values["key_id"]),
        public_key=public,
        effective_at=effective,
        signer_key_id=str(values["signer_key_id"]),
        signature=str(values["signature"]),
        new_key_id=new_id,
        new_public_key=new_public,
        new_key_signature=new_sig,
    )


def _pem(text: str | None, pointer: str, issues: list[Issue]) -> bytes | None:
    if text is None:
        return None
    try:
        return keys.public_raw(keys.load_public_pem(text))
    except keys.KeyFormatError:
        issues.append(Issue(pointer, "must be an Ed25519 public key in PEM (SPKI)"))
        return None
