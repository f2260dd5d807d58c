"""Schemathesis against the node's own /openapi.json (issue 15 item 8): the in-process ASGI
app, a fixed seed, derandomized, bounded examples per operation, with the checks
not_a_server_error, response_schema_conformance and status_code_conformance: every answer,
error answers included, must be what the document says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from typer.testing import CliRunner

from loopnode.cli.main import app as cli
from loopnode.web.app import create_app

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = 12
SKIP = {"/api/v1/stream"}  # server-sent events: an answer that never ends


@pytest.fixture
def fuzzed_app(tmp_path: Path, reference_dir: Path, database_url: str) -> Iterator[tuple[Any, str]]:
    data_dir = tmp_path / "fuzz-node"
    init = ["init", "--data-dir", str(data_dir), "--node-id", "munich.loop", "--name", "Munich"]
    init += ["--country", "DE", "--city-code", "MUC", "--city", "Munich"]
    init += ["--lat", "48.1", "--lon", "11.5", "--base-url", "https://munich.example"]
    assert CliRunner().invoke(cli, init).exit_code == 0
    from loopnode.config import load_settings

    settings = load_settings(
        data_dir, database_url=database_url, rate_limits=False, federation_worker=False
    )
    application = create_app(settings)
    container = application.state.container
    key = container.api_keys.create("fuzz").secret
    for name, kind in (
        ("01-material-registration", "material"),
        ("12-material-dna-dpp-extensions", "material"),
    ):
        example = json.loads((reference_dir / "examples" / f"{name}.json").read_text())
        container.registry.register(kind, example, "fuzz")  # lists and reads are not all empty
    yield application, key
    application.state.container.close()


def _operations(application: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", application)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in SKIP:
            found.append(operation)
    return found


@pytest.mark.parametrize("credential", [True, False], ids=["operator", "anonymous"])
def test_the_api_answers_as_its_openapi_document_says(
    fuzzed_app: tuple[Any, str], credential: bool
) -> None:
    application, key = fuzzed_app
    failures: list[str] = []
    operations = _operations(application)
    assert len(operations) > 50
    for operation in operations:

        @seed(20261206)
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            if credential:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except BaseException as exc:  # collect every operation's failure
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:400]}")
    assert failures == [], "\n\n".join(failures)
