"""Clearing at scale: 100 and 1,000 nodes with 5 and 50 obligations per node.

For each size a random obligation graph is generated (seeded; amounts 1.00 to 10,000.00 between
distinct random node pairs), then:
- **solve**: `domain.clearing.clear` in-process (OR-Tools min-cost circulation);
- **end to end**: `loopnode clearing solve FILE --json` as a new process (interpreter start,
  imports, loading the file, solving, printing), then the invariants are verified on its output
  and the result written to a file: that whole chain is timed;
- the share cleared next to bilateral netting on the same input.

    python benchmarks/clearing.py [--quick] [--seed 7]

`--quick` runs the 100-node sizes and the smallest 1,000-node one only.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loopnode.domain.clearing import Obligation, bilateral_netting, clear, violations
from loopnode.domain.money import Money

SIZES = ((100, 5), (100, 50), (1000, 5), (1000, 50))


def graph(nodes: int, per_node: int, seed: int) -> list[Obligation]:
    rng = random.Random(seed)
    names = [f"n{i:04d}.loop" for i in range(nodes)]
    found = []
    for debtor in names:
        for _ in range(per_node):
            creditor = rng.choice(names)
            while creditor == debtor:
                creditor = rng.choice(names)
            found.append(Obligation(debtor, creditor, rng.randint(100, 1_000_000)))
    return found


def end_to_end(obligations: list[Obligation], work: Path) -> tuple[float, bool]:
    source, target = work / "obligations.json", work / "cleared.json"
    source.write_text(
        json.dumps(
            {
                "obligations": [
                    {
                        "id": str(i),
                        "debtor": o.debtor,
                        "creditor": o.creditor,
                        "amount": str(Money(o.cents)),
                    }
                    for i, o in enumerate(obligations)
                ]
            }
        )
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "loopnode.cli", "clearing", "solve", str(source), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout)
    remaining = [
        Obligation(r["debtor"], r["creditor"], Money.parse(r["amount"]).cents)
        for r in answer["remaining"]
    ]
    valid = not violations(obligations, remaining)
    target.write_text(done.stdout)
    return time.perf_counter() - started, valid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = SIZES[:3] if args.quick else SIZES
    table = Table(title="Multilateral clearing (OR-Tools SimpleMinCostFlow, integer cents)")
    for column in (
        "nodes",
        "obligations",
        "solve ms",
        "end to end ms",
        "invariants",
        "cleared",
        "bilateral netting",
    ):
        table.add_column(column)
    failed = False
    with tempfile.TemporaryDirectory(prefix="loopnode-clearing-") as scratch:
        for nodes, per_node in sizes:
            obligations = graph(nodes, per_node, args.seed)
            started = time.perf_counter()
            result = clear(obligations)
            solve_ms = (time.perf_counter() - started) * 1000
            e2e, valid = end_to_end(obligations, Path(scratch))
            failed |= not valid
            netted = bilateral_netting(obligations)
            table.add_row(
                str(nodes),
                f"{len(obligations):,}",
                f"{solve_ms:,.1f}",
                f"{e2e * 1000:,.0f}",
                "ok" if valid else "BROKEN",
                f"{100 * result.share:.1f} %",
                f"{100 * netted / result.total_cents:.1f} %",
            )
    Console(width=120).print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
