"""Evidence entries of one change are appended as one batch (docs/performance.md): the chain
stays verifiable, sequences are consecutive, batches interleave correctly with single appends,
and the batch costs four statements however many entries it holds (both databases): the head
lock, one read of the subjects' current states for record binding (per subject type), the
insert, the head move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from loopnode.adapters.storage.sql import driver
from loopnode.bootstrap import build
from loopnode.cli.main import app
from loopnode.config import load_settings
from loopnode.domain.evidence import verify_chain
from loopnode.services.ports import EvidenceDraft
from tests.integration.evidence.test_evidence_summary import _init


def _draft(index: int) -> EvidenceDraft:
    return EvidenceDraft(
        "offer.published", "offer", f"OFR-BATCH-{index:04d}", "tests", "b" * 64, {"n": index}
    )


class _Counted:
    """A driver cursor that notes each statement (`sql/driver.insert_rows` and `Prebuilt`
    bypass SQLAlchemy's events)."""

    def __init__(self, cursor: Any, seen: list[str]) -> None:
        self._cursor, self._seen = cursor, seen

    def execute(self, statement: str, *args: Any) -> Any:
        self._seen.append(statement.split()[0].upper())
        return self._cursor.execute(statement, *args)

    def __getattr__(self, name: str) -> Any:  # fetchone, description, rowcount ...
        return getattr(self._cursor, name)


def _statements(container: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(container.engine, "before_cursor_execute", before)
    real = driver._cursor
    monkeypatch.setattr(
        driver, "_cursor", lambda connection, **kw: _Counted(real(connection, **kw), seen)
    )
    return seen


def test_a_batch_is_chained_consecutive_and_verifiable(tmp_path: Path, database_url: str) -> None:
    data_dir = _init(tmp_path, database_url)
    container = build(load_settings(data_dir))
    try:
        with container.uow(write=True) as uow:
            start, _ = uow.evidence.head()
            single = uow.evidence.append(_draft(0), container.clock.now())
            batch = uow.evidence.append_many(
                [_draft(i) for i in range(1, 6)], container.clock.now()
            )
            after = uow.evidence.append(_draft(6), container.clock.now())
            assert uow.evidence.append_many([], container.clock.now()) == []
        assert [e.sequence for e in (single, *batch, after)] == list(range(start + 1, start + 8))
        assert [e.subject_id for e in batch] == [f"OFR-BATCH-{i:04d}" for i in range(1, 6)]
        with container.uow() as uow:
            stored = list(uow.evidence.iterate())
            head = uow.evidence.head()
        assert verify_chain([e for e, _ in stored], head_hash=head[1]) is None
        assert head[0] == start + 7
        assert [e.event_id for e, _ in stored[-7:]] == [e.event_id for e in (single, *batch, after)]
    finally:
        container.close()
    result = CliRunner().invoke(app, ["evidence", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output


def test_a_batch_costs_four_statements_whatever_its_size(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _init(tmp_path, database_url)
    container = build(load_settings(data_dir))
    try:
        with container.uow(write=True) as uow:
            seen = _statements(container, monkeypatch)
            uow.evidence.append_many([_draft(i) for i in range(10)], container.clock.now())
            data = [s for s in seen if s in {"SELECT", "INSERT", "UPDATE"}]
        assert data == ["SELECT", "SELECT", "INSERT", "UPDATE"]
    finally:
        container.close()
