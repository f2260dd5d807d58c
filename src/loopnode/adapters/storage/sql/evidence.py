"""Evidence audit storage: record binding checks and the witnessed checkpoints (issue 15)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Row

from loopnode.adapters.storage.sql.evidence_binding import (
    BOUND_SUBJECTS,
    account_problems,
    bound_states,
    current_states,
    subjects_with_entries,
    totals_problems,
)
from loopnode.adapters.storage.tables.core import evidence_witness_findings, evidence_witnessed
from loopnode.services.evidence.witness_ports import Finding, Witnessed

__all__ = ["SqlWitnessStore", "record_mismatches"]


def record_mismatches(connection: Connection) -> list[tuple[str, str, str]]:
    """(subject type, id, problem) for each row that differs from its latest bound entry, each
    row no entry is about, each bound subject whose row is gone, and each LoopCoin account whose
    balance its postings and lots do not account for."""
    bound = bound_states(connection)
    problems: list[tuple[str, str, str]] = []
    for subject_type in BOUND_SUBJECTS:
        seen: set[str] = set()
        mentioned: set[str] | None = None
        for record_id, state in current_states(connection, subject_type):
            seen.add(record_id)
            binding = bound.get((subject_type, record_id))
            if binding is not None:
                if binding[1] != state:
                    problems.append(
                        (
                            subject_type,
                            record_id,
                            f"its stored state differs from the one entry {binding[0]} recorded",
                        )
                    )
                continue
            if mentioned is None:  # rows from before record binding have unbound entries
                mentioned = subjects_with_entries(connection, subject_type)
            if record_id not in mentioned:
                problems.append((subject_type, record_id, "no evidence entry is about it"))
        problems.extend(
            (kind, record_id, f"entry {sequence} recorded it, but its row is gone")
            for (kind, record_id), (sequence, _state) in bound.items()
            if kind == subject_type and record_id not in seen
        )
    problems.extend(account_problems(connection))
    problems.extend(totals_problems(connection))
    return problems


class SqlWitnessStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def held(self, peer_node_id: str) -> list[Witnessed]:
        t = evidence_witnessed
        statement = select(t).where(t.c.peer_node_id == peer_node_id).order_by(t.c.sequence, t.c.id)
        return [_witnessed(r) for r in self._c.execute(statement)]

    def add(self, checkpoint: Witnessed) -> None:
        self._c.execute(
            insert(evidence_witnessed),
            {
                "peer_node_id": checkpoint.peer_node_id,
                "sequence": checkpoint.sequence,
                "head_hash": checkpoint.head_hash,
                "issued_us": checkpoint.issued_us,
                "key_id": checkpoint.key_id,
                "signature": checkpoint.signature,
                "received_us": checkpoint.received_us,
            },
        )

    def add_finding(self, finding: Finding) -> None:
        self._c.execute(
            insert(evidence_witness_findings),
            {
                "peer_node_id": finding.peer_node_id,
                "kind": finding.kind,
                "sequence": finding.sequence,
                "held_hash": finding.held_hash,
                "answered_hash": finding.answered_hash,
                "detail": finding.detail,
                "found_us": finding.found_us,
            },
        )

    def findings(self) -> list[Finding]:
        t = evidence_witness_findings
        return [
            Finding(
                peer_node_id=r.peer_node_id,
                kind=r.kind,
                sequence=int(r.sequence),
                held_hash=r.held_hash,
                answered_hash=r.answered_hash,
                detail=r.detail,
                found_us=int(r.found_us),
            )
            for r in self._c.execute(select(t).order_by(t.c.id))
        ]

    def latest(self) -> list[Witnessed]:
        t = evidence_witnessed
        last = select(func.max(t.c.id).label("id")).group_by(t.c.peer_node_id).subquery()
        statement = select(t).join(last, t.c.id == last.c.id).order_by(t.c.peer_node_id)
        return [_witnessed(r) for r in self._c.execute(statement)]


def _witnessed(row: Row[Any]) -> Witnessed:
    return Witnessed(
        peer_node_id=row.peer_node_id,
        sequence=int(row.sequence),
        head_hash=row.head_hash,
        issued_us=int(row.issued_us),
        key_id=row.key_id,
        signature=row.signature,
        received_us=int(row.received_us),
    )
