"""`loopnode validate [--json] FILE...`: check LOOP JSON documents against the protocol models.

Each file holds one entity or an array of entities; each is checked by its `@type` (see
`loopnode.protocol.validation.check_document`). A file that cannot be read or is not JSON is
invalid, with one error at pointer `""`. The exit code is 1 when any file is invalid.

JSON is parsed as JS `JSON.parse` would: the non-standard `NaN`/`Infinity` literals are refused.
With `--json`, stdout holds exactly one JSON array: `[{"file", "valid", "errors": [{"pointer",
"message"}]}]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from loopnode.domain.errors import Issue
from loopnode.protocol.validation import check_document


@dataclass(frozen=True, slots=True)
class FileReport:
    """The verdict on one file."""

    file: str
    errors: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "valid": self.valid,
            "errors": [issue.as_dict() for issue in self.errors],
        }


def check_file(path: Path) -> FileReport:
    """Read, parse and check one file; reading and parsing problems become an issue at `""`."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return FileReport(str(path), [Issue("", f"cannot read the file: {_reason(exc)}")])
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        return FileReport(str(path), [Issue("", f"not valid JSON: {exc}")])
    return FileReport(str(path), check_document(document))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def render(reports: list[FileReport], console: Console) -> None:
    """Human-readable output: one line per file, then one line per error."""
    for report in reports:
        if report.valid:
            console.print(Text.assemble(("valid   ", "green"), report.file))
            continue
        count = len(report.errors)
        console.print(
            Text.assemble(
                ("invalid ", "bold red"), report.file, f" ({count} error{'s' * (count != 1)})"
            )
        )
        for issue in report.errors:
            console.print(Text.assemble("  ", (issue.pointer or '""', "cyan"), "  ", issue.message))


def validate(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="JSON files holding LOOP entities.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON array of results and nothing else.")
    ] = False,
) -> None:
    """Check LOOP JSON documents (one entity or an array of them) by their @type."""
    reports = [check_file(path) for path in files]
    if as_json:
        typer.echo(json.dumps([report.as_dict() for report in reports]))
    else:
        render(reports, Console(highlight=False, soft_wrap=True))
    if not all(report.valid for report in reports):
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `loopnode` app."""
    app.command("validate")(validate)
