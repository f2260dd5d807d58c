"""`loopnode lint [--json] FILE...`: schema errors and regulatory-profile findings of payloads.

Each file holds one entity or an array of them. Lines are `FILE: error POINTER: message` for
schema problems (what registration would refuse with 400) and `FILE[: #N]: warning|info
REQUIREMENT: message` for the battery, packaging and waste-shipment profiles
(`protocol.profiles.lint`; what registration reports under `profile_findings`). The exit code
is 1 when any file has an error or a warning, 0 when it has at most infos.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from loopnode.cli.validate_cmd import check_file
from loopnode.protocol.profiles import lint


def register(app: typer.Typer) -> None:
    app.command("lint")(lint_command)


def _entities(path: Path) -> list[Any]:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []  # check_file reports why
    return document if isinstance(document, list) else [document]


def report(path: Path) -> dict[str, Any]:
    checked = check_file(path)
    entities = _entities(path) if checked.valid else []
    findings = [
        {"index": index, **finding.as_dict()}
        for index, entity in enumerate(entities)
        for finding in lint(entity)
    ]
    failed = not checked.valid or any(f["severity"] == "warning" for f in findings)
    return {**checked.as_dict(), "findings": findings, "ok": not failed}


def lint_command(
    files: Annotated[list[Path], typer.Argument(help="JSON files, each an entity or an array")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
) -> None:
    """Print schema errors and regulatory-profile findings; exit 1 on errors or warnings."""
    reports = [report(path) for path in files]
    if as_json:
        typer.echo(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for entry in reports:
            _print(entry)
    if not all(entry["ok"] for entry in reports):
        raise typer.Exit(1)


def _print(entry: dict[str, Any]) -> None:
    name = entry["file"]
    for error in entry["errors"]:
        typer.echo(f"{name}: error {error['pointer'] or '/'}: {error['message']}")
    many = any(f["index"] for f in entry["findings"])
    for finding in entry["findings"]:
        where = f"{name} #{finding['index']}" if many else name
        typer.echo(f"{where}: {finding['severity']} {finding['requirement']}: {finding['message']}")
    if entry["ok"] and not entry["findings"]:
        typer.echo(f"{name}: ok")
