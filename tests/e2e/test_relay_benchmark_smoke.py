"""`benchmarks/relay.py --quick --sqlite` runs end to end: materials loaded, the relay run until
idle, every material announced once and queued once per peer (the script exits 1 otherwise).
A smoke run: the timings are never checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_relay_benchmark_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "relay.py"), "--quick", "--sqlite"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "federation relay" in result.stdout
    assert "400 in 2" in result.stdout and "1,200" in result.stdout
