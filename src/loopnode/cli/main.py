"""The `loopnode` command: one Typer app, each command group in its own module."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import Annotated, Any

import typer
from typer.core import TyperOption

import loopnode
from loopnode.cli import (
    clearing_cmd,
    conformance_cmd,
    coredp_cmd,
    demo_cmd,
    evidence_cmd,
    federation_cmd,
    lint_cmd,
    node_cmd,
    ops_cmd,
    route_cmd,
    token_cmd,
    validate_cmd,
    vc_cmd,
)
from loopnode.cli.startup import database_errors

app = typer.Typer(
    name="loopnode",
    help="A node for LOOP, the Local Optimization with Overflow Protocol.",
    no_args_is_help=True,
    add_completion=False,
)


def package_version() -> str:
    try:
        return installed_version("loopnode")
    except PackageNotFoundError:  # running from a source tree without an install
        return loopnode.__version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loopnode {package_version()}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """A node for LOOP, the Local Optimization with Overflow Protocol."""


def _flag_without_placeholder(self: TyperOption, ctx: Any) -> str | None:
    """Typer 0.29 labels every flag `<bool>` in help; a flag takes no value, so show none."""
    if self.is_flag:
        return None
    return _typed_placeholder(self, ctx)


_typed_placeholder = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_without_placeholder  # type: ignore[method-assign]

for module in (
    node_cmd,
    validate_cmd,
    conformance_cmd,
    federation_cmd,
    coredp_cmd,
    demo_cmd,
    vc_cmd,
    lint_cmd,
    ops_cmd,
    evidence_cmd,
    route_cmd,
    token_cmd,
):
    module.register(app)
clearing_cmd.register(app)


def main() -> None:
    with database_errors():
        app()
