"""The core-dp signing input: which envelope fields are signed, and how they are hashed.

Theory of operation (SPEC-DIGEST §4.1 "What is signed", §4.2; Appendix B): the signing input
is the RFC 8785 canonical JSON of exactly the 11 `SIGNED_FIELDS` copied from the envelope;
`replay_window_seconds`, `version_negotiation` and `signature` are not signed.
`signing_input_sha256` is the lowercase hex SHA-256 of those UTF-8 bytes. The message type
also fixes which schema the body follows (`BODY_SCHEMA_BY_MESSAGE_TYPE`, §4.1 "Body binding").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from loopnode.protocol.canonical import canonical_bytes
from loopnode.protocol.coredp import choreography
from loopnode.protocol.coredp.schemas import BASE_ID

__all__ = [
    "ALG",
    "BODY_SCHEMA_BY_MESSAGE_TYPE",
    "CHOREOGRAPHY_SCHEMA",
    "DNA_SCHEMA",
    "ERROR_SCHEMA",
    "PROFILE",
    "PROFILE_VERSION",
    "SEARCH_SCHEMA",
    "SIGNED_FIELDS",
    "digest_hex",
    "signing_input",
    "signing_input_bytes",
    "signing_input_sha256",
]

PROFILE: Final = "core-dp"
PROFILE_VERSION: Final = "0.1.0-lab"
ALG: Final = "Ed25519-lab-detached-v1"
SIGNED_FIELDS: Final = (
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
CHOREOGRAPHY_SCHEMA = BASE_ID + "choreography-message.schema.json"
DNA_SCHEMA = BASE_ID + "dna-operation.schema.json"
SEARCH_SCHEMA = BASE_ID + "search-contract.schema.json"
ERROR_SCHEMA = BASE_ID + "error.schema.json"
BODY_SCHEMA_BY_MESSAGE_TYPE: Final[Mapping[str, str]] = {
    **dict.fromkeys(choreography.RULES, CHOREOGRAPHY_SCHEMA),
    **dict.fromkeys(("material.register", "material.read"), DNA_SCHEMA),
    **dict.fromkeys(("product.register", "product.read"), DNA_SCHEMA),
    **dict.fromkeys(("material.search", "product.search"), SEARCH_SCHEMA),
    "error": ERROR_SCHEMA,
}


def signing_input(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The 11 signed fields; absent ones are left out (they make the envelope invalid anyway)."""
    return {name: envelope[name] for name in SIGNED_FIELDS if name in envelope}


def signing_input_bytes(envelope: Mapping[str, Any]) -> bytes:
    """UTF-8 canonical JSON of the signing input; raises `CanonicalizationFailed`."""
    return canonical_bytes(signing_input(envelope))


def digest_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def signing_input_sha256(envelope: Mapping[str, Any]) -> str:
    return digest_hex(signing_input_bytes(envelope))
