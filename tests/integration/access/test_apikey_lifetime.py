"""API keys live 30 days unless asked otherwise (issue 15), from the service and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loopnode.cli.main import app
from loopnode.domain.errors import Unauthorized


def test_a_key_expires_after_thirty_days_by_default(container: Any, clock: Any) -> None:
    issued = container.api_keys.create("ops")
    clock.advance(days=29)
    assert container.api_keys.authenticate(issued.secret).name == "apikey:ops"
    clock.advance(days=1, seconds=1)
    with pytest.raises(Unauthorized):
        container.api_keys.authenticate(issued.secret)


def test_the_cli_default_is_the_settings_default(tmp_path: Path) -> None:
    runner = CliRunner()
    init = ["init", "--data-dir", str(tmp_path), "--node-id", "munich.loop", "--name", "Munich"]
    init += ["--country", "DE", "--city-code", "MUC", "--city", "Munich"]
    init += ["--lat", "48.1", "--lon", "11.5"]
    assert runner.invoke(app, init).exit_code == 0
    created = runner.invoke(app, ["apikey", "create", "--data-dir", str(tmp_path), "ops"])
    assert created.exit_code == 0, created.output
    expires = created.output.split(" expires ", 1)[1].split()[0]
    lifetime = datetime.fromisoformat(expires) - datetime.now(
        datetime.fromisoformat(expires).tzinfo
    )
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
