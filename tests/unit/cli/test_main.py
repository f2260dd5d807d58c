"""First-run polish of the command line: --version, and help without value placeholders on flags."""

from __future__ import annotations

from typing import Any

import typer
from typer.main import get_command
from typer.testing import CliRunner

from loopnode import __version__
from loopnode.cli.main import app


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"loopnode {__version__}"


def test_no_help_page_shows_a_bool_placeholder() -> None:
    runner = CliRunner()
    paths = _command_paths(get_command(app))
    assert len(paths) > 20  # every command and group, not just the root
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=120)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path


def test_options_that_take_values_still_show_their_type() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=120)
    assert "<int>" in result.output
    assert isinstance(app, typer.Typer)


def test_serve_help_promises_tls_only_with_a_certificate() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert "plain HTTP" in result.output
    assert "--tls-cert" in result.output
