"""`loopnode demo --once --report FILE`: three real nodes run the §12.1 story, every node agrees.

The expected numbers come from the spec, worked by hand, never from the code under test:
- §12.1 step 3: base 60, Munich's export signal 0.40 (+24), Vienna's import signal 0.20 (+12),
  400 km × 0.02 (+8): Vienna's LoopCost is 104;
- §12.1 step 5: Berlin's is 103, the local farm's 50, and the lowest LoopCost is selected
  (`lowest_loop_cost`): the farm (§7.2: a local trade pays the base price only, Munich's 50);
- §7.4 / DECISIONS 13: the settlement of the Vienna trade pays 104 = 60 seller + 24 origin fund
  + 12 destination fund + 8 transport;
- the clearing cycle: Munich owes Berlin 80 + 4 + 10 = 94 (textiles, base 80, both signals
  `default` 0.05, 500 km), Berlin owes Vienna 50 + 2.50 + 13.60 = 66.10 (paper, base 50,
  680 km), Vienna owes Munich 104 − 12 = 92 (what stays with the seller's side); the most a
  cycle can set off is three times its smallest edge: 198.30 of 252.10; bilateral netting
  alone clears nothing (no pair owes both ways).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_once_runs_the_story_and_every_node_agrees_with_its_report(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "loopnode.cli", "demo", "--once"]
    command += ["--dir", str(tmp_path / "demo"), "--report", str(report_path)]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    output = result.stdout
    assert result.returncode == 0, output[-3000:] + result.stderr[-3000:]
    assert "the end state is as expected on every node" in output
    assert "searched berlin.loop, munich.loop, vienna.loop" in output
    # The dashboards are announced before the story starts.
    assert output.index("dashboard: https://127.0.0.1:") < output.index("peering Munich")
    assert "first dashboard reachable after" in output

    report = json.loads(report_path.read_text())
    assert set(report) == {"selection", "trades", "clearing"}
    selection = report["selection"]
    assert sorted(selection["candidates"], key=lambda c: c["node"]) == [
        {"node": "berlin.loop", "loop_cost": "103.00"},
        {"node": "munich.loop", "loop_cost": "50.00"},
        {"node": "vienna.loop", "loop_cost": "104.00"},
    ]
    assert selection["selected"] == {"node": "munich.loop", "loop_cost": "50.00"}

    trades = {(t["origin_node"], t["destination_node"]): t for t in report["trades"]}
    assert len(trades) == len(report["trades"]) == 4
    for trade in report["trades"]:
        assert set(trade) == {
            "material_id",
            "origin_node",
            "destination_node",
            "loop_cost",
            "settlement",
        }
    local = trades[("munich.loop", "munich.loop")]
    assert local["loop_cost"] == "50.00"
    assert local["settlement"] == {
        "paid": "50.00",
        "seller": "50.00",
        "origin_fund": "0.00",
        "destination_fund": "0.00",
        "transport": "0.00",
    }
    overflow = trades[("munich.loop", "vienna.loop")]
    assert overflow["loop_cost"] == "104.00"
    assert overflow["settlement"] == {
        "paid": "104.00",
        "seller": "60.00",
        "origin_fund": "24.00",
        "destination_fund": "12.00",
        "transport": "8.00",
    }
    assert overflow["material_id"] != local["material_id"]
    assert trades[("berlin.loop", "munich.loop")]["loop_cost"] == "98.00"
    assert trades[("vienna.loop", "berlin.loop")]["loop_cost"] == "68.60"

    clearing = report["clearing"]
    owed = {(o["debtor"], o["creditor"]): o["amount"] for o in clearing["obligations"]}
    assert owed == {
        ("vienna.loop", "munich.loop"): "92.00",
        ("munich.loop", "berlin.loop"): "94.00",
        ("berlin.loop", "vienna.loop"): "66.10",
    }
    assert (clearing["cleared"], clearing["total"]) == ("198.30", "252.10")
    assert clearing["bilateral_netting"] == "0.00"
    assert clearing["participants"] == ["berlin.loop", "munich.loop", "vienna.loop"]
    left = {(o["debtor"], o["creditor"]): o["amount"] for o in clearing["remaining"]}
    assert left == {
        ("vienna.loop", "munich.loop"): "25.90",
        ("munich.loop", "berlin.loop"): "27.90",
    }
