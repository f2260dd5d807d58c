"""The node's append-only evidence log as a hash chain (SPEC-DIGEST §3.9, §4.5; DECISIONS 22).

Every auditable happening (registrations, lifecycle changes, settlements, signal changes and votes,
node interactions, key events) is one `EvidenceEvent` in a single per-node sequence 1, 2, 3, ….
Each event carries `prev_hash`, the `entry_hash` of its predecessor (`GENESIS_HASH` for the first),
so rewriting any entry breaks the link from its successor: `verify_chain` finds the first break.
The last entry has no successor; anchor the head hash elsewhere (an export, a peer) and pass it as
`head_hash` to cover it too. The hash covers every stored column of an entry, the `summary` text
included (hash version 2; version 1 left the summary out, so databases created before it must be
re-created: docs/evidence.md). `chain_next` is the one place an entry is built and linked. The
hashes are internal (DECISIONS 22); what peers see is the core-dp export in
`loopnode.protocol.evidence_export`, chained by `predecessor_event_id`.

Why `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` is a sound canonical
form here, although the domain may not import the RFC 8785 code in `loopnode.protocol`: the hashed
fields are strings, one small integer and `null` (no summary), nothing else. For those, json.dumps
is deterministic and injective, and even byte-identical to RFC 8785: keys are fixed ASCII names (so
code-point and UTF-16 order agree), strings are escaped the same way (`"`, `\\`, control
characters; raw UTF-8 otherwise), and the integer is far below 2^53. Floats, the one place where
the two differ, never occur; lone surrogates are refused when an event is built, since they have
no UTF-8 encoding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from loopnode.domain.errors import InvalidRequest, LoopError

__all__ = [
    "EVENT_TYPES",
    "GENESIS_HASH",
    "EvidenceEvent",
    "chain_next",
    "derive_event_id",
    "entry_hash",
    "next_event",
    "verify_chain",
]

GENESIS_HASH: Final = "0" * 64

# The event vocabulary: event type -> the kind of subject it is about. Lifecycle events are named
# after the state entered (DECISIONS 8); `*.published` / `*.registered` are creations.
EVENT_TYPES: Final[Mapping[str, str]] = {
    "material.registered": "material",
    "material.read": "material",
    "material.status_updated": "material",  # MaterialStatusUpdate (availability)
    "material.custody_changed": "material",  # a completed transfer moved or split it (DECISIONS 11)
    "product.registered": "product",
    "product.read": "product",
    "product.status_updated": "product",
    "product.custody_changed": "product",
    "offer.published": "offer",
    "offer.reserved": "offer",
    "offer.reopened": "offer",
    "offer.withdrawn": "offer",
    "offer.acked": "offer",  # core-dp choreography
    "offer.rejected": "offer",  # core-dp choreography
    "match.proposed": "match",
    "match.accepted": "match",
    "match.rejected": "match",
    "match.expired": "match",
    "transfer.scheduled": "transfer",
    "transfer.in_transit": "transfer",
    "transfer.completed": "transfer",
    "transfer.cancelled": "transfer",
    "transfer.acked": "transfer",  # core-dp final acknowledgement
    "transaction.recorded": "transaction",
    "transaction.status_changed": "transaction",
    "settlement.recorded": "settlement",
    "ledger.posted": "ledger",
    "clearing.applied": "ledger",  # subject: the round id (services/ledger/clearing_round.py)
    "signal.config_published": "signal",
    "signal.proposal_decided": "signal",
    "signal.vote_recorded": "signal",
    "material.routed": "material",  # routing and overflow decisions with their costs (issue 11)
    "node.handshake": "node",
    "node.federation_received": "node",
    "node.federation_sent": "node",
    "key.created": "key",
    "key.rotated": "key",
    "key.revoked": "key",
    "envelope.error_recorded": "envelope",
    "capabilities.confirmed": "envelope",
}

_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_-]{16,80}\Z")
_SHA256 = re.compile(r"^[a-f0-9]{64}\Z")
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One immutable entry of the evidence log.

    `actor` says who caused it (a node id, `apikey:<name>`, `system`, …); `payload_hash_sha256`
    is the sha256 of the canonical JSON of the payload concerned (computed by the protocol layer).
    `recorded_at` must be timezone-aware; it is kept in UTC. `summary` is the stored JSON text of
    the entry's human-readable summary (None when there is none); it is hashed like every field.
    """

    sequence: int
    event_id: str
    event_type: str
    subject_type: str
    subject_id: str
    actor: str
    payload_hash_sha256: str
    prev_hash: str
    recorded_at: datetime
    node_id: str
    summary: str | None = None

    def __post_init__(self) -> None:
        _check_event(self)
        object.__setattr__(self, "recorded_at", self.recorded_at.astimezone(UTC))


