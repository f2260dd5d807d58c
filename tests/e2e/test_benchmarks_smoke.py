"""`benchmarks/registry.py --quick` runs end to end: a node, the bare ceiling, the load generator.

A smoke run only: it checks that every scenario answers without errors and that the table is
printed, never the figures (they depend on the machine and on what else runs on it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.benchmark_runs import run_benchmark
from tests.reference import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "registry.py"
SCENARIOS = ("POST /material", "GET /material/{id}", "search plastic-pet", "bare: parse+validate")

pytestmark = pytest.mark.slow


def run_quick(*extra: str) -> subprocess.CompletedProcess[str]:
    return run_benchmark(SCRIPT.name, "--quick", *extra)


def assert_table(result: subprocess.CompletedProcess[str], tool: str) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "loopnode registry, one worker on SQLite" in result.stdout
    for scenario in SCENARIOS:
        assert scenario in result.stdout
    assert f"load generator: {tool}" in result.stdout


def test_the_quick_benchmark_prints_the_table_with_the_python_load_generator() -> None:
    assert_table(run_quick("--load-generator", "python"), "python")


def test_the_quick_benchmark_prints_the_table_with_wrk() -> None:
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed (apt-get install wrk)")
    assert_table(run_quick("--load-generator", "wrk"), "wrk")
