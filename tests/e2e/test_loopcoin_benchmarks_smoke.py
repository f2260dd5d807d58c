"""`benchmarks/clearing.py --quick` and `benchmarks/ledger.py --quick --sqlite` run end to end
and print their tables with the invariants intact (smoke runs: the figures are not checked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.benchmark_runs import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_benchmark(script, *args)


def test_the_clearing_benchmark_verifies_every_size() -> None:
    done = run("clearing.py", "--quick")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("ok") >= 3


def test_the_ledger_benchmark_conserves_supply_under_load() -> None:
    done = run("ledger.py", "--quick", "--sqlite")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "POST /loopcoin/transfer" in done.stdout and "ok:" in done.stdout
