"""The node's append-only evidence log as a hash chain (SPEC-DIGEST §3.9, §4.5; DECISIONS 22).

Every auditable happening (registrations, lifecycle changes, settlements, signal changes and votes,
node interactions, key events) is one `EvidenceEvent` in a single per-node sequence 1, 2, 3, ….
Each event carries `prev_hash`, the `entry_hash` of its predecessor (`GENESIS_HASH` for the first),
so rewriting any entry breaks the link from its successor: `verify_chain` finds the first break.
The last entry has no successor; anchor the head hash elsewhere (an export, a peer) and pass it as
`head_hash` to cover it too. The hash covers every stored column of an entry, the `summary` text
included (hash version 2; version 1 left the summary out, so databases created before it must be
re-created: docs/evidence.md).

Hash version 3 (issue 15) makes entries redactable and binds records: instead of the actor and
summary themselves, the hash covers `content_hash`, a salted sha256 commitment to them
(`content_digest`), and `record_hash`, the state hash of the subject's stored row right after the
entry (None when the subject has no row here). Redaction drops the actor, the summary and the salt
and keeps `content_hash`, so the entry hash still verifies and the dropped content cannot be
guessed back from it. Version-2 entries keep their version-2 hash (the `hash_version` column);
they verify as before but cannot be redacted.

`chain_next` is the one place an entry is built and linked. The hashes are internal
(DECISIONS 22); what peers see is the core-dp export in
`loopnode.protocol.evidence_export`, chained by `predecessor_event_id`.

Why `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` is a sound canonical
form here, although the domain may not import the RFC 8785 code in `loopnode.protocol`: the hashed
fields are strings, one small integer and `null` (no summary), nothing else. For those, json.dumps
is deterministic and injective, and even byte-identical to RFC 8785: keys are fixed ASCII names (so
code-point and UTF-16 order agree), strings are escaped the same way (`"`, `\\`, control
characters; raw UTF-8 otherwise), and the integer is far below 2^53. Floats, the one place where
the two differ, never occur; lone surrogates are refused when an event is built, since they have
no UTF-8 encoding. The hashes are computed with orjson (sorted keys), which writes the same bytes
for these fields at a fifth of the cost; `_canonical` falls back to json.dumps for anything orjson
refuses, and a property test pins the two to each other (tests/unit/domain/test_evidence.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

import orjson

from loopnode.domain.errors import InvalidRequest, LoopError

__all__ = [
    "EVENT_TYPES",
    "GENESIS_HASH",
    "HASH_VERSION",
    "REDACTED_ACTOR",
    "EvidenceEvent",
    "chain_next",
    "content_digest",
    "content_intact",
    "derive_event_id",
    "entry_hash",
    "next_event",
    "redact",
    "verify_chain",
]

GENESIS_HASH: Final = "0" * 64
HASH_VERSION: Final = 3  # what new entries use; 2 is still verified (see the module docstring)
REDACTED_ACTOR: Final = "[redacted]"  # the actor of a tombstone; its summary and salt are gone

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
    # Subject: the round id (services/ledger/clearing_round.py). Entries written before rounds had
    # a subject type of their own are filed under `ledger` (evidence_binding.LEGACY_SUBJECTS).
    "clearing.applied": "clearing_round",
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
    "evidence.redacted": "evidence",  # subject: the event id of the entry made a tombstone
    "node.equivocation_detected": "node",  # a witnessed peer's signed history changed
}

_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_-]{16,80}\Z")
_SHA256 = re.compile(r"^[a-f0-9]{64}\Z")
MAX_REDACTION_REASON: Final = 500  # core-dp retention.redaction_reason maxLength
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One immutable entry of the evidence log.

    `actor` says who caused it (a node id, `apikey:<name>`, `system`, …); `payload_hash_sha256`
    is the sha256 of the canonical JSON of the payload concerned (computed by the protocol layer).
    `recorded_at` must be timezone-aware; it is kept in UTC. `summary` is the stored JSON text of
    the entry's human-readable summary (None when there is none); it is hashed like every field.

    Version 3 entries also carry `content_salt`/`content_hash` (the salted commitment to actor and
    summary that the entry hash covers) and `record_hash` (the subject row's state after the
    entry). `redaction_reason` is set on a tombstone; it is not hashed (the redaction is its own
    entry, which is).
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
    hash_version: int = 2
    content_salt: str | None = None
    content_hash: str | None = None
    record_hash: str | None = None
    redaction_reason: str | None = None

    @property
    def redacted(self) -> bool:
        return self.redaction_reason is not None

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
    if utc.year < 1000:  # strftime does not pad the year to four digits there; isoformat does
        fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    # isoformat writes the microseconds only when there are some, as the form above does.
    return utc.replace(tzinfo=None).isoformat() + "Z"


def _canonical(fields: Mapping[str, object]) -> bytes:
    """The hashed form of `fields`: compact JSON, sorted keys, raw UTF-8 (module docstring)."""
    try:
        return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # lone surrogates: json.dumps fails (or passes) as it always did
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def content_digest(actor: str, summary: str | None, salt: str) -> str:
    """The salted commitment to an entry's redactable content (hash version 3)."""
    fields = {"actor": actor, "summary": summary, "salt": salt}
    return hashlib.sha256(_canonical(fields)).hexdigest()


