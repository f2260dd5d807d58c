"""Building, signing and reading core-dp messages for this node (no I/O).

Theory of operation (SPEC-DIGEST §4.1, §4.4, §4.6; DECISIONS 20; docs/core-dp.md):

- A choreography body is made from the §4.6 row of its message type (`choreography.RULES`):
  state, previous state, terminal flag and authoritative role come from the table, never from
  the caller. Bodies always carry `idempotency_key` (equal to the envelope's), so that attempt 1
  and its retries have the same DECISIONS 20 fingerprint.
- Retries (`with_attempt`) set `attempt` and, above 1, `duplicate_of` = the first attempt's
  message id. DNA and search bodies have no attempt field (their schemas are closed).
- `REPLIES` is the HTTP binding's answer table: which message types a request is answered with
  synchronously (200 with a signed envelope); every other accepted message is answered 202.
- The subject snapshot: choreography bodies are closed and carry only the subject id, so the
  Offer/Match/Transfer document travels beside the envelope in the `X-CoreDp-Subject` header
  (base64url of its RFC 8785 form). It is bound to the signed body by
  `local_evidence_hash_sha256` = sha256 of that canonical form; a receiver refuses a snapshot
  whose hash differs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from loopnode.domain.errors import LoopError
from loopnode.protocol import keys
from loopnode.protocol.canonical import CanonicalizationFailed, canonical_bytes, sha256_hex
from loopnode.protocol.coredp.choreography import PROFILE_VERSION, RULES
from loopnode.protocol.coredp.envelope import NodeRef, build_envelope, sign_envelope
from loopnode.protocol.coredp.errors import ErrorCode, error_body
from loopnode.protocol.coredp.signing_input import CHOREOGRAPHY_SCHEMA
from loopnode.services.coredp.ports import SigningKey

__all__ = [
    "ANSWER_ENVELOPE",
    "ANSWER_RECEIPT",
    "CAPABILITIES_SUBJECT",
    "MESSAGES_PATH",
    "REPLIES",
    "SUBJECT_HEADER",
    "CoreDpIdentity",
    "CoreDpRefusal",
    "CoreDpSettings",
    "advertised_endpoint",
    "choreography_body",
    "decode_snapshot",
    "encode_snapshot",
    "is_choreography",
    "with_attempt",
]

MESSAGES_PATH: Final = "/core-dp/messages"
SUBJECT_HEADER: Final = "X-CoreDp-Subject"
CAPABILITIES_SUBJECT: Final = "core-dp-0.1.0-lab"
VERSION_NEGOTIATION: Final = {"requested": PROFILE_VERSION, "supported": [PROFILE_VERSION]}
# How an accepted message is answered (the HTTP statuses of the binding, docs/core-dp.md).
ANSWER_ENVELOPE: Final = 200
ANSWER_RECEIPT: Final = 202

# Request type -> the message types that answer it synchronously (HTTP 200 + envelope).
REPLIES: Final[Mapping[str, frozenset[str]]] = {
    "capabilities.announce": frozenset({"capabilities.response"}),
    "offer.publish": frozenset({"offer.ack", "offer.reject"}),
    "match.propose": frozenset({"match.accept", "match.reject"}),
    "transfer.dispatch": frozenset({"transfer.receive"}),
    "transfer.receive": frozenset({"transfer.ack"}),
    "material.register": frozenset({"material.register"}),
    "material.read": frozenset({"material.read"}),
    "product.register": frozenset({"product.register"}),
    "product.read": frozenset({"product.read"}),
    "material.search": frozenset({"material.search"}),
    "product.search": frozenset({"product.search"}),
}


@dataclass(frozen=True, slots=True)
class CoreDpSettings:
    """Tunables of the exchange; the defaults are the documented behaviour (docs/core-dp.md)."""

    conversation_timeout_s: int = 3600
    min_timeout_s: int = 60
    replay_window_s: int = 300
    max_window_s: int = 300
    skew_s: int = 0
    results_ttl_s: int = 86_400
    reply_fresh_s: int = 60
    auto_receive: bool = True
    request_timeout_s: float = 10.0
    lease_s: float = 60.0
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    poll_s: float = 1.0
    max_snapshot_bytes: int = 32_768


# Core-dp codes that mean "this node failed", not "the sender broke the rules".
NODE_FAULTS: frozenset[str] = frozenset({"internal_error", "partition", "timeout"})


class CoreDpRefusal(LoopError):
    """A core-dp error answer (`DP/error.schema.json`): `code` and its message and details.

    Part of the one error tree; its `code` is the lower-case core-dp code, which also says the
    fault (`internal_error`, `partition`, `timeout` are ours). It renders as the core-dp error
    body on the core-dp route (`web/errors.py: COREDP_STATUS`), never as §8.3.
    """

    def __init__(
        self, code: ErrorCode, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, dict(details or {}))
        self.code: ErrorCode = code
        self.peer_fault = code not in NODE_FAULTS

    def body(self, correlation_id: str) -> dict[str, Any]:
        return error_body(self.code, self.message, correlation_id, details=self.details or None)


@dataclass(frozen=True)
class CoreDpIdentity:
    """This node as a core-dp party: node id, advertised https endpoint, signing key."""

    node_id: str
    endpoint: str
    signing_key: SigningKey

    def ref(self) -> NodeRef:
        return NodeRef(self.node_id, self.endpoint, self.signing_key()[1])

    def sign(
        self,
        *,
        message_type: str,
        receiver: NodeRef,
        body: Mapping[str, Any],
        message_id: str,
        idempotency_key: str,
        now: datetime,
        replay_window_s: int,
    ) -> dict[str, Any]:
        """A signed envelope from this node; capability announcements negotiate the version."""
        key, key_id = self.signing_key()
        sender = NodeRef(self.node_id, self.endpoint, key_id)
        envelope = build_envelope(
            message_type=message_type,
            sender=sender,
            receiver=receiver,
            body=body,
            message_id=message_id,
            idempotency_key=idempotency_key,
            created_at=now,
            expires_in_s=replay_window_s,
            replay_window_s=replay_window_s,
            version_negotiation=VERSION_NEGOTIATION
            if message_type == "capabilities.announce"
            else None,
        )
        return sign_envelope(envelope, key)


def advertised_endpoint(api_base: str, node_id: str) -> str:
    """The envelope `endpoint` (the schema admits only https): the node's API root, or, for
    plain-HTTP development nodes, the placeholder `https://{node_id}/api/v1`."""
    return api_base if api_base.startswith("https://") else f"https://{node_id}/api/v1"


def is_choreography(message_type: str) -> bool:
    return message_type in RULES


def choreography_body(
    message_type: str,
    *,
    conversation_id: str,
    origin_node: str,
    counterparty_node: str,
    subject_type: str,
    subject_id: str,
    timeout_at: str,
    idempotency_key: str,
    **extra: Any,
) -> dict[str, Any]:
    """A body of `message_type` as the §4.6 table defines it, plus `extra` fields."""
    rule = RULES[message_type]
    body: dict[str, Any] = {
        "conversation_id": conversation_id,
        "message_type": message_type,
        "origin_node": origin_node,
        "counterparty_node": counterparty_node,
        "authoritative_role": rule.author_role,
        "subject": {"type": subject_type, "id": subject_id},
        "state": rule.state,
        "terminal": rule.terminal,
        "attempt": 1,
        "timeout_at": timeout_at,
        "idempotency_key": idempotency_key,
    }
    if rule.previous_state is not None:
        body["previous_state"] = rule.previous_state
    body.update({name: value for name, value in extra.items() if value is not None})
    return body


def with_attempt(
    message_type: str, body: Mapping[str, Any], attempt: int, first_message_id: str | None
) -> dict[str, Any]:
    """The body for attempt number `attempt` (1..5) of a message."""
    copy = dict(body)
    if not is_choreography(message_type):
        return copy
    copy["attempt"] = attempt
    copy.pop("duplicate_of", None)
    if attempt > 1 and first_message_id is not None:
        copy["duplicate_of"] = first_message_id
    return copy


def encode_snapshot(document: Mapping[str, Any]) -> str:
    return keys.b64url_encode(canonical_bytes(document))


def decode_snapshot(
    header: str | None, body: Mapping[str, Any], max_bytes: int
) -> dict[str, Any] | None:
    """The subject document of the `X-CoreDp-Subject` header, checked against the signed body.

    None without a header; raises `CoreDpRefusal(invalid_request)` when the header is not a
    base64url JSON object of at most `max_bytes`, or its hash is not the body's
    `local_evidence_hash_sha256`, or its id is not the body's subject id.
    """
    if header is None:
        return None
    if len(header) > max_bytes * 4 // 3 + 4:
        raise CoreDpRefusal("invalid_request", f"{SUBJECT_HEADER} is larger than {max_bytes} bytes")
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        document: Any = orjson.loads(raw)
        digest = sha256_hex(document)
    except (binascii.Error, ValueError, orjson.JSONDecodeError, CanonicalizationFailed) as exc:
        raise CoreDpRefusal(
            "invalid_request", f"{SUBJECT_HEADER} is not base64url canonical JSON"
        ) from exc
    if not isinstance(document, dict):
        raise CoreDpRefusal("invalid_request", f"{SUBJECT_HEADER} must hold a JSON object")
    if body.get("local_evidence_hash_sha256") != digest:
        raise CoreDpRefusal(
            "invalid_request",
            f"{SUBJECT_HEADER} does not hash to the signed local_evidence_hash_sha256",
            {"snapshot_sha256": digest},
        )
    subject = body.get("subject")
    if not isinstance(subject, dict) or document.get("id") != subject.get("id"):
        raise CoreDpRefusal("invalid_request", f"{SUBJECT_HEADER} is not the message's subject")
    return document


def body_schema_is_choreography(envelope: Mapping[str, Any]) -> bool:
    return envelope.get("body_schema") == CHOREOGRAPHY_SCHEMA
