"""The evidence log as operators and peers see it (spec §10.5, DECISIONS 22).

Reading pages through the log, exporting core-dp evidence entries, and verifying the hash
chain: every entry's hash covers its immutable fields and its predecessor's hash, so changing,
removing or reordering any stored entry breaks the chain at that entry. Verification also
checks the stored records against the entries that produced them (record binding), so a row
changed behind the node's back is named (issue 15).

Redaction (core-dp retention and redaction): `redact` turns an entry into a tombstone (actor,
summary and their salt dropped; the salted commitment the entry hash covers kept) and records
the redaction as an entry of its own. Checkpoints: `checkpoint` signs "entry N has hash H" with
the node key, for peers to witness (services/evidence/witness.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import Conflict, InvalidRequest, NodeFailure, NotFound
from loopnode.domain.evidence import (
    GENESIS_HASH,
    EvidenceEvent,
    content_intact,
    derive_event_id,
    entry_hash,
    redact,
)
from loopnode.domain.times import format_timestamp
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.checkpoints import Checkpoint, sign_checkpoint
from loopnode.protocol.evidence_export import is_core_dp_exportable, to_core_dp_entry
from loopnode.services.ports import Clock, EvidenceDraft, UnitOfWork, UnitOfWorkFactory

MAX_PAGE = 500


SigningKey = Callable[[], tuple[Ed25519PrivateKey, str]]


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    first_broken: int | None
    reason: str | None
    # (subject type, id, problem) of each record its evidence does not account for
    records: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def intact(self) -> bool:
        return self.first_broken is None and not self.records


@dataclass(frozen=True, slots=True)
class Redaction:
    sequence: int
    redacted_by: int


class EvidenceService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        node_id: str,
        clock: Clock | None = None,
        signing_key: SigningKey | None = None,
    ) -> None:
        self._uow = uow
        self._node_id = node_id
        self._clock = clock
        self._signing_key = signing_key

    def page(self, after: int, limit: int, fmt: str) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        if fmt not in ("native", "core-dp"):
            raise InvalidRequest("format must be 'native' or 'core-dp'")
        with self._uow() as uow:
            events = uow.evidence.page(after, limit + 1)
        page, more = events[:limit], len(events) > limit
        render = self._core_dp if fmt == "core-dp" else native
        entries = [render(e) for e in page]
        return {
            "entries": [e for e in entries if e is not None],
            "next_after": page[-1].sequence if more else None,
        }

    def _core_dp(self, event: EvidenceEvent) -> dict[str, Any] | None:
        if not is_core_dp_exportable(event):
            return None
        predecessor = (
            derive_event_id(self._node_id, event.sequence - 1) if event.sequence > 1 else None
        )
        return to_core_dp_entry(event, predecessor)

    def verify(self) -> ChainReport:
        """Recompute the chain and name the first entry that does not fit; then check every
        bound record against the latest entry about it."""
        expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
        with self._uow() as uow:
            head_sequence, head_hash = uow.evidence.head()
            for event, stored in uow.evidence.iterate():
                count += 1
                reason = _check_entry(event, stored, expected_seq, expected_prev)
                if reason is not None:
                    return ChainReport(count, event.sequence, reason)
                expected_prev, expected_seq = stored, event.sequence + 1
            records = tuple(uow.evidence.record_mismatches())
        if head_sequence != expected_seq - 1 or head_hash != expected_prev:
            return ChainReport(
                count,
                expected_seq - 1 or None,
                "the chain head does not match the last entry",
                records,
            )
        return ChainReport(count, None, None, records)

    def redact(self, sequence: int, reason: str, actor: str = "operator") -> Redaction:
        """Make entry `sequence` a tombstone and record that as a new entry (one transaction)."""
        now = self._now()
        with self._uow(write=True) as uow:
            found = uow.evidence.get(sequence)
            if found is None:
                raise NotFound(f"no evidence entry {sequence}")
            return _redact(uow, found[0], reason, actor, now)

    def retain(self, older_than: timedelta, actor: str = "retention") -> list[Redaction]:
        """Tombstone every redactable entry recorded before now - `older_than` (one transaction):
        version-3 entries not yet redacted, except redaction records themselves (they name no
        person). Re-running redacts only what has aged since."""
        now = self._now()
        cutoff = now - older_than
        reason = f"retention: older than {older_than.days} days"
        with self._uow(write=True) as uow:
            due = [
                event
                for event, _ in uow.evidence.iterate()
                if event.recorded_at < cutoff
                and event.hash_version >= 3
                and not event.redacted
                and event.event_type != "evidence.redacted"
            ]
            return [_redact(uow, event, reason, actor, now) for event in due]

    def checkpoint(self, sequence: int | None = None) -> Checkpoint:
        """The node's signed statement of its head (or of entry `sequence`'s hash)."""
        if self._signing_key is None:
            raise NodeFailure("this node has no key to sign checkpoints with")
        with self._uow() as uow:
            head_sequence, head_hash = uow.evidence.head()
            if sequence is None or sequence == head_sequence:
                at, digest = head_sequence, head_hash
            elif sequence == 0:
                at, digest = 0, GENESIS_HASH
            else:
                found = uow.evidence.get(sequence) if 0 < sequence < head_sequence else None
                if found is None:
                    raise NotFound(f"no evidence entry {sequence}", {"sequence": sequence})
                at, digest = sequence, found[1]
        key, key_id = self._signing_key()
        return sign_checkpoint(
            key, key_id, node_id=self._node_id, sequence=at, head_hash=digest, issued_at=self._now()
        )

    def _now(self) -> Any:
        if self._clock is None:
            raise NodeFailure("the evidence service was built without a clock")
        return self._clock.now()


def _check_entry(event: EvidenceEvent, stored: str, sequence: int, prev: str) -> str | None:
    if event.sequence != sequence:
        return f"sequence gap: expected {sequence}, found {event.sequence}"
    if event.prev_hash != prev:
        return "its predecessor hash does not match the previous entry"
    if entry_hash(event) != stored:
        return "its content does not match its hash"
    if not content_intact(event):
        return "its actor or summary does not match its content hash"
    return None


def native(event: EvidenceEvent) -> dict[str, Any]:
    entry = _native_common(event)
    if event.hash_version >= 3:
        # What recomputing the entry hash from the export needs (domain `entry_hash`, v3).
        entry["hash_version"] = event.hash_version
        entry["content_hash_sha256"] = event.content_hash
        entry["record_hash_sha256"] = event.record_hash
    if event.redacted:
        entry["redaction"] = {"status": "tombstoned", "reason": event.redaction_reason}
    return entry


def _native_common(event: EvidenceEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "event_id": event.event_id,
        "node_id": event.node_id,
        "event_type": event.event_type,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "actor": event.actor,
        "payload_hash_sha256": event.payload_hash_sha256,
        "predecessor_hash_sha256": event.prev_hash,
        "entry_hash_sha256": entry_hash(event),
        "recorded_at": format_timestamp(event.recorded_at),
    }


def _redact(
    uow: UnitOfWork, event: EvidenceEvent, reason: str, actor: str, now: datetime
) -> Redaction:
    try:
        tombstone = redact(event, reason)
    except InvalidRequest as exc:
        raise Conflict(exc.message, {"sequence": event.sequence}) from exc
    payload = {"sequence": event.sequence, "event_id": tombstone.event_id, "reason": reason}
    draft = EvidenceDraft(
        "evidence.redacted",
        "evidence",
        tombstone.event_id,
        actor,
        sha256_hex(payload),
        {"sequence": event.sequence, "reason": reason},
    )
    redaction = uow.evidence.append(draft, now)
    uow.evidence.tombstone(tombstone, redaction.sequence)
    return Redaction(event.sequence, redaction.sequence)
