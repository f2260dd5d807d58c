"""`loopnode demo`: Munich, Berlin and Vienna as three real nodes, running the §12.1 story."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopnode.demo.story import Story, StoryFailed, federation

console = Console()


def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="where the three nodes keep their data; kept afterwards "
            "(default: a new temp dir, removed on exit unless --keep)",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="check the end state on every node and exit 0 or 1")
    ] = False,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="keep the temp dir (demo CA, node keys, databases) on exit"),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="write what happened (selection, trades with their settlements, clearing) "
            "as JSON to this file",
        ),
    ] = None,
) -> None:
    """Start Munich, Berlin and Vienna over HTTPS and run the spec's §12.1 story."""
    started = time.monotonic()
    base = _fresh(directory)
    keep = keep or directory is not None
    console.print(f"[bold]LOOP federation demo[/] in {base}")
    try:
        story = Story(federation(base))
        with story.fed:
            up = time.monotonic() - started
            first = min(node.up_at for node in story.fed) - started
            _introduce(story)
            console.print(
                f"[bold]first dashboard reachable after {first:.1f} s, "
                f"all three after {up:.1f} s[/]"
            )
            failure = _run(story)
            _timeline(story)
            _summary(story)
            problems = [failure] if failure else story.check()
            if report is not None:
                report.write_text(json.dumps(story.report(), indent=2) + "\n", encoding="utf-8")
                console.print(f"report written to {report}")
            console.print(f"story finished after {time.monotonic() - started:.1f} s")
            if once:
                _verdict(problems)
                return
            _serve(story, problems)
            _say_stopping(story)
    finally:
        _leave(base, keep)


def _introduce(story: Story) -> None:
    for node in story.fed:
        console.print(f"  {node.node_id:<12} dashboard: {node.base_url}/")
    for node in story.fed:
        console.print(f"  {node.node_id:<12} {node.base_url}  (TLS 1.3, demo CA)")
    ca = story.fed.ca
    if ca is None:
        return
    first = next(iter(story.fed))
    console.print(f"Demo CA certificate: {ca}  (the nodes' certificates are signed by it)")
    console.print("Call a node with it, for example:")
    console.print(f"  curl --cacert {ca} {first.base_url}/api/v1/node/info", soft_wrap=True)


def _say_stopping(story: Story) -> None:
    names = ", ".join(node.node_id for node in story.fed)
    console.print(
        f"stopping {names} together: each finishes its open requests and its delivery "
        "worker (at most 20 s)"
    )


def _leave(base: Path, keep: bool) -> None:
    """Say where the demo's folder (demo CA key, node private keys, databases) is, or remove it."""
    if keep:
        console.print(
            f"The demo folder is kept: {base} (holds the demo CA's and the nodes' private keys; "
            "delete it when done)",
            soft_wrap=True,
        )
        return
    shutil.rmtree(base, ignore_errors=True)
    console.print(f"Removed the demo folder {base} (use --keep or --dir to keep it)")


def _fresh(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="loopnode-demo-"))
    if directory.exists() and any(directory.iterdir()):
        if not (directory / "ca").exists():
            raise typer.BadParameter(f"{directory} is not empty and is not a demo directory")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _run(story: Story) -> str | None:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for title, step in story.steps():
            task = progress.add_task(title, total=1)
            try:
                step()
            except (StoryFailed, AssertionError) as exc:
                progress.update(task, description=f"[red]{title}: failed[/]")
                return f"{title}: {exc}"
            progress.update(task, completed=1, description=f"[green]✓[/] {title}")
    return None


def _timeline(story: Story) -> None:
    table = Table("#", "node", "what happened", title="Timeline")
    for index, (who, what) in enumerate(story.events, start=1):
        table.add_row(str(index), who, what)
    console.print(table)


def _summary(story: Story) -> None:
    selection = story.selection
    if selection.get("candidates"):
        table = Table("candidate", "LoopCost", title=f"Where {story.grain_id} goes")
        for item in selection["candidates"]:
            table.add_row(item["node"], item["loop_cost"])
        console.print(table)
        chosen = selection.get("selected") or {}
        console.print(
            f"selected: {chosen.get('node')} at {chosen.get('loop_cost')} (lowest LoopCost)"
        )
    if story.trades:
        table = Table(
            "material",
            "from → to",
            "paid",
            "seller",
            "origin fund",
            "dest. fund",
            "transport",
            title="Trades settled in LoopCoin",
        )
        for trade in story.trades:
            s = trade.settlement
            table.add_row(
                trade.material_id,
                f"{trade.origin_node} → {trade.destination_node}",
                s["paid"],
                s["seller"],
                s["origin_fund"],
                s["destination_fund"],
                s["transport"],
            )
        console.print(table)
    if story.clearing:
        clearing = story.clearing
        console.print(
            f"clearing round: {clearing['cleared']} of {clearing['total']} cleared; "
            f"{len(clearing['remaining'])} obligation(s) left to settle"
        )


def _verdict(problems: list[str]) -> None:
    if problems:
        for problem in problems:
            console.print(f"[red]✗ {problem}[/]")
        raise typer.Exit(1)
    console.print("[green]✓ the end state is as expected on every node[/]")


def _serve(story: Story, problems: list[str]) -> None:
    for problem in problems:
        console.print(f"[yellow]! {problem}[/]")
    for node in story.fed:
        console.print(f"{node.node_id}: {node.base_url}/docs  API key {node.api_key}")
    if story.fed.ca is not None:
        console.print(
            f"Browsers do not know the demo CA: import {story.fed.ca} or use curl --cacert.",
            soft_wrap=True,
        )
    console.print("The nodes keep serving; Ctrl-C stops them.")
    try:
        while all(node.running for node in story.fed):
            time.sleep(1)
    except KeyboardInterrupt:
        console.print()


def register(app: typer.Typer) -> None:
    app.command()(demo)
