"""Migration 0014_evidence keeps an existing evidence chain valid (both databases).

Entries written before it have hash version 2 (actor and summary hashed directly): after the
upgrade they still verify, new entries are version 3 and link onto them, and only the new ones
can be redacted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from loopnode.adapters.storage.engine import make_engine
from loopnode.adapters.storage.migrate import alembic_config
from loopnode.bootstrap import build
from loopnode.domain.errors import Conflict
from loopnode.domain.evidence import GENESIS_HASH, EvidenceEvent, derive_event_id, entry_hash
from loopnode.domain.times import to_us
from loopnode.services.ports import EvidenceDraft
from tests.fakes import FakeClock

MINE = "0014_evidence"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _upgrade_all_but_mine(engine: Any) -> None:
    config = alembic_config()
    heads = [h for h in ScriptDirectory.from_config(config).get_heads() if h != MINE]
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        for head in heads:
            command.upgrade(config, head)


def _old_chain(engine: Any, count: int) -> None:
    """Entries as the node wrote them before the migration (hash version 2)."""
    previous = GENESIS_HASH
    with engine.begin() as connection:
        for sequence in range(1, count + 1):
            event = EvidenceEvent(
                sequence=sequence,
                event_id=derive_event_id("munich.loop", sequence),
                event_type="signal.vote_recorded",
                subject_type="signal",
                subject_id=f"SIG-{sequence}",
                actor="apikey:alice",
                payload_hash_sha256="a" * 64,
                prev_hash=previous,
                recorded_at=T0,
                node_id="munich.loop",
                summary='{"vote":"yes"}',
            )
            previous = entry_hash(event)
            connection.execute(
                text(
                    "INSERT INTO evidence (sequence, event_id, node_id, event_type, subject_type, "
                    "subject_id, actor, payload_hash, prev_hash, entry_hash, recorded_us, summary) "
                    "VALUES (:s, :e, 'munich.loop', :t, 'signal', :sub, 'apikey:alice', :p, :prev, "
                    ":h, :us, :sum)"
                ),
                {
                    "s": sequence,
                    "e": event.event_id,
                    "t": event.event_type,
                    "sub": event.subject_id,
                    "p": event.payload_hash_sha256,
                    "prev": event.prev_hash,
                    "h": previous,
                    "us": to_us(T0),
                    "sum": event.summary,
                },
            )
        connection.execute(
            text("UPDATE evidence_head SET sequence = :s, entry_hash = :h WHERE id = 1"),
            {"s": count, "h": previous},
        )


def test_an_existing_chain_stays_valid_and_new_entries_continue_it(node_settings: Any) -> None:
    engine = make_engine(node_settings.sqlalchemy_url)
    try:
        _upgrade_all_but_mine(engine)
        _old_chain(engine, 3)
    finally:
        engine.dispose()

    container = build(node_settings, clock=FakeClock())  # upgrades to every head
    try:
        assert container.evidence.verify().intact
        with container.uow(write=True) as uow:
            draft = EvidenceDraft("signal.vote_recorded", "signal", "SIG-4", "apikey:bob", "b" * 64)
            new = uow.evidence.append(draft, container.clock.now())
            old, _ = uow.evidence.get(3) or (None, None)
        assert (new.sequence, new.hash_version) == (4, 3)
        assert old is not None and old.hash_version == 2 and new.prev_hash == entry_hash(old)
        assert container.evidence.verify().intact

        with pytest.raises(Conflict, match="hash version 2"):
            container.evidence.redact(2, "too old to redact")
        container.evidence.redact(4, "retention period over")
        assert container.evidence.verify().intact
    finally:
        container.close()
