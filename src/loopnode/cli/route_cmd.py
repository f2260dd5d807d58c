"""`loopnode route`: batch allocation of lots to demands, and the overflow step.

`route batch FILE [--json]` needs no node: it reads the batch input (issue 11 item 6) and prints
the optimal allocation next to greedy's. `route step --data-dir DIR` runs one overflow step
against a node's database (what `overflow_worker` does periodically).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from loopnode.cli.node_cmd import DataDir, _container
from loopnode.domain.errors import LoopError
from loopnode.services.routing.batch import allocate

route_app = typer.Typer(
    help="Routing: optimal batch allocation and the overflow step.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `loopnode` app."""
    app.add_typer(route_app, name="route")


@route_app.command("batch")
def batch(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="{nodes, distances, supplies, demands}")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="print the whole answer as JSON")
    ] = False,
) -> None:
    """Allocate many lots to many demands at the least total LoopCost (min-cost max-flow)."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(document, dict):
        typer.echo("error: the batch must be a JSON object", err=True)
        raise typer.Exit(2)
    try:
        answer = allocate(document)
    except LoopError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    if json_output:
        typer.echo(json.dumps(answer))
        return
    _print_summary(answer)


def _print_summary(answer: dict[str, Any]) -> None:
    greedy = answer["greedy"]
    typer.echo(f"{'':14}{'optimal':>16}{'greedy':>16}")
    for key in ("total_loop_cost", "moved_quantity", "local_share", "km_moved"):
        typer.echo(f"{key:14}{answer[key]!s:>16}{greedy[key]!s:>16}")
    typer.echo(f"{'allocations':14}{len(answer['allocations']):>16}{greedy['allocations']:>16}")


@route_app.command("step")
def step(data_dir: DataDir) -> None:
    """Run one overflow step now and print its decisions as JSON."""
    container = _container(data_dir)
    try:
        overflow = container.routing.overflow
        asyncio.run(overflow.refresh_signals())
        report = overflow.step()
    except LoopError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        container.close()
    typer.echo(json.dumps(report, indent=2))
