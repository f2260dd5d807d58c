"""Witnessed checkpoints between two real nodes on loopback (issue 15): node B holds node A's
signed evidence heads; when A's past is rewritten in its database (entries and head
recomputed, so A's own `evidence verify` passes), B catches it from the signatures it holds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from loopnode.domain.evidence import EvidenceEvent, entry_hash
from loopnode.domain.times import from_us
from tests.e2e.nodes import Federation, Node, NodeSpec
from tests.e2e.test_federation_nodes import register

pytestmark = pytest.mark.slow

MUNICH = NodeSpec("munich", 48.137, 11.575, city="Munich", city_code="MUC")
VIENNA = NodeSpec("vienna", 48.208, 16.373, city="Vienna", country="AT", city_code="VIE")


def rewrite_history(node: Node, sequence: int) -> None:
    """What an operator with the database in hand does to change entry `sequence` unnoticed by
    the node itself: change it, then recompute every later link and the head."""
    with sqlite3.connect(node.data_dir / "loopnode.db") as db:
        db.row_factory = sqlite3.Row
        db.execute("DROP TRIGGER evidence_no_update")
        rows = db.execute("SELECT * FROM evidence ORDER BY sequence").fetchall()
        previous: str | None = None
        for row in rows:
            event = _event(row)
            if event.sequence == sequence:
                # Another payload: one the records do not show (record binding would).
                event = _replace(event, payload_hash_sha256="d" * 64)
            if previous is not None and event.sequence > sequence:
                event = _replace(event, prev_hash=previous)
            previous = entry_hash(event)
            if event.sequence >= sequence:
                db.execute(
                    "UPDATE evidence SET payload_hash = ?, prev_hash = ?, entry_hash = ? "
                    "WHERE sequence = ?",
                    (event.payload_hash_sha256, event.prev_hash, previous, event.sequence),
                )
        db.execute("UPDATE evidence_head SET entry_hash = ? WHERE id = 1", (previous,))


def _event(row: sqlite3.Row) -> EvidenceEvent:
    return EvidenceEvent(
        sequence=row["sequence"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        actor=row["actor"],
        payload_hash_sha256=row["payload_hash"],
        prev_hash=row["prev_hash"],
        recorded_at=from_us(row["recorded_us"]),
        node_id=row["node_id"],
        summary=row["summary"],
        hash_version=row["hash_version"],
        content_salt=row["content_salt"],
        content_hash=row["content_hash"],
        record_hash=row["record_hash"],
        redaction_reason=row["redaction_reason"],
    )


def _replace(event: EvidenceEvent, **changes: Any) -> EvidenceEvent:
    from dataclasses import replace

    return replace(event, **changes)


def entries_of(node: Node, event_type: str) -> list[dict[str, Any]]:
    page = node.get("/api/v1/evidence", params={"limit": 500}).json()
    return [e for e in page["entries"] if e["event_type"] == event_type]


def test_b_catches_a_rewriting_its_past_from_the_checkpoints_it_holds(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        a, b = fed["munich"], fed["vienna"]
        fed.peer(b, a)  # b adds a (and trusts its key); a approves b
        first = register(a)
        register(a, "metal-aluminum")

        held = b.cli("evidence", "checkpoint")
        assert "munich.loop: held at sequence" in held.stdout
        register(a, "glass-clear")
        extended = b.cli("evidence", "checkpoint")  # a later head that extends the held one
        assert "munich.loop: held" in extended.stdout
        assert b.cli("evidence", "witnesses").returncode == 0

        (registered,) = [
            e for e in entries_of(a, "material.registered") if e["subject"]["id"] == first
        ]
        rewrite_history(a, registered["sequence"])
        assert a.cli("evidence", "verify", check=False).returncode == 0  # a alone cannot tell
        register(a, "cardboard")  # a moves on from its rewritten past

        caught = b.cli("evidence", "checkpoint", check=False)
        assert caught.returncode == 1, caught.stdout + caught.stderr
        assert "FINDING rewritten" in caught.stdout
        listed = b.cli("evidence", "witnesses", check=False)
        assert listed.returncode == 1
        assert "FINDING rewritten" in listed.stdout and "munich.loop signed entry" in listed.stdout
        (finding,) = entries_of(b, "node.equivocation_detected")
        assert finding["subject"] == {"type": "node", "id": "munich.loop"}
        metrics = b.get("/metrics").text
        assert "loopnode_evidence_witness_findings 1.0" in metrics

        again = b.cli("evidence", "checkpoint", check=False)  # nothing new: recorded once
        assert "FINDING" not in again.stdout
        assert len(entries_of(b, "node.equivocation_detected")) == 1


def test_b_catches_two_signed_heads_for_one_sequence(tmp_path: Path) -> None:
    with Federation(tmp_path, [MUNICH, VIENNA]) as fed:
        a, b = fed["munich"], fed["vienna"]
        fed.peer(b, a)
        register(a)
        b.cli("evidence", "checkpoint")
        with sqlite3.connect(a.data_dir / "loopnode.db") as db:
            (head,) = db.execute("SELECT sequence FROM evidence_head").fetchone()
        rewrite_history(a, head)  # the head itself: same length, another hash

        caught = b.cli("evidence", "checkpoint", check=False)
        assert caught.returncode == 1
        assert "FINDING equivocation" in caught.stdout
