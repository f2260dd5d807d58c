"""Node administration: init, serve, seed, API keys, evidence verification."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopnode.bootstrap import Container, build
from loopnode.cli.listeners import OwnSocket, bind, claim, reuse_port_available
from loopnode.config import SETTINGS_FILE, SettingsError, load_settings, write_settings_file
from loopnode.domain.errors import LoopError
from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol import keys
from loopnode.services.access.apikeys import parse_ttl
from loopnode.services.registry.seeding import seed as seed_records

console = Console(stderr=True)
DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="LOOPNODE_DATA_DIR", help="The node's data directory."),
]


def _container(data_dir: Path) -> Container:
    if not (data_dir / SETTINGS_FILE).exists():
        console.print(f"[red]{data_dir / SETTINGS_FILE} not found: run `loopnode init` first[/]")
        raise typer.Exit(2)
    try:
        return build(load_settings(data_dir))
    except (SettingsError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


def init(
    data_dir: DataDir,
    node_id: Annotated[str, typer.Option("--node-id", help="e.g. munich.loop")],
    name: Annotated[str, typer.Option("--name")],
    country: Annotated[str, typer.Option("--country", help="ISO 3166-1 alpha-2, e.g. DE")],
    city_code: Annotated[str, typer.Option("--city-code", help="three letters, e.g. MUC")],
    city: Annotated[str, typer.Option("--city")],
    lat: Annotated[float, typer.Option("--lat")],
    lon: Annotated[float, typer.Option("--lon")],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="public URL (https in production)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="default: SQLite file in DATA_DIR")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite existing settings")] = False,
    tls: Annotated[
        str | None,
        typer.Option("--tls", help="'self-signed': a certificate for localhost and 127.0.0.1"),
    ] = None,
) -> None:
    """Write the node's settings file and create its Ed25519 key pair."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / SETTINGS_FILE).exists() and not force:
        console.print(f"[red]{data_dir / SETTINGS_FILE} exists; use --force to overwrite[/]")
        raise typer.Exit(1)
    values: dict[str, object] = {
        "node_id": node_id,
        "name": name,
        "country": country,
        "city_code": city_code,
        "city": city,
        "lat": lat,
        "lon": lon,
        "base_url": base_url or "https://localhost:8000",
    }
    if database_url:
        values["database_url"] = database_url
    if tls is not None:
        values.update(_self_signed(data_dir, node_id, tls))
    try:
        settings = load_settings(data_dir, **values)
    except (SettingsError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    write_settings_file(data_dir, values)
    key_path = settings.private_key_path
    if not key_path.exists() or force:
        key_path.unlink(missing_ok=True)
        keys.save_private_key(keys.generate_private_key(), key_path)
    container = build(load_settings(data_dir))
    container.close()
    console.print(f"[green]initialised {node_id}[/] in {data_dir} (key {key_path.name}, mode 0600)")


def _self_signed(data_dir: Path, node_id: str, mode: str) -> dict[str, object]:
    from loopnode.adapters.federation.tls import self_signed

    if mode != "self-signed":
        console.print("[red]--tls takes 'self-signed' (or use `loopnode tls issue`)[/]")
        raise typer.Exit(2)
    files = self_signed(data_dir.resolve(), node_id)
    return {"tls_cert": str(files.cert), "tls_key": str(files.key)}


def serve(
    data_dir: DataDir,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (TLS 1.3 only) with it"),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="its PEM private key")] = None,
    production: Annotated[
        bool, typer.Option("--production", help="refuse unsafe settings (docs/operations.md)")
    ] = False,
) -> None:
    """Serve the node's HTTP API: plain HTTP, or HTTPS (TLS 1.3 only) given --tls-cert/--tls-key.

    The "serving ... on URL" line is printed once the port is bound, so it is true when you see it.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from loopnode.adapters.federation.tls import uvicorn_context_factory
    from loopnode.cli.ops_cmd import refuse_unsafe_production

    container = _container(data_dir)  # runs migrations once, before any worker starts
    settings = container.settings
    container.close()
    if production:
        settings.environment = "production"
        os.environ["LOOPNODE_ENVIRONMENT"] = "production"  # the workers' settings too
    # Workers rebuild the settings from the data dir; this is how they learn where it is.
    os.environ["LOOPNODE_DATA_DIR"] = str(data_dir.resolve())
    cert = str(tls_cert or settings.tls_cert or "") or None
    key = str(tls_key or settings.tls_key or "") or None
    if (cert is None) != (key is None):
        console.print("[red]HTTPS needs both a certificate and its key (--tls-cert, --tls-key)[/]")
        raise typer.Exit(2)
    refuse_unsafe_production(settings, host=host, https=cert is not None)
    try:
        settings.check_production()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    config = uvicorn.Config(
        "loopnode.web.asgi:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # The standard asyncio loop, not uvloop: under saturation uvloop answers some
        # connections several rounds late (POST p99 560-710 ms against 111-125 ms here, same
        # throughput; docs/performance.md).
        loop="asyncio",
        # TLS 1.3 only when a certificate is configured: a TLS 1.2 handshake fails.
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_context_factory=uvicorn_context_factory if cert else None,
        # The client address (rate limits, logs) comes from X-Forwarded-For of these only.
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        # Peers keep idle keep-alive connections open; without a bound a stop waits for them.
        timeout_graceful_shutdown=2,
    )
    balanced = workers > 1 and reuse_port_available()
    sock = _bind(config, host, port, reuse_port=balanced)
    scheme = "https" if cert else "http"
    console.print(f"serving {settings.node_id} on {scheme}://{host}:{port} ({workers} worker(s))")
    try:
        if balanced:
            # Each worker binds a socket of its own (cli/listeners.py): the parent's only
            # reported a port in use.
            sock.close()
            own = OwnSocket(host, port, config.backlog)
            Multiprocess(config, sockets=own).run()
        elif workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


_claims: list[Any] = []  # the address locks of `serve --workers N` (cli/listeners.claim)


def _bind(config: Any, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The listening socket, bound before anything says the node is serving."""
    try:
        if reuse_port:
            _claims.append(claim(host, port))  # held until the process ends
            return bind(host, port, config.backlog)
        bound: socket.socket = config.bind_socket()
    except (SystemExit, OSError) as exc:  # e.g. address already in use (uvicorn logged it)
        console.print(f"[red]cannot listen on {host}:{port}[/]")
        raise typer.Exit(1) from exc
    return bound


def seed(
    data_dir: DataDir,
    count: Annotated[int, typer.Option("--count", min=0)] = 100,
    random_seed: Annotated[int | None, typer.Option("--seed", help="for repeatable data")] = None,
) -> None:
    """Load the example passports plus COUNT generated materials and products."""
    container = _container(data_dir)
    rng = random.Random(random_seed)
    columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("seed", total=count + 7)
            report = seed_records(
                container.registry,
                rng,
                container.clock.now(),
                count,
                lambda: progress.advance(task),
            )
    except LoopError as exc:
        console.print(f"[red]seeding failed: {exc.message}[/]")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    console.print(
        f"[green]seeded[/] {report.examples} examples ({report.skipped} already present), "
        f"{report.materials} materials, {report.products} products"
    )


apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    data_dir: DataDir,
    name: Annotated[str, typer.Argument(help="who or what uses the key")],
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="lifetime: 30d, 12h, 1y (default: api_key_default_ttl_days)"),
    ] = None,
    role: Annotated[
        str, typer.Option("--role", help="operator, registrar, trader, voter or auditor")
    ] = "operator",
) -> None:
    """Create an API key; it is printed once, as the last line."""
    container = _container(data_dir)
    try:
        issued = container.api_keys.create(name, parse_ttl(ttl) if ttl else None, role=role)
    except LoopError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2) from exc
    finally:
        container.close()
    console.print(
        f"API key {issued.key_id} ({issued.name}, role {role}) expires {issued.expires_at}"
    )
    console.print("Store it now: the node keeps only its hash.")
    typer.echo(issued.secret)


