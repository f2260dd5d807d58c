"""The evidence log as operators and peers see it (spec §10.5, DECISIONS 22).

Reading pages through the log, exporting core-dp evidence entries, and verifying the hash
chain: every entry's hash covers its immutable fields and its predecessor's hash, so changing,
removing or reordering any stored entry breaks the chain at that entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.evidence import GENESIS_HASH, EvidenceEvent, derive_event_id, entry_hash
from loopnode.domain.times import format_timestamp
from loopnode.protocol.evidence_export import is_core_dp_exportable, to_core_dp_entry
from loopnode.services.ports import UnitOfWorkFactory

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    first_broken: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken is None


class EvidenceService:
    def __init__(self, uow: UnitOfWorkFactory, node_id: str) -> None:
        self._uow = uow
        self._node_id = node_id

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
        """Recompute the chain; name the first entry that does not fit."""
        expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
        with self._uow() as uow:
            head_sequence, head_hash = uow.evidence.head()
            for event, stored in uow.evidence.iterate():
                count += 1
                reason = _check_entry(event, stored, expected_seq, expected_prev)
                if reason is not None:
                    return ChainReport(count, event.sequence, reason)
                expected_prev, expected_seq = stored, event.sequence + 1
        if head_sequence != expected_seq - 1 or head_hash != expected_prev:
            return ChainReport(
                count, expected_seq - 1 or None, "the chain head does not match the last entry"
            )
        return ChainReport(count, None, None)


def _check_entry(event: EvidenceEvent, stored: str, sequence: int, prev: str) -> str | None:
    if event.sequence != sequence:
        return f"sequence gap: expected {sequence}, found {event.sequence}"
    if event.prev_hash != prev:
        return "its predecessor hash does not match the previous entry"
    if entry_hash(event) != stored:
        return "its content does not match its hash"
    return None


def native(event: EvidenceEvent) -> dict[str, Any]:
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
