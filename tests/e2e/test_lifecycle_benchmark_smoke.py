"""`benchmarks/lifecycle.py --quick` runs end to end: a node per backend, 16 clients doing full
flows, the final check of every flow's evidence entries and states.

A smoke run only: it checks that no flow fails, that the check finds everything in place and
that the table is printed, never the figures (they depend on the machine and its other load).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, need_postgres
from tests.e2e.benchmark_runs import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "lifecycle.py"
COLUMNS = ("flows/s", "register", "offer", "match", "transfer", "CPU ms/flow", "check")

pytestmark = pytest.mark.slow


def run_quick(*extra: str) -> subprocess.CompletedProcess[str]:
    return run_benchmark(SCRIPT.name, "--quick", *extra, timeout=280)


def assert_table(result: subprocess.CompletedProcess[str], backend: str) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "loopnode lifecycle: full flows" in out
    assert "16 keep-alive clients" in out
    for column in COLUMNS:
        assert column in out
    (row,) = [line for line in out.splitlines() if line.startswith(f"│ {backend} ")]
    assert "✓ all in place" in row
    assert "reference backend" in out
    assert f"{backend} check: " in out
    assert "chain intact" in out


def test_the_quick_lifecycle_benchmark_on_sqlite_prints_the_table() -> None:
    assert_table(run_quick("--sqlite"), "SQLite")


@pytest.mark.postgres
def test_the_quick_lifecycle_benchmark_on_postgresql_prints_the_table() -> None:
    need_postgres()
    admin = POSTGRES_ADMIN_URL
    assert_table(run_quick("--postgres", "--postgres-url", admin), "PostgreSQL")
