"""`loopnode validate [--json] FILE...` through Typer's CliRunner."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from loopnode.cli import validate_cmd

from . import seeds


@pytest.fixture
def app() -> typer.Typer:
    # A one-command app with a callback keeps `validate` a sub-command, as in `loopnode`.
    application = typer.Typer()

    @application.callback()
    def root() -> None:
        """Test root."""

    validate_cmd.register(application)
    return application


def _write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return str(path)


def _run(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, ["validate", *args])


def test_valid_files_exit_zero(app: typer.Typer, tmp_path: Path) -> None:
    one = _write(tmp_path, "offer.json", seeds.OFFER)
    many = _write(tmp_path, "flow.json", [seeds.MATCH, seeds.TRANSFER])
    result = _run(app, one, many)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "invalid" not in result.output


def test_invalid_file_exits_one_and_prints_each_pointer(app: typer.Typer, tmp_path: Path) -> None:
    bad = copy.deepcopy(seeds.OFFER)
    bad["quantity"]["unit"] = "lbs"
    bad["id"] = "OFR-1\n"
    result = _run(
        app, _write(tmp_path, "good.json", seeds.MATCH), _write(tmp_path, "bad.json", bad)
    )
    assert result.exit_code == 1
    assert (
        "invalid" in result.output and "bad.json" in result.output and "(2 errors)" in result.output
    )
    assert "/id" in result.output
    assert "/quantity/unit" in result.output
    assert "must match" not in result.output  # our wording, not AJV's
    assert '"^[A-Z0-9-]{8,}$"' in result.output  # square brackets survive Rich markup


def test_json_output_is_exactly_one_list(app: typer.Typer, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", seeds.FEDERATE_ACCEPTED)
    bad = _write(tmp_path, "bad.json", [seeds.MATCH, {"@type": "Nope"}])
    result = _run(app, "--json", good, bad)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"file": good, "valid": True, "errors": []},
        {
            "file": bad,
            "valid": False,
            "errors": [
                {
                    "pointer": "/1/@type",
                    "message": json.loads(result.stdout)[1]["errors"][0]["message"],
                }
            ],
        },
    ]
    assert "unknown entity type 'Nope'" in json.loads(result.stdout)[1]["errors"][0]["message"]


def test_json_output_for_valid_files_exits_zero(app: typer.Typer, tmp_path: Path) -> None:
    result = _run(app, "--json", _write(tmp_path, "a.json", seeds.NODE_INFO))
    assert result.exit_code == 0
    [entry] = json.loads(result.stdout)
    assert entry["valid"] is True


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        ("{not json", "not valid JSON"),
        ('{"status": "accepted", "id": NaN}', "NaN is not a JSON value"),
        ("", "not valid JSON"),
    ],
)
def test_unparsable_file_is_an_error_at_root(
    app: typer.Typer, tmp_path: Path, content: str, message_part: str
) -> None:
    path = _write(tmp_path, "broken.json", content)
    result = _run(app, "--json", path)
    assert result.exit_code == 1
    [entry] = json.loads(result.stdout)
    assert entry["valid"] is False
    [error] = entry["errors"]
    assert error["pointer"] == ""
    assert message_part in error["message"]


def test_unreadable_files_are_errors_at_root(app: typer.Typer, tmp_path: Path) -> None:
    binary = tmp_path / "latin1.json"
    binary.write_bytes(b'{"name": "M\xfcnchen"}')
    missing = str(tmp_path / "missing.json")
    result = _run(app, "--json", missing, str(tmp_path), str(binary))
    assert result.exit_code == 1
    entries = json.loads(result.stdout)
    assert [e["errors"][0]["pointer"] for e in entries] == ["", "", ""]
    assert all("cannot read the file" in e["errors"][0]["message"] for e in entries)


def test_human_output_shows_root_pointer_for_unparsable_file(
    app: typer.Typer, tmp_path: Path
) -> None:
    result = _run(app, _write(tmp_path, "x.json", "[1,"))
    assert result.exit_code == 1
    assert '""' in result.output
    assert "not valid JSON" in result.output


def test_no_file_is_a_usage_error(app: typer.Typer) -> None:
    assert _run(app).exit_code == 2


def test_official_examples_are_all_valid(app: typer.Typer, reference: Path) -> None:
    files = sorted(str(p) for p in (reference / "examples").glob("*.json"))
    result = _run(app, "--json", *files)
    assert result.exit_code == 0, result.output
    assert [entry["valid"] for entry in json.loads(result.stdout)] == [True] * len(files)
