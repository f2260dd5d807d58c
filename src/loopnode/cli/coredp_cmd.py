"""`loopnode coredp …`: drive core-dp exchanges with a peer from the command line.

Each command works on the node's data directory (the served node may run meanwhile: both use
the same database). Messages are queued durably and delivered at once; what cannot be
delivered stays queued for the served node's worker (or `loopnode coredp deliver`). Results
are printed as JSON on stdout.

    loopnode coredp send-offer --data-dir DIR --peer berlin.loop --material MAT-… \
        [--quantity 100 --unit kg] [--to-city Berlin] [--through offer|match|transfer]
    loopnode coredp announce | propose-match | dispatch | confirm-receipt | deliver | expire
    loopnode coredp conversations [--peer NODE] [--subject ID]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from loopnode.bootstrap import Container, build
from loopnode.config import SETTINGS_FILE, SettingsError, load_settings
from loopnode.domain.errors import LoopError
from loopnode.domain.times import format_timestamp
from loopnode.services.coredp.exchange import CONTEXT, view
from loopnode.services.coredp.ports import Conversation

console = Console(stderr=True)
T = TypeVar("T")
DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="LOOPNODE_DATA_DIR", help="The node's data directory."),
]
Peer = Annotated[str, typer.Option("--peer", help="The peer's node id, e.g. berlin.loop.")]
THROUGH = ("offer", "match", "transfer")

app = typer.Typer(
    help="Core-DP exchanges with a peer: offer → match → transfer (docs/core-dp.md).",
    no_args_is_help=True,
)


def _container(data_dir: Path) -> Container:
    if not (data_dir / SETTINGS_FILE).exists():
        console.print(f"[red]{data_dir / SETTINGS_FILE} not found: run `loopnode init` first[/]")
        raise typer.Exit(2)
    try:
        return build(load_settings(data_dir))
    except (SettingsError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


def _run(data_dir: Path, action: Callable[[Container], Awaitable[T]]) -> T:
    """Run `action` on a fresh container in one event loop; LoopErrors exit with status 1."""
    container = _container(data_dir)

    async def main() -> T:
        try:
            return await action(container)
        finally:
            await container.coredp.transport.aclose()

    try:
        return asyncio.run(main())
    except LoopError as exc:
        console.print(f"[red]{exc.message}[/]")
        if exc.details:
            console.print_json(json.dumps(exc.details, default=str))
        raise typer.Exit(1) from exc
    finally:
        container.close()


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _shown(conv: Conversation) -> dict[str, Any]:
    return view(conv)


@app.command("send-offer")
def send_offer(
    data_dir: DataDir,
    peer: Peer,
    material: Annotated[
        str | None, typer.Option("--material", help="The MaterialDNA id to offer.")
    ] = None,
    offer_id: Annotated[
        str | None, typer.Option("--offer", help="Publish an existing open offer instead.")
    ] = None,
    quantity: Annotated[
        float | None, typer.Option("--quantity", help="Default: the whole material.")
    ] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Default: the material's.")] = None,
    to_city: Annotated[
        str | None, typer.Option("--to-city", help="The receiving city (the match's).")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Offer available for N days.")] = 7,
    through: Annotated[
        str, typer.Option("--through", help="Go on to: offer | match | transfer.")
    ] = "offer",
) -> None:
    """Publish an offer of MATERIAL to PEER; with --through, propose the match and transfer."""
    if through not in THROUGH:
        raise typer.BadParameter(f"--through must be one of {', '.join(THROUGH)}")
    if (material is None) == (offer_id is None):
        raise typer.BadParameter("name exactly one of --material and --offer")

    async def action(c: Container) -> dict[str, Any]:
        exchange = c.coredp.exchange
        offer: dict[str, Any] | str = offer_id or _offer_payload(
            c, str(material), quantity, unit, to_city, days
        )
        shown: dict[str, Any] = {}
        if exchange.confirmed_capabilities(peer) is None:
            shown["capabilities"] = _shown(await exchange.announce_capabilities(peer))
        offered = await exchange.publish_offer(peer, offer)
        shown["offer"] = _shown(offered)
        if through == "offer" or offered.state != "offer-acked":
            return shown
        matched = await exchange.propose_match(peer, offered.subject_id, to_city=to_city)
        shown["match"] = _shown(matched)
        if through == "match" or matched.state != "match-accepted":
            return shown
        shown["transfer"] = _shown(await exchange.dispatch_transfer(peer, matched.subject_id))
        return shown

    _print(_run(data_dir, action))


def _offer_payload(
    c: Container,
    material_id: str,
    quantity: float | None,
    unit: str | None,
    to_city: str | None,
    days: int,
) -> dict[str, Any]:
    record = c.registry.get("material", material_id)
    whole = record.document["quantity"]
    until = c.clock.now() + timedelta(days=days)
    return {
        "@context": CONTEXT,
        "@type": "Offer",
        "schema_version": "0.2.0",
        "material_id": material_id,
        "from_city": record.current_city,
        "to_city": to_city or "any",
        "quantity": {
            "value": whole["value"] if quantity is None else quantity,
            "unit": unit or whole["unit"],
        },
        "status": "open",
        "available_until": format_timestamp(until.replace(microsecond=0)),
    }


@app.command("announce")
def announce(data_dir: DataDir, peer: Peer) -> None:
    """capabilities.announce: agree on the profile version and keys with PEER."""
    _print(_run(data_dir, lambda c: _as_view(c.coredp.exchange.announce_capabilities(peer))))


@app.command("propose-match")
def propose_match(
    data_dir: DataDir,
    peer: Peer,
    offer_id: Annotated[str, typer.Option("--offer", help="An offer PEER acknowledged.")],
    to_city: Annotated[str | None, typer.Option("--to-city")] = None,
) -> None:
    """match.propose for an acknowledged offer."""
    _print(
        _run(
            data_dir,
            lambda c: _as_view(c.coredp.exchange.propose_match(peer, offer_id, to_city=to_city)),
        )
    )


@app.command("dispatch")
def dispatch(
    data_dir: DataDir,
    peer: Peer,
    match_id: Annotated[str, typer.Option("--match", help="A match PEER accepted.")],
) -> None:
    """transfer.dispatch for an accepted match (the transfer goes in transit)."""
    _print(_run(data_dir, lambda c: _as_view(c.coredp.exchange.dispatch_transfer(peer, match_id))))


@app.command("confirm-receipt")
def confirm_receipt(
    data_dir: DataDir,
    conversation_id: Annotated[str, typer.Option("--conversation", help="conv_…")],
) -> None:
    """As counterparty: the dispatched goods arrived (transfer.receive)."""
    _print(_run(data_dir, lambda c: _as_view(c.coredp.exchange.confirm_receipt(conversation_id))))


@app.command("deliver")
def deliver(
    data_dir: DataDir,
    peer: Annotated[str | None, typer.Option("--peer")] = None,
) -> None:
    """Send queued core-dp messages that are due (once), after expiring overdue ones."""

    async def action(c: Container) -> dict[str, int]:
        expired = c.coredp.exchange.expire()
        return {"expired": expired, "finished": await c.coredp.exchange.deliver(peer)}

    _print(_run(data_dir, action))


@app.command("expire")
def expire(data_dir: DataDir) -> None:
    """Turn conversations past their timeout_at into timed-out / partitioned."""

    async def action(c: Container) -> dict[str, int]:
        return {"expired": c.coredp.exchange.expire()}

    _print(_run(data_dir, action))


@app.command("conversations")
def conversations(
    data_dir: DataDir,
    peer: Annotated[str | None, typer.Option("--peer")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="An entity id.")] = None,
) -> None:
    """List core-dp conversations, oldest first."""

    async def action(c: Container) -> list[dict[str, Any]]:
        found = c.coredp.exchange.conversations(peer=peer, subject_id=subject, limit=200)
        return [_shown(conv) for conv in found]

    _print(_run(data_dir, action))


async def _as_view(pending: Awaitable[Conversation]) -> dict[str, Any]:
    return _shown(await pending)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="coredp")
