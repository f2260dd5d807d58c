"""`loopnode evidence redact|retain|checkpoint|witnesses` (issue 15: retention, witnessed heads).

`redact ENTRY_SEQ --reason TEXT` turns an entry into a tombstone (its hash still verifies; the
redaction is an entry of its own). `retain [--older-than-days N]` does that to every entry older
than the retention period (the setting `evidence_retention_days`), for a daily timer.
`checkpoint` prints this node's signed head and witnesses
every approved peer's once (what the server does every `evidence_witness_interval_s`).
`witnesses` lists the latest checkpoint held from each peer and every finding; it exits 1 when
there is a finding.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import orjson
import typer

from loopnode.cli.node_cmd import DataDir, _container, evidence_app
from loopnode.domain.errors import LoopError
from loopnode.domain.times import format_timestamp, from_us


def redact(
    data_dir: DataDir,
    sequence: Annotated[
        int, typer.Argument(min=1, metavar="ENTRY_SEQ", help="the entry's sequence")
    ],
    reason: Annotated[str, typer.Option("--reason", help="why (kept with the tombstone)")],
) -> None:
    """Replace an entry's actor and summary by a tombstone that keeps the chain verifiable."""
    container = _container(data_dir)
    try:
        done = container.evidence.redact(sequence, reason)
    except LoopError as exc:
        typer.echo(f"not redacted: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        container.close()
    typer.echo(f"redacted entry {done.sequence}; the redaction is entry {done.redacted_by}")


def retain(
    data_dir: DataDir,
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days",
            min=1,
            help="retention period in days (default: the setting evidence_retention_days)",
        ),
    ] = None,
) -> None:
    """Tombstone every entry older than the retention period; the chain stays verifiable."""
    container = _container(data_dir)
    try:
        days = older_than_days or container.settings.evidence_retention_days
        if days is None:
            typer.echo(
                "no retention period: pass --older-than-days or set evidence_retention_days",
                err=True,
            )
            raise typer.Exit(2)
        done = container.evidence.retain(timedelta(days=days))
    except LoopError as exc:
        typer.echo(f"not retained: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        container.close()
    typer.echo(f"redacted {len(done)} entries older than {days} days")


def checkpoint(data_dir: DataDir) -> None:
    """Print this node's signed checkpoint and witness every approved peer's now."""
    container = _container(data_dir)
    try:
        typer.echo(orjson.dumps(container.evidence.checkpoint().to_document()).decode())
        outcomes = asyncio.run(container.witness.collect())
    finally:
        container.close()
    for outcome in outcomes:
        line = f"{outcome.peer_node_id}: {outcome.status}"
        if outcome.sequence is not None:
            line += f" at sequence {outcome.sequence}"
        if outcome.reason:
            line += f" ({outcome.reason})"
        typer.echo(line)
        for finding in outcome.findings:
            typer.echo(f"  FINDING {finding.kind}: {finding.detail}")
    if any(o.findings for o in outcomes):
        raise typer.Exit(1)


def witnesses(data_dir: DataDir) -> None:
    """The latest checkpoint held from each peer, and every finding (exit 1 if any)."""
    container = _container(data_dir)
    try:
        held, findings = container.witness.held(), container.witness.findings()
    finally:
        container.close()
    for item in held:
        issued = format_timestamp(from_us(item.issued_us))
        typer.echo(
            f"{item.peer_node_id}: sequence {item.sequence} head {item.head_hash} "
            f"signed {issued} by {item.key_id}"
        )
    if not held:
        typer.echo("no checkpoints held")
    for finding in findings:
        found = format_timestamp(from_us(finding.found_us))
        typer.echo(f"FINDING {finding.kind} {found}: {finding.detail}")
    if findings:
        raise typer.Exit(1)


def register(_app: typer.Typer) -> None:
    evidence_app.command("redact")(redact)
    evidence_app.command("retain")(retain)
    evidence_app.command("checkpoint")(checkpoint)
    evidence_app.command("witnesses")(witnesses)
