"""`loopnode lint`: errors and warnings exit 1, infos alone exit 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from loopnode.cli.main import app


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, ["lint", *map(str, args)])


def battery(reference: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (reference / "examples" / "17-battery-passport-material.json").read_text()
    )
    return document


def test_a_clean_passport_is_ok(reference_dir: Path) -> None:
    result = run(reference_dir / "examples" / "17-battery-passport-material.json")
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(": ok")


def test_a_profile_warning_is_printed_and_exits_1(reference_dir: Path, tmp_path: Path) -> None:
    doc = battery(reference_dir)
    doc["category"] = "metal-mixed"
    (tmp_path / "b.json").write_text(json.dumps(doc))
    result = run(tmp_path / "b.json")
    assert result.exit_code == 1
    assert "warning BATTERY-REQ-CATEGORY-MAPPING" in result.stdout


def test_infos_alone_exit_0(reference_dir: Path, tmp_path: Path) -> None:
    doc = battery(reference_dir)
    doc["passport"]["supported_regimes"] = ["espr-dpp"]
    (tmp_path / "b.json").write_text(json.dumps(doc))
    result = run(tmp_path / "b.json")
    assert result.exit_code == 0
    assert "info BATTERY-REQ-REGIME-TAGGING" in result.stdout


def test_schema_errors_exit_1_with_pointers(reference_dir: Path, tmp_path: Path) -> None:
    doc = battery(reference_dir)
    doc["passport"]["recycled_content_percent"] = 150
    (tmp_path / "b.json").write_text(json.dumps(doc))
    result = run(tmp_path / "b.json", "--json")
    assert result.exit_code == 1
    (report,) = json.loads(result.stdout)
    assert report["errors"][0]["pointer"] == "/passport/recycled_content_percent"


def test_unreadable_files_exit_1(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{")
    assert run(tmp_path / "x.json").exit_code == 1
    assert run(tmp_path / "missing.json").exit_code == 1
