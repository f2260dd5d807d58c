"""Federation administration: `keys`, `peers`, `federation` and `tls` command groups."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopnode.adapters.federation import tls
from loopnode.bootstrap import Container
from loopnode.cli.node_cmd import DataDir, _container
from loopnode.config import read_settings_file, write_settings_file
from loopnode.domain.errors import LoopError
from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol.trust import TrustStoreError, load_trust_store
from loopnode.services.federation.ports import TransportError

console = Console(stderr=True)
out = Console()
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    return typer.Exit(code)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


# -- keys ------------------------------------------------------------------------------------------
keys_app = typer.Typer(help="This node's signing keys: list, rotate, revoke.", no_args_is_help=True)


@keys_app.command("list")
def keys_list(data_dir: DataDir, as_json: AsJson = False) -> None:
    """This node's keys, oldest first."""
    container = _container(data_dir)
    try:
        rows = container.federation.keys.history()
    finally:
        container.close()
    rendered = [
        {
            "key_id": row.key_id,
            "status": row.status,
            "valid_from": format_timestamp(from_us(row.valid_from_us)),
            "valid_until": format_timestamp(from_us(row.valid_until_us))
            if row.valid_until_us
            else None,
            "rotated_to_key_id": row.rotated_to_key_id,
        }
        for row in rows
    ]
    if as_json:
        _print_json(rendered)
        return
    table = Table("key id", "status", "valid from", "valid until", "rotated to")
    for item in rendered:
        table.add_row(*(str(item[k] or "") for k in item))
    out.print(table)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir) -> None:
    """Replace the current key; approved peers get a notice signed by the old and new key."""
    container = _container(data_dir)
    try:
        change = container.federation.keys.rotate()
    except LoopError as exc:
        raise _fail(exc.message) from exc
    finally:
        container.close()
    console.print(
        f"[green]rotated[/] {change.retired_key_id} -> {change.active_key_id}; "
        f"{change.peers_notified} peer notice(s) queued"
    )
    typer.echo(change.active_key_id)


@keys_app.command("revoke")
def keys_revoke(
    data_dir: DataDir,
    key_id: Annotated[str | None, typer.Argument(help="default: the current key")] = None,
) -> None:
    """Revoke a key (the current one by default, which is then replaced by a new key that
    peers' operators must approve)."""
    container = _container(data_dir)
    try:
        change = container.federation.keys.revoke(key_id)
    except LoopError as exc:
        raise _fail(exc.message) from exc
    finally:
        container.close()
    console.print(
        f"[green]revoked[/] {change.retired_key_id}; active key {change.active_key_id}; "
        f"{change.peers_notified} peer notice(s) queued"
    )
    typer.echo(change.active_key_id)


# -- peers -----------------------------------------------------------------------------------------
peers_app = typer.Typer(
    help="Peer nodes: add, approve, list, remove, import-trust.", no_args_is_help=True
)


@peers_app.command("add")
def peers_add(
    data_dir: DataDir,
    url: Annotated[str, typer.Argument(help="the peer's base URL, e.g. https://berlin.example")],
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", help="pin the peer's TLS certificate (SHA-256 hex)"),
    ] = None,
    trust_on_first_use: Annotated[
        bool, typer.Option("--trust-on-first-use", help="pin whatever certificate it presents")
    ] = False,
) -> None:
    """Fetch the peer's NodeInfo, send it a signed handshake, and record it as approved."""
    container = _container(data_dir)
    try:
        pin = tls.normalise_fingerprint(fingerprint) if fingerprint else None
        peer = asyncio.run(_add(container, url, pin, trust_on_first_use))
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    except LoopError as exc:
        raise _fail(exc.message) from exc
    except TransportError as exc:
        raise _fail(exc.message) from exc
    finally:
        container.close()
    pinned = f" (certificate {peer.tls_fingerprint})" if peer.tls_fingerprint else ""
    console.print(f"[green]peered with {peer.node_id}[/] at {peer.endpoint}{pinned}")
    typer.echo(peer.node_id)


async def _add(container: Container, url: str, pin: str | None, tofu: bool) -> Any:
    transport = container.federation.transport_factory()
    try:
        return await container.federation.peers.add(
            transport, url, fingerprint=pin, trust_on_first_use=tofu
        )
    finally:
        await transport.aclose()


@peers_app.command("approve")
def peers_approve(
    data_dir: DataDir,
    node_id: Annotated[str, typer.Argument()],
    fingerprint: Annotated[
        str | None, typer.Option("--fingerprint", help="the certificate you expect it to have")
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option("--key-id", help="the key id its operator gave you (docs/federation.md)"),
    ] = None,
) -> None:
    """Approve a pending peer (and install a pending key change)."""
    container = _container(data_dir)
    try:
        pin = tls.normalise_fingerprint(fingerprint) if fingerprint else None
        peer = container.federation.peers.approve(node_id, pin, key_id)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    except LoopError as exc:
        raise _fail(exc.message) from exc
    finally:
        container.close()
    console.print(f"[green]approved {peer.node_id}[/]")


