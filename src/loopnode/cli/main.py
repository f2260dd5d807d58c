"""The `loopnode` command: one Typer app, each command group in its own module."""

from __future__ import annotations

import typer

from loopnode.cli import (
    clearing_cmd,
    conformance_cmd,
    coredp_cmd,
    demo_cmd,
    federation_cmd,
    node_cmd,
    validate_cmd,
)

app = typer.Typer(
    name="loopnode",
    help="A node for LOOP, the Local Optimization with Overflow Protocol.",
    no_args_is_help=True,
    add_completion=False,
)

for module in (node_cmd, validate_cmd, conformance_cmd, federation_cmd, coredp_cmd, demo_cmd):
    module.register(app)
clearing_cmd.register(app)


def main() -> None:
    app()
