"""`benchmarks/relay.py --quick --sqlite` runs end to end: materials loaded, the relay run until
idle, every material announced once and queued once per peer (the script exits 1 otherwise).
A smoke run: the timings are never checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.benchmark_runs import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_relay_benchmark_runs() -> None:
    result = run_benchmark("relay.py", "--quick", "--sqlite")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "federation relay" in result.stdout
    assert "400 in 2" in result.stdout and "1,200" in result.stdout
