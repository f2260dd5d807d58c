"""`loopnode demo`: Munich, Berlin and Vienna as three real nodes, running the §12.1 story."""

from __future__ import annotations

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
            "--dir", help="where the three nodes keep their data (default: a new temp dir)"
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="check the end state on every node and exit 0 or 1")
    ] = False,
) -> None:
    """Start Munich, Berlin and Vienna over HTTPS and run the spec's §12.1 story."""
    base = _fresh(directory)
    console.print(f"[bold]LOOP federation demo[/] in {base}")
    story = Story(federation(base))
    with story.fed:
        for node in story.fed:
            console.print(f"  {node.node_id:<12} dashboard: {node.base_url}/")
            console.print(f"  {node.node_id:<12} {node.base_url}  (TLS 1.3, demo CA)")
        failure = _run(story)
        _timeline(story)
        problems = [failure] if failure else story.check()
        if once:
            _verdict(problems)
            return
        _serve(story, problems)


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
    console.print("The nodes keep serving; Ctrl-C stops them.")
    try:
        while all(node.running for node in story.fed):
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")


def register(app: typer.Typer) -> None:
    app.command()(demo)