@apikey_app.command("list")
def apikey_list(data_dir: DataDir) -> None:
    """List API keys (never their secrets)."""
    container = _container(data_dir)
    rows = container.api_keys.list()
    container.close()
    table = Table("key id", "name", "roles", "expires", "revoked")
    for row in rows:
        revoked = format_timestamp(from_us(row.revoked_us)) if row.revoked_us else ""
        table.add_row(
            row.key_id,
            row.name,
            ",".join(row.roles),
            format_timestamp(from_us(row.expires_us)),
            revoked,
        )
    Console().print(table)


@apikey_app.command("revoke")
def apikey_revoke(data_dir: DataDir, key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke an API key by its id."""
    container = _container(data_dir)
    revoked = container.api_keys.revoke(key_id)
    container.close()
    if not revoked:
        console.print(f"[red]no active key {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


evidence_app = typer.Typer(help="The append-only evidence log.", no_args_is_help=True)


@evidence_app.command("verify")
def evidence_verify(data_dir: DataDir) -> None:
    """Recompute the evidence hash chain and name the first broken entry, then name every
    stored record changed without an evidence entry."""
    container = _container(data_dir)
    report = container.evidence.verify()
    container.close()
    if report.intact:
        typer.echo(f"OK: {report.entries} evidence entries, chain intact, records match")
        return
    if report.first_broken is not None:
        typer.echo(f"BROKEN at sequence {report.first_broken}: {report.reason}")
    for kind, record_id, problem in report.records:
        typer.echo(f"RECORD {kind} {record_id}: {problem}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(serve)
    app.command()(seed)
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(evidence_app, name="evidence")