@peers_app.command("list")
def peers_list(data_dir: DataDir, as_json: AsJson = False) -> None:
    """Known peers with their status, TLS pin and keys."""
    container = _container(data_dir)
    try:
        described = container.federation.peers.describe()
    finally:
        container.close()
    if as_json:
        _print_json(described)
        return
    table = Table("node id", "status", "endpoint", "keys", "tls pin", "pending key")
    for peer in described:
        table.add_row(
            peer["node_id"],
            peer["status"],
            peer["endpoint"],
            ", ".join(f"{k['key_id']} ({k['status']})" for k in peer["keys"]),
            (peer["tls_fingerprint"] or "")[:16],
            peer["pending_key_id"] or "",
        )
    out.print(table)


@peers_app.command("remove")
def peers_remove(data_dir: DataDir, node_id: Annotated[str, typer.Argument()]) -> None:
    """Forget a peer (its revoked keys stay refused)."""
    container = _container(data_dir)
    try:
        removed = container.federation.peers.remove(node_id)
    finally:
        container.close()
    if not removed:
        raise _fail(f"no peer {node_id}")
    console.print(f"removed {node_id}")


@peers_app.command("import-trust")
def peers_import_trust(data_dir: DataDir, file: Annotated[Path, typer.Argument()]) -> None:
    """Import peer keys from a core-dp trust-store file (revoked keys are never reinstated)."""
    try:
        store = load_trust_store(file)
    except TrustStoreError as exc:
        raise _fail(str(exc), 2) from exc
    container = _container(data_dir)
    try:
        imported, skipped = container.federation.trust.import_store(store)
    finally:
        container.close()
    console.print(f"imported {imported} key(s), skipped {skipped}")


# -- federation ------------------------------------------------------------------------------------
federation_app = typer.Typer(help="Outbound delivery: the outbox.", no_args_is_help=True)


@federation_app.command("outbox")
def federation_outbox(
    data_dir: DataDir,
    status: Annotated[str | None, typer.Option("--status", help="pending|delivered|dead")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 100,
    as_json: AsJson = False,
) -> None:
    """Outbound deliveries with their attempts and errors; dead letters included."""
    container = _container(data_dir)
    try:
        page = container.federation.outbox.page(status, 0, limit)
    except LoopError as exc:
        raise _fail(exc.message, 2) from exc
    finally:
        container.close()
    if as_json:
        _print_json(page)
        return
    counts = page["counts"]
    console.print(
        f"pending {counts['pending']}, delivered {counts['delivered']}, dead {counts['dead']}; "
        f"circuits: {page['circuits'] or 'all closed'}"
    )
    table = Table("id", "peer", "kind", "status", "attempts", "next attempt", "last error")
    for entry in page["entries"]:
        table.add_row(
            str(entry["id"]),
            entry["peer_id"],
            entry["kind"],
            entry["status"],
            str(entry["attempts"]),
            entry["next_attempt_at"],
            (entry["last_error"] or "")[:60],
        )
    out.print(table)


@federation_app.command("retry")
def federation_retry(
    data_dir: DataDir,
    peer: Annotated[str | None, typer.Option("--peer", help="only this peer's rows")] = None,
) -> None:
    """Put dead letters back in the queue (attempts reset)."""
    container = _container(data_dir)
    try:
        count = container.federation.outbox.retry_dead(peer)
    finally:
        container.close()
    console.print(f"requeued {count} dead letter(s)")


# -- tls -------------------------------------------------------------------------------------------
tls_app = typer.Typer(help="Certificates for demos: a CA, node certificates.", no_args_is_help=True)


@tls_app.command("ca")
def tls_ca(
    directory: Annotated[Path, typer.Option("--dir", help="where ca.crt and ca.key go")],
    name: Annotated[str, typer.Option("--name")] = "loopnode demo CA",
) -> None:
    """Create a demo CA (ca.crt, ca.key) that several nodes can trust."""
    files = tls.create_ca(directory, name)
    console.print(
        f"CA certificate {files.cert} (SHA-256 {tls.fingerprint(files.cert.read_text())})"
    )


@tls_app.command("issue")
def tls_issue(
    data_dir: DataDir,
    ca_dir: Annotated[Path, typer.Option("--ca-dir", help="directory holding ca.crt, ca.key")],
    host: Annotated[list[str] | None, typer.Option("--host", help="DNS name (repeatable)")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="IP address (repeatable)")] = None,
) -> None:
    """Issue this node a certificate from the CA and configure tls_cert/tls_key/tls_ca_bundle."""
    ca = tls.CertificateFiles(ca_dir / "ca.crt", ca_dir / "ca.key")
    values = read_settings_file(data_dir)
    files = tls.issue_certificate(
        ca,
        data_dir.resolve(),
        str(values.get("node_id", "node")),
        hosts=host or list(tls.DEFAULT_HOSTS),
        ips=ip or list(tls.DEFAULT_IPS),
    )
    values.update(
        tls_cert=str(files.cert), tls_key=str(files.key), tls_ca_bundle=str(ca.cert.resolve())
    )
    write_settings_file(data_dir, values)
    console.print(f"certificate {files.cert} (SHA-256 {tls.fingerprint(files.cert.read_text())})")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(peers_app, name="peers")
    app.add_typer(federation_app, name="federation")
    app.add_typer(tls_app, name="tls")
