"""`loopnode conformance`: run a LOOP conformance-vector file against this node's rules.

Prints `PASS <id>` / `FAIL <id>` per vector (`SKIP <id>` when a vector names a semantic check
this node does not implement), or with `--json` one JSON list of
`{"id", "expected", "verdict", "failures"}`. Exit status: 0 all good, 1 any wrong verdict,
2 the vector file or trust store cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loopnode.protocol.conformance import VectorFileError, run_vector_file


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `loopnode` app."""
    app.command("conformance")(conformance)


def conformance(
    vectors: Annotated[
        Path, typer.Argument(metavar="VECTORS.json", help="A {suite, vectors[]} file.")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON list of results instead of lines.")
    ] = False,
    trust_store: Annotated[
        Path | None,
        typer.Option(
            "--trust-store",
            metavar="FILE",
            help="Core-dp trust store (default: the one shipped with the vectors).",
        ),
    ] = None,
) -> None:
    """Check every vector's verdict (and declared failure reason) against this node."""
    try:
        results = run_vector_file(vectors, trust_store)
    except VectorFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if json_output:
        typer.echo(json.dumps([result.as_dict() for result in results], ensure_ascii=False))
    else:
        for result in results:
            typer.echo(f"{result.status.upper()} {result.id}")
            if result.status == "fail":
                typer.echo(f"  {result.id}: {result.reason}", err=True)
    if any(result.status == "fail" for result in results):
        raise typer.Exit(1)
