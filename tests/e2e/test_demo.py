"""`loopnode demo --once`: three real nodes run the §12.1 story and the end state is checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_once_runs_the_story_and_checks_every_node(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    result = subprocess.run(
        [sys.executable, "-m", "loopnode.cli", "demo", "--once", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the end state is as expected on every node" in result.stdout
    assert "searched berlin.loop, munich.loop, vienna.loop" in result.stdout
