"""The evidence log at rest: appends under the head lock, reads, tombstones, record binding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Row,
    bindparam,
    select,
    update,
)
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.sql import json_text
from loopnode.adapters.storage.sql.driver import Prebuilt, insert_rows
from loopnode.adapters.storage.sql.evidence import record_mismatches
from loopnode.adapters.storage.sql.evidence_binding import states_of
from loopnode.adapters.storage.tables.core import evidence, evidence_head
from loopnode.domain.errors import Conflict
from loopnode.domain.evidence import EvidenceEvent, chain_next, entry_hash
from loopnode.domain.times import from_us, to_us
from loopnode.services.ports import (
    EvidenceDraft,
)

# The evidence of a batch is stored by one multi-row INSERT sent to the driver as text: building
# the parameters of SQLAlchemy's executemany cost 5 % of a full exchange flow
# (docs/performance.md).
_COLUMNS: Final = (
    *("sequence", "event_id", "node_id", "event_type", "subject_type", "subject_id", "actor"),
    *("payload_hash", "prev_hash", "entry_hash", "recorded_us", "summary", "hash_version"),
    *("content_salt", "content_hash", "record_hash"),
)  # every column but the redaction's, which only a tombstone sets

# At the driver, once per batch (sql/driver.Prebuilt).
_HEAD_FOR_UPDATE = Prebuilt(select(evidence_head).where(evidence_head.c.id == 1).with_for_update())
_MOVE_HEAD = Prebuilt(
    update(evidence_head)
    .where(evidence_head.c.id == 1)
    .values(sequence=bindparam("new_sequence"), entry_hash=bindparam("new_hash"))
)


class SqlEvidenceLog:
    def __init__(self, connection: Connection, node_id: str) -> None:
        self._c = connection
        self._node_id = node_id

    def head(self) -> tuple[int, str]:
        row = self._c.execute(select(evidence_head).where(evidence_head.c.id == 1)).one()
        return int(row.sequence), str(row.entry_hash)

    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent:
        """Lock the head, let the domain build and link the entry, store it, move the head."""
        return self.append_many([draft], now)[0]

    def append_many(self, drafts: Sequence[EvidenceDraft], now: datetime) -> list[EvidenceEvent]:
        """The entries of one change, in order: the head locked once, every entry linked by the
        domain to the one before, all of them stored by one executemany, the head moved once
        (three statements whatever the count, instead of three per entry), plus one read per
        subject type of the subjects' current rows for record binding (evidence_binding.py)."""
        if not drafts:
            return []
        locked = _HEAD_FOR_UPDATE.first(self._c, {})
        if locked is None:
            raise RuntimeError("the evidence head row is missing (migration 0001 creates it)")
        sequence, previous = int(locked["sequence"]), str(locked["entry_hash"])
        # Record binding (issue 15): each entry carries its subject row's state after the change
        # (in a batch, after the whole batch: the latest entry about a row is what verify checks).
        states = states_of(self._c, ((d.subject_type, d.subject_id) for d in drafts))
        events: list[EvidenceEvent] = []
        rows: list[tuple[Any, ...]] = []
        for draft in drafts:
            recorded_at = draft.recorded_at or now
            event = chain_next(
                sequence,
                previous,
                node_id=self._node_id,
                event_type=draft.event_type,
                subject_type=draft.subject_type,
                subject_id=draft.subject_id,
                actor=draft.actor,
                payload_hash_sha256=draft.payload_hash,
                recorded_at=recorded_at,
                summary=json_text(draft.summary) if draft.summary else None,
                record_hash=states.get((draft.subject_type, draft.subject_id)),
            )
            digest = entry_hash(event)
            row = {
                "sequence": event.sequence,
                "event_id": event.event_id,
                "node_id": self._node_id,
                "event_type": event.event_type,
                "subject_type": event.subject_type,
                "subject_id": event.subject_id,
                "actor": event.actor,
                "payload_hash": event.payload_hash_sha256,
                "prev_hash": event.prev_hash,
                "entry_hash": digest,
                "recorded_us": to_us(recorded_at),
                "summary": event.summary,
                "hash_version": event.hash_version,
                "content_salt": event.content_salt,
                "content_hash": event.content_hash,
                "record_hash": event.record_hash,
            }
            rows.append(tuple(row[name] for name in _COLUMNS))
            events.append(event)
            sequence, previous = event.sequence, digest
        insert_rows(self._c, "evidence", _COLUMNS, rows)
        _MOVE_HEAD.rowcount(self._c, {"new_sequence": sequence, "new_hash": previous})
        return events

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]:
        statement = (
            select(evidence)
            .where(evidence.c.sequence > after_sequence)
            .order_by(evidence.c.sequence)
            .limit(limit)
        )
        return [_event(r) for r in self._c.execute(statement)]

    def iterate(self) -> Iterator[tuple[EvidenceEvent, str]]:
        statement = select(evidence).order_by(evidence.c.sequence)
        for row in self._c.execute(statement.execution_options(yield_per=1000)):
            yield _event(row), str(row._mapping["entry_hash"])

    def get(self, sequence: int) -> tuple[EvidenceEvent, str] | None:
        row = self._c.execute(select(evidence).where(evidence.c.sequence == sequence)).first()
        return None if row is None else (_event(row), str(row._mapping["entry_hash"]))

    def tombstone(self, tombstone: EvidenceEvent, redacted_by: int) -> None:
        """Store `tombstone` (domain `redact`) over its entry: the one update the guard allows.
        `Conflict` when a concurrent redaction got there first (this transaction rolls back)."""
        result = self._c.execute(
            update(evidence)
            .where(evidence.c.sequence == tombstone.sequence, evidence.c.redacted_by.is_(None))
            .values(
                actor=tombstone.actor,
                summary=None,
                content_salt=None,
                redacted_by=redacted_by,
                redaction_reason=tombstone.redaction_reason,
            )
        )
        if not result.rowcount:
            raise Conflict(
                f"evidence entry {tombstone.sequence} is already redacted",
                {"sequence": tombstone.sequence},
            )

    def record_mismatches(self) -> list[tuple[str, str, str]]:
        """(subject type, id, problem) of each stored record its evidence does not account for."""
        return record_mismatches(self._c)


def _event(row: Row[Any]) -> EvidenceEvent:
    m = row._mapping
    return EvidenceEvent(
        sequence=int(m["sequence"]),
        event_id=m["event_id"],
        event_type=m["event_type"],
        subject_type=m["subject_type"],
        subject_id=m["subject_id"],
        actor=m["actor"],
        payload_hash_sha256=m["payload_hash"],
        prev_hash=m["prev_hash"],
        recorded_at=from_us(int(m["recorded_us"])),
        node_id=m["node_id"],
        summary=m["summary"],
        hash_version=int(m["hash_version"]),
        content_salt=m["content_salt"],
        content_hash=m["content_hash"],
        record_hash=m["record_hash"],
        redaction_reason=m["redaction_reason"],
    )
