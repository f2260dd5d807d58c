"""Operator commands: `loopnode backup`, `loopnode evidence export`, and the production gate.

Backups: SQLite through its online backup API (a consistent copy while the node keeps serving,
then `PRAGMA integrity_check` on the copy); PostgreSQL through `pg_dump --format=custom`
(restore with `pg_restore`, docs/operations.md). The evidence export prints the log as JSON
lines, oldest first, from `--after N`, for archiving and outside audit.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from loopnode.cli.node_cmd import DataDir, _container, evidence_app
from loopnode.config import SETTINGS_FILE, Settings, SettingsError, load_settings

console = Console(stderr=True)
EXPORT_PAGE = 500


def refuse_unsafe_production(settings: Settings, *, host: str, https: bool) -> None:
    """Exit 2 with one line naming every problem when production mode is on and unsafe."""
    if settings.environment != "production":
        return
    from loopnode.bootstrap import build
    from loopnode.web.app import create_app
    from loopnode.web.ops_production import production_problems

    container = build(settings, migrate=False)
    try:
        routes = create_app(container=container).routes
        problems = production_problems(settings, host=host, https=https, routes=routes)
    finally:
        container.close()
    if problems:
        typer.echo("refusing to start in production: " + "; ".join(problems), err=True)
        raise typer.Exit(2)


def _settings(data_dir: Path) -> Settings:
    if not (data_dir / SETTINGS_FILE).exists():
        typer.echo(f"{data_dir / SETTINGS_FILE} not found: run `loopnode init` first", err=True)
        raise typer.Exit(2)
    try:
        return load_settings(data_dir)
    except (SettingsError, ValueError) as exc:
        typer.echo(str(exc).splitlines()[0], err=True)
        raise typer.Exit(2) from exc


def backup(
    data_dir: DataDir,
    to: Annotated[Path, typer.Option("--to", help="the backup file to write")],
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Copy the node's database while it runs (SQLite backup API, or pg_dump)."""
    settings = _settings(data_dir)
    if to.exists() and not force:
        typer.echo(f"{to} exists; use --force to overwrite", err=True)
        raise typer.Exit(1)
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        _sqlite_backup(Path(url.split(":///", 1)[1]), to)
    elif url.startswith("postgresql"):
        _pg_dump("postgresql://" + url.split("://", 1)[1], to)
    else:
        typer.echo(f"no backup method for {url.split(':', 1)[0]}", err=True)
        raise typer.Exit(2)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        typer.echo(f"no database at {source}", err=True)
        raise typer.Exit(2)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(source) as live, sqlite3.connect(partial) as copy:
        live.backup(copy)
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        pages = copy.execute("PRAGMA page_count").fetchone()[0]
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        typer.echo(f"the copy failed its integrity check: {verdict}", err=True)
        raise typer.Exit(1)
    partial.replace(target)
    typer.echo(f"backed up {source} ({pages} pages) to {target}")


def _pg_dump(url: str, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        typer.echo("pg_dump not found: install the PostgreSQL client tools", err=True)
        raise typer.Exit(2)
    partial = target.with_name(target.name + ".partial")
    done = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--file", str(partial), "--dbname", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        typer.echo(f"pg_dump failed: {done.stderr.strip().splitlines()[-1:]}", err=True)
        raise typer.Exit(1)
    partial.replace(target)
    typer.echo(f"backed up the PostgreSQL database to {target} (pg_restore format)")


def evidence_export(
    data_dir: DataDir,
    after: Annotated[
        int, typer.Option("--after", min=0, max=2**63 - 1, help="start after this sequence")
    ] = 0,
    fmt: Annotated[str, typer.Option("--format", help="native or core-dp")] = "native",
) -> None:
    """Print evidence entries as JSON lines, oldest first (one object per line)."""
    if fmt not in ("native", "core-dp"):
        typer.echo("--format takes native or core-dp", err=True)
        raise typer.Exit(2)
    container = _container(data_dir)
    out = sys.stdout.buffer
    cursor: int | None = after
    try:
        while cursor is not None:
            page = container.evidence.page(cursor, EXPORT_PAGE, fmt)
            for entry in page["entries"]:
                out.write(orjson.dumps(entry) + b"\n")
            cursor = page["next_after"]
        out.flush()
    finally:
        container.close()


def register(app: typer.Typer) -> None:
    app.command()(backup)
    evidence_app.command("export")(evidence_export)
