"""`benchmarks/clearing.py --quick` and `benchmarks/ledger.py --quick --sqlite` run end to end
and print their tables with the invariants intact (smoke runs: the figures are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_the_clearing_benchmark_verifies_every_size() -> None:
    done = run("clearing.py", "--quick")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("ok") >= 3


def test_the_ledger_benchmark_conserves_supply_under_load() -> None:
    done = run("ledger.py", "--quick", "--sqlite")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "POST /loopcoin/transfer" in done.stdout and "ok:" in done.stdout
