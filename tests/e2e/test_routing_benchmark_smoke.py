"""`benchmarks/routing.py --quick` runs end to end (quotes in-process and over HTTP, batches).

A smoke run: it checks that every table is printed and that the optimum moved as much as greedy,
never the timings (they depend on the machine and on what else runs on it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.benchmark_runs import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_routing_benchmark_runs() -> None:
    result = run_benchmark("routing.py", "--quick")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "LoopCost quotes" in result.stdout and "Batch allocation" in result.stdout
    moved = re.search(r"quantity moved: optimal ([\d,]+), greedy ([\d,]+)", result.stdout)
    assert moved is not None and moved.group(1) == moved.group(2)
