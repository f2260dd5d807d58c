"""`loopnode vc sign|verify`: eddsa-jcs-2022 Data Integrity proofs on any JSON credential.

`sign` prints the signed document as two-space-indented JSON (the layout of the W3C examples,
so signing the specification's own example with its published key reproduces it byte for byte).
`verify` exits 0 when the proof is valid and 1 for anything else (unreadable file, bad JSON, no
proof, wrong key, tampering, unknown cryptosuite, unreachable node), printing `VALID` or
`INVALID: reason`. With `--node URL` the key comes from the node's `/.well-known/did.json`, and
only the verification methods that document lists for assertions are accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from loopnode.domain.times import format_timestamp
from loopnode.protocol import multikey, vc, vc_did

vc_app = typer.Typer(help="Sign and verify W3C Verifiable Credentials (eddsa-jcs-2022).")
DID_FETCH_TIMEOUT = 10.0
MAX_DID_BYTES = 256 * 1024


def register(app: typer.Typer) -> None:
    app.add_typer(vc_app, name="vc")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: cannot read a JSON document: {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


@vc_app.command("sign")
def sign(
    file: Annotated[Path, typer.Argument(help="the unsigned credential (JSON)")],
    key_multibase: Annotated[
        str, typer.Option("--key-multibase", help="Ed25519 secret key as a multibase Multikey")
    ],
    verification_method: Annotated[
        str, typer.Option("--verification-method", help="URL naming the public key")
    ],
    created: Annotated[
        str | None, typer.Option("--created", help="proof time (default: now, UTC)")
    ] = None,
) -> None:
    """Print FILE with an eddsa-jcs-2022 DataIntegrityProof added."""
    try:
        key = multikey.private_key_from_multibase(key_multibase)
    except multikey.MultikeyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--key-multibase") from exc
    when = created or format_timestamp(datetime.now(UTC).replace(microsecond=0))
    try:
        signed = vc.add_proof(
            _read_json(file), key, verification_method=verification_method, created=when
        )
    except vc.ProofRejected as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(signed, indent=2, ensure_ascii=False))


@vc_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="the signed credential (JSON)")],
    public_key_multibase: Annotated[
        str | None, typer.Option("--public-key-multibase", help="the issuer's Multikey")
    ] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="the issuing node's base URL (did:web)")
    ] = None,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="CA certificates to trust for --node")
    ] = None,
) -> None:
    """Exit 0 if FILE carries a valid eddsa-jcs-2022 proof, 1 otherwise."""
    if (public_key_multibase is None) == (node is None):
        typer.echo("INVALID: give exactly one of --public-key-multibase or --node", err=True)
        raise typer.Exit(1)
    try:
        document = json.loads(file.read_text("utf-8"), parse_constant=_refuse_constant)
        resolve = _resolver(public_key_multibase, node, ca_bundle)
    except (OSError, UnicodeDecodeError, ValueError, httpx.HTTPError) as exc:
        typer.echo(f"INVALID: {exc}")
        raise typer.Exit(1) from exc
    result = vc.verify_proof(document, resolve)
    if not result.verified:
        typer.echo(f"INVALID: {result.reason}")
        raise typer.Exit(1)
    typer.echo(f"VALID {result.verification_method}")


def _resolver(public: str | None, node: str | None, ca_bundle: Path | None) -> vc.KeyResolver:
    if public is not None:
        return vc.fixed_key(multikey.public_key_from_multibase(public))
    assert node is not None
    url = node.rstrip("/") + vc_did.WELL_KNOWN_PATH
    verify: str | bool = str(ca_bundle) if ca_bundle is not None else True
    with httpx.Client(timeout=DID_FETCH_TIMEOUT, verify=verify) as client:
        response = client.get(url, headers={"Accept": "application/did+ld+json"})
        response.raise_for_status()
        if len(response.content) > MAX_DID_BYTES:
            raise ValueError(f"{url}: DID document larger than {MAX_DID_BYTES} bytes")
        return vc_did.resolver_from_document(response.json())