def derive_event_id(node_id: str, sequence: int) -> str:
    """`evt_` + 32 hex, a deterministic function of (node id, sequence): unique per node log."""
    digest = hashlib.sha256(f"loopnode-evidence\n{node_id}\n{sequence}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def _hash_timestamp(moment: datetime) -> str:
    # Part of the hashed form, so frozen here rather than shared with the emitters: RFC 3339 in
    # UTC with `Z`, microseconds only when present (storage keeps microseconds exactly).
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def entry_hash(event: EvidenceEvent) -> str:
    """sha256 (lowercase hex) over the canonical form of every field, `prev_hash` included."""
    fields = {
        "sequence": event.sequence,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "actor": event.actor,
        "payload_hash_sha256": event.payload_hash_sha256,
        "prev_hash": event.prev_hash,
        "recorded_at": _hash_timestamp(event.recorded_at),
        "node_id": event.node_id,
        "summary": event.summary,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def next_event(
    previous: EvidenceEvent | None,
    *,
    node_id: str,
    event_type: str,
    subject_type: str,
    subject_id: str,
    actor: str,
    payload_hash_sha256: str,
    recorded_at: datetime,
) -> EvidenceEvent:
    """The event that follows `previous` (or starts the log when it is None).

    New events must use the vocabulary in `EVENT_TYPES` (a bug otherwise, hence `LoopError`);
    `EvidenceEvent` itself accepts any well-formed type so that old entries always load.
    """
    return chain_next(
        0 if previous is None else previous.sequence,
        GENESIS_HASH if previous is None else entry_hash(previous),
        node_id=node_id,
        event_type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload_hash_sha256=payload_hash_sha256,
        recorded_at=recorded_at,
    )


def chain_next(
    head_sequence: int,
    head_hash: str,
    *,
    node_id: str,
    event_type: str,
    subject_type: str,
    subject_id: str,
    actor: str,
    payload_hash_sha256: str,
    recorded_at: datetime,
    summary: str | None = None,
) -> EvidenceEvent:
    """The entry after the chain head (`head_sequence`, `head_hash`; 0 and GENESIS_HASH when empty).

    Pure: storage locks the head, calls this, stores the event with `entry_hash(event)` and moves
    the head. New events must use the vocabulary in `EVENT_TYPES` (a bug otherwise: `LoopError`).
    """
    if EVENT_TYPES.get(event_type) != subject_type:
        raise LoopError(f"unknown evidence event type {event_type!r} for subject {subject_type!r}")
    sequence = head_sequence + 1
    return EvidenceEvent(
        sequence=sequence,
        event_id=derive_event_id(node_id, sequence),
        event_type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload_hash_sha256=payload_hash_sha256,
        prev_hash=head_hash,
        recorded_at=recorded_at,
        node_id=node_id,
        summary=summary,
    )


def verify_chain(
    events: Iterable[EvidenceEvent],
    *,
    prev_hash: str = GENESIS_HASH,
    first_sequence: int = 1,
    head_hash: str | None = None,
) -> int | None:
    """The sequence of the first broken entry, or None if the chain holds.

    An entry is broken when its sequence is not the expected next one (a gap, a repeat, a
    reordering) or its `prev_hash` is not the hash of the entry before it. The defaults verify a
    whole log from its start; `prev_hash`/`first_sequence` verify a segment that continues after a
    known entry. `head_hash`, if given, must be the last entry's hash: that detects a rewrite of
    the last entry, which no successor covers.
    """
    expected_prev, expected_sequence = prev_hash, first_sequence
    last: EvidenceEvent | None = None
    for event in events:
        if event.sequence != expected_sequence or event.prev_hash != expected_prev:
            return event.sequence
        last = event
        expected_prev, expected_sequence = entry_hash(event), event.sequence + 1
    if head_hash is not None and last is not None and expected_prev != head_hash:
        return last.sequence
    return None


def _check_event(event: EvidenceEvent) -> None:
    problems: list[str] = []
    if isinstance(event.sequence, bool) or not isinstance(event.sequence, int):
        problems.append("sequence must be an integer")
    elif not 1 <= event.sequence < 2**53:
        problems.append("sequence must be between 1 and 2^53 - 1")
    if not _EVENT_ID.match(event.event_id):
        problems.append("event_id must match ^evt_[A-Za-z0-9_-]{16,80}$")
    if not _TOKEN.match(event.event_type) or not _TOKEN.match(event.subject_type):
        problems.append("event_type and subject_type must be lowercase dotted tokens")
    for name in ("payload_hash_sha256", "prev_hash"):
        if not _SHA256.match(getattr(event, name)):
            problems.append(f"{name} must be 64 lowercase hex characters")
    for name in ("subject_id", "actor", "node_id"):
        if not _is_utf8_text(getattr(event, name)):
            problems.append(f"{name} must be non-empty text without lone surrogates")
    if event.summary is not None and not _is_utf8_text(event.summary):
        problems.append("summary must be None or non-empty text without lone surrogates")
    if not isinstance(event.recorded_at, datetime) or event.recorded_at.utcoffset() is None:
        problems.append("recorded_at must be a timezone-aware datetime")
    if problems:
        raise InvalidRequest("invalid evidence event: " + "; ".join(problems))


def _is_utf8_text(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
