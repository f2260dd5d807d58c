"""`loopnode token issue`: a bearer JWT from the node's built-in issuer (docs/auth.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from loopnode.cli.node_cmd import DataDir, _container
from loopnode.domain.errors import LoopError
from loopnode.services.access.apikeys import parse_ttl

console = Console(stderr=True)
token_app = typer.Typer(help="Issue short-lived bearer tokens (JWT).", no_args_is_help=True)


@token_app.command("issue")
def token_issue(
    data_dir: DataDir,
    role: Annotated[
        str, typer.Option("--role", help="operator, registrar, trader, voter or auditor")
    ],
    subject: Annotated[str, typer.Option("--subject", help="who the token is for (sub)")],
    ttl: Annotated[str, typer.Option("--ttl", help="lifetime, at most 1h: 15m, 3600s")] = "15m",
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="the registrar's organisation")
    ] = None,
) -> None:
    """Print a signed JWT (its own key, never the node key) as the only line on stdout."""
    container = _container(data_dir)
    try:
        issuer = container.auth.issuer
        if issuer is None:
            console.print("[red]the built-in token issuer has no signing key[/]")
            raise typer.Exit(2)
        issued = issuer.issue(
            subject=subject, role=role, ttl=parse_ttl(ttl), organisation=organisation
        )
    except LoopError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2) from exc
    finally:
        container.close()
    console.print(f"token for {subject} ({role}) expires {issued.expires_at}")
    typer.echo(issued.token)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
