"""`benchmarks/compare.py` runs end to end against loopnode (no reference backend needed).

A smoke run only: every scenario answers without errors, the flows' evidence check passes and
the table is printed; never the figures. The load client (`load.py`) lives outside the
repository (../shared/bench/refbackend/); without it the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "compare.py"
LOAD_CLIENT = Path(
    os.environ.get(
        "LOOPNODE_LOAD_CLIENT", ROOT.parent / "shared" / "bench" / "refbackend" / "load.py"
    )
)

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not LOAD_CLIENT.is_file(), reason="no load.py (set BENCH_LOAD_CLIENT)")
def test_the_comparison_runs_on_sqlite_without_the_reference() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    argv = [sys.executable, str(SCRIPT), "--no-reference", "--sqlite-only"]
    argv += ["--records", "500", "--seconds", "1", "--warmup", "0.5"]
    argv += ["--load-client", str(LOAD_CLIENT), "--load-generator", "python"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for label in ("POST /api/v1/material", "GET /api/v1/material/{id}", "flow", "search"):
        assert label in result.stdout
    assert "sqlite check: OK" in result.stdout
    assert "chain intact" in result.stdout
