"""The evidence hash covers every stored column, the summary included (both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from typer.testing import CliRunner

from loopnode.bootstrap import build
from loopnode.cli.main import app
from loopnode.config import load_settings
from loopnode.services.ports import EvidenceDraft


def _init(tmp_path: Path, database_url: str) -> Path:
    data_dir = tmp_path / "node"
    result = CliRunner().invoke(
        app,
        [
            "init",
            "--data-dir", str(data_dir),
            "--node-id", "munich.loop",
            "--name", "Munich",
            "--country", "DE",
            "--city-code", "MUC",
            "--city", "Munich",
            "--lat", "48.137",
            "--lon", "11.575",
            "--database-url", database_url,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return data_dir


def _append_with_summaries(container: Any) -> None:
    with container.uow(write=True) as uow:
        for index in range(4):
            draft = EvidenceDraft(
                "material.registered",
                "material",
                f"MAT-DE-MUC-2026-PLASTIC-00000{index}",
                "tests",
                "a" * 64,
                {"quantity": index, "note": "kept"},
            )
            uow.evidence.append(draft, container.clock.now())


def _tamper(container: Any, statement: str, **params: Any) -> None:
    with container.engine.begin() as connection:
        # Someone with administrator rights on the database switches the guard off.
        if container.engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER evidence_no_update"))
        else:
            connection.execute(text("ALTER TABLE evidence DISABLE TRIGGER evidence_no_update"))
        connection.execute(text(statement), params)


def _verify(data_dir: Path) -> Any:
    return CliRunner().invoke(app, ["evidence", "verify", "--data-dir", str(data_dir)])


def test_evidence_verify_detects_a_changed_summary(tmp_path: Path, database_url: str) -> None:
    data_dir = _init(tmp_path, database_url)
    container = build(load_settings(data_dir))
    try:
        _append_with_summaries(container)
        assert _verify(data_dir).exit_code == 0
        changed = '{"quantity":99,"note":"kept"}'
        _tamper(container, "UPDATE evidence SET summary = :s WHERE sequence = 2", s=changed)
    finally:
        container.close()
    result = _verify(data_dir)
    assert result.exit_code == 1
    assert "BROKEN at sequence 2" in result.output


def test_evidence_verify_detects_a_removed_summary(tmp_path: Path, database_url: str) -> None:
    data_dir = _init(tmp_path, database_url)
    container = build(load_settings(data_dir))
    try:
        _append_with_summaries(container)
        _tamper(container, "UPDATE evidence SET summary = NULL WHERE sequence = 3")
    finally:
        container.close()
    result = _verify(data_dir)
    assert result.exit_code == 1
    assert "BROKEN at sequence 3" in result.output
