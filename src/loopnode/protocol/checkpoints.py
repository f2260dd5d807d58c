"""Signed checkpoints of the evidence chain (issue 15: witnessed checkpoints).

A checkpoint is a node's signed statement "my evidence entry `sequence` has hash `head_hash`"
(the head, or any earlier entry when a witness asks for one). Peers that keep these statements
catch a node that rewrites its past: it cannot produce a different hash for a sequence it signed
without the two signatures proving it, as certificate-transparency logs are held to their signed
tree heads. The signature is Ed25519 with the node key over the RFC 8785 canonical JSON of
`{type, node_id, sequence, head_hash, issued_at}`; `type` keeps these signatures apart from
every other thing the node key signs.

    {"node_id": "munich.loop", "sequence": 42, "head_hash": "<64 hex>",
     "issued_at": "2026-12-06T23:00:00Z",
     "signature": {"alg": "Ed25519", "key_id": "key_…", "value": "<base64url>"}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import TimestampError, format_timestamp, parse_timestamp
from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes

__all__ = ["CHECKPOINT_TYPE", "Checkpoint", "parse_checkpoint", "sign_checkpoint"]

CHECKPOINT_TYPE: Final = "loopnode-evidence-checkpoint"
_SHA256 = re.compile(r"^[a-f0-9]{64}\Z")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    node_id: str
    sequence: int
    head_hash: str
    issued_at: datetime
    key_id: str
    signature: str

    def signing_input(self) -> bytes:
        return signing_input(self.node_id, self.sequence, self.head_hash, self.issued_at)

    def verifies_with(self, public_key: bytes) -> bool:
        return keys.verify(public_key, self.signing_input(), self.signature)

    def to_document(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "issued_at": format_timestamp(self.issued_at),
            "signature": {"alg": "Ed25519", "key_id": self.key_id, "value": self.signature},
        }


def signing_input(node_id: str, sequence: int, head_hash: str, issued_at: datetime) -> bytes:
    return canonical_bytes(
        {
            "type": CHECKPOINT_TYPE,
            "node_id": node_id,
            "sequence": sequence,
            "head_hash": head_hash,
            "issued_at": format_timestamp(issued_at),
        }
    )


def sign_checkpoint(
    key: Ed25519PrivateKey,
    key_id: str,
    *,
    node_id: str,
    sequence: int,
    head_hash: str,
    issued_at: datetime,
) -> Checkpoint:
    # Signed at the precision it is shown in, so the document verifies as it reads.
    issued_at = parse_timestamp(format_timestamp(issued_at))
    value = keys.sign(key, signing_input(node_id, sequence, head_hash, issued_at))
    return Checkpoint(node_id, sequence, head_hash, issued_at, key_id, value)


def parse_checkpoint(document: object) -> Checkpoint:
    """A checkpoint document's fields, checked for shape (not for its signature)."""
    if not isinstance(document, dict):
        raise InvalidRequest("a checkpoint must be a JSON object")
    signature = document.get("signature")
    node_id, sequence = document.get("node_id"), document.get("sequence")
    head_hash = document.get("head_hash")
    problems = []
    if not isinstance(node_id, str) or not node_id:
        problems.append("node_id")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence < 2**53:
        problems.append("sequence")
    if not isinstance(head_hash, str) or not _SHA256.match(head_hash):
        problems.append("head_hash")
    if (
        not isinstance(signature, dict)
        or signature.get("alg") != "Ed25519"
        or not isinstance(signature.get("key_id"), str)
        or not isinstance(signature.get("value"), str)
    ):
        problems.append("signature")
    try:
        issued_at = parse_timestamp(document.get("issued_at"))
    except TimestampError:
        problems.append("issued_at")
    if problems:
        raise InvalidRequest("malformed checkpoint: " + ", ".join(problems))
    assert isinstance(signature, dict)  # for the type checker: checked above
    return Checkpoint(
        str(node_id),
        int(sequence),  # type: ignore[arg-type]
        str(head_hash),
        issued_at,
        str(signature["key_id"]),
        str(signature["value"]),
    )