def entry_hash(event: EvidenceEvent) -> str:
    """sha256 (lowercase hex) over the canonical form of every field, `prev_hash` included
    (version 3: the content commitment and record state instead of actor and summary)."""
    if event.hash_version >= 3:
        return _entry_hash_v3(event)
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
    return hashlib.sha256(_canonical(fields)).hexdigest()


def _entry_hash_v3(event: EvidenceEvent) -> str:
    fields = {
        "hash_version": event.hash_version,
        "sequence": event.sequence,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "payload_hash_sha256": event.payload_hash_sha256,
        "prev_hash": event.prev_hash,
        "recorded_at": _hash_timestamp(event.recorded_at),
        "node_id": event.node_id,
        "content_hash": event.content_hash,
        "record_hash": event.record_hash,
    }
    return hashlib.sha256(_canonical(fields)).hexdigest()


def content_intact(event: EvidenceEvent) -> bool:
    """Whether a version-3 entry's actor and summary are the ones its hash committed to
    (a tombstone has nothing left to compare, so it is intact by construction)."""
    if event.hash_version < 3 or event.redacted:
        return True
    if event.content_salt is None:
        return False
    return content_digest(event.actor, event.summary, event.content_salt) == event.content_hash


def redact(event: EvidenceEvent, reason: str) -> EvidenceEvent:
    """The tombstone of `event`: actor, summary and salt dropped, everything hashed kept."""
    if event.hash_version < 3:
        raise InvalidRequest(
            f"evidence entry {event.sequence} uses hash version {event.hash_version}, which "
            "covers its content directly: it cannot be redacted without breaking the chain"
        )
    if event.redacted:
        raise InvalidRequest(f"evidence entry {event.sequence} is already redacted")
    if not _is_utf8_text(reason) or len(reason) > MAX_REDACTION_REASON:
        raise InvalidRequest(
            f"the redaction reason must be 1 to {MAX_REDACTION_REASON} characters of text"
        )
    return replace(
        event,
        actor=REDACTED_ACTOR,
        summary=None,
        content_salt=None,
        redaction_reason=reason,
    )


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
    record_hash: str | None = None,
    salt: str | None = None,
) -> EvidenceEvent:
    """The entry after the chain head (`head_sequence`, `head_hash`; 0 and GENESIS_HASH when empty).

    Pure but for the salt (random unless given): storage locks the head, calls this, stores the
    event with `entry_hash(event)` and moves the head. `record_hash` is the subject row's state
    after the change (storage computes it). New events must use the vocabulary in `EVENT_TYPES`
    (a bug otherwise: `LoopError`).
    """
    if EVENT_TYPES.get(event_type) != subject_type:
        raise LoopError(f"unknown evidence event type {event_type!r} for subject {subject_type!r}")
    sequence = head_sequence + 1
    salt = salt if salt is not None else secrets.token_hex(16)
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
        hash_version=HASH_VERSION,
        content_salt=salt,
        content_hash=content_digest(actor, summary, salt),
        record_hash=record_hash,
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
    reordering), its `prev_hash` is not the hash of the entry before it, or (version 3) its
    actor and summary are not the ones its content hash committed to. The defaults verify a
    whole log from its start; `prev_hash`/`first_sequence` verify a segment that continues after a
    known entry. `head_hash`, if given, must be the last entry's hash: that detects a rewrite of
    the last entry, which no successor covers.
    """
    expected_prev, expected_sequence = prev_hash, first_sequence
    last: EvidenceEvent | None = None
    for event in events:
        if event.sequence != expected_sequence or event.prev_hash != expected_prev:
            return event.sequence
        if not content_intact(event):  # version 3: actor or summary changed after the fact
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
    problems.extend(_version_problems(event))
    if problems:
        raise InvalidRequest("invalid evidence event: " + "; ".join(problems))


def _version_problems(event: EvidenceEvent) -> list[str]:
    if event.hash_version not in (2, 3):
        return ["hash_version must be 2 or 3"]
    if event.hash_version == 2:
        return []
    problems: list[str] = []
    if not isinstance(event.content_hash, str) or not _SHA256.match(event.content_hash):
        problems.append("content_hash must be 64 lowercase hex characters")
    if event.record_hash is not None and not _SHA256.match(event.record_hash):
        problems.append("record_hash must be None or 64 lowercase hex characters")
    if event.content_salt is None and event.redaction_reason is None:
        problems.append("only a redacted entry may lack its content salt")
    return problems


def _is_utf8_text(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
