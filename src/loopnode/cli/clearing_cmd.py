"""`loopnode clearing solve FILE [--json]`: the maximum multilateral set-off of a file of
obligations (domain/clearing.py; docs/ledger.md §Clearing).

The file is `{"obligations": [{"id", "debtor", "creditor", "amount"}]}` with node ids and
amounts as decimal strings (or JSON numbers, read as exact decimals) in one unit of account.
With `--json` stdout holds exactly `{"cleared": "<amount>", "remaining": [{"debtor",
"creditor", "amount"}]}`. A file that cannot be read or is malformed exits 2.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from loopnode.domain.clearing import Clearing, Obligation, bilateral_netting, clear
from loopnode.domain.errors import LoopError
from loopnode.domain.money import Money

clearing_app = typer.Typer(
    help="Inter-node clearing of LoopCoin settlement obligations.", no_args_is_help=True
)


@clearing_app.callback()
def _group() -> None:
    """Inter-node clearing of LoopCoin settlement obligations."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_obligations(path: Path) -> list[Obligation]:
    """The obligations of a clearing file; ValueError / LoopError when it is malformed."""
    document = json.loads(path.read_bytes(), parse_float=Decimal, parse_constant=_refuse_constant)
    items = document.get("obligations") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError('the file must be {"obligations": [...]}')
    found = []
    for number, item in enumerate(items):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("debtor", "creditor")
        ):
            raise ValueError(f"obligation {number} needs debtor and creditor strings")
        cents = Money.parse(item.get("amount")).cents
        found.append(Obligation(item["debtor"], item["creditor"], cents))
    return found


def as_json(result: Clearing) -> dict[str, Any]:
    return {
        "cleared": str(Money(result.cleared_cents)),
        "remaining": [
            {"debtor": o.debtor, "creditor": o.creditor, "amount": str(Money(o.cents))}
            for o in result.remaining
        ],
    }


@clearing_app.command("solve")
def solve(
    file: Annotated[Path, typer.Argument(help="a JSON file of obligations")],
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Clear FILE's obligations as far as possible without changing any net position."""
    try:
        obligations = load_obligations(file)
        result = clear(obligations)
    except (OSError, ValueError, KeyError, LoopError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        typer.echo(json.dumps(as_json(result)))
        return
    netting = bilateral_netting(obligations)
    total = result.total_cents or 1
    typer.echo(
        f"cleared {Money(result.cleared_cents)} of {Money(result.total_cents)} "
        f"({100 * result.cleared_cents / total:.1f} %); bilateral netting alone: "
        f"{Money(netting)} ({100 * netting / total:.1f} %)"
    )
    for o in result.remaining:
        typer.echo(f"  {o.debtor} owes {o.creditor} {Money(o.cents)}")


@clearing_app.command("run")
def run(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar="LOOPNODE_DATA_DIR", help="the node's folder")
    ] = Path("."),
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Run a clearing round with this node's approved peers as coordinator."""
    import asyncio

    from loopnode.bootstrap import build
    from loopnode.config import SettingsError, load_settings, read_settings_file
    from loopnode.services.ledger.clearing_round import run_round

    try:
        read_settings_file(data_dir)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    container = build(load_settings(data_dir), migrate=False)
    try:
        with container.federation.uow() as uow:
            peers = uow.federation.peers.all("approved")

        async def round_() -> dict[str, Any]:
            transport = container.federation.transport_factory()
            try:
                return await run_round(
                    container.ledger.rounds,
                    peers,
                    transport,
                    container.clock.now(),
                    container.settings.federation_timeout_s,
                )
            finally:
                await transport.aclose()

        report = asyncio.run(round_())
    finally:
        container.close()
    if json_output:
        typer.echo(json.dumps(report))
    else:
        typer.echo(
            f"round {report['round']}: cleared {report['cleared']} of {report['total']} "
            f"({100 * report['cleared_share']:.1f} %); bilateral netting alone: "
            f"{report['bilateral_netting']} ({100 * report['bilateral_share']:.1f} %)"
        )
        for item in report["remaining"]:
            typer.echo(f"  {item['debtor']} owes {item['creditor']} {item['amount']}")
        for node, problem in report["problems"].items():
            typer.echo(f"  problem with {node}: {problem}")
    if report["problems"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `loopnode clearing …` to the `loopnode` app."""
    app.add_typer(clearing_app, name="clearing")
