"""Routing benchmark: LoopCost quotes per second, and batch allocation at federation scale.

Prints one Rich table measured in one run (figures and analysis in docs/performance.md):

1. LoopCost quotes per second in-process: `LoopCostService.quote` with explicit signals and
   distance (the formula and exact parsing), and with the node's own published signals (one
   read of the config in force from SQLite per quote);
2. the same quote over HTTP: `POST /api/v1/loopcost` against one `loopnode serve` worker on
   SQLite, one keep-alive client sending sequentially (latency-bound, not a saturation test);
3. batch allocation of LOTS lots against DEMANDS demands over NODES nodes and the 30 material
   categories (seeded random quantities 1-100, prices 1-1000 LC, signals 0-0.4): build (parse),
   solve (min-cost max-flow), write (the JSON answer to a file) and total time, the total
   LoopCost, local share and kilometres moved, next to greedy on the same input;
4. a dense 1,000 × 1,000 problem of one category over 100 nodes.

    python benchmarks/routing.py [--quick] [--seconds 3]

`--quick` shrinks the batch to 2,000 × 2,000 (the smoke test). Exit status 1 when the full
batch (build + solve + write) takes 10 s or more.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, init_node, node_server, scratch_dir

from loopnode.domain.allocation import greedy, parse_problem, solve
from loopnode.domain.signals import CATEGORIES

QUOTE = {
    "category": "organic-food",
    "base_price": Decimal(60),
    "origin_node": "munich.loop",
    "destination_node": "vienna.loop",
    "origin_signal": Decimal("0.40"),
    "destination_signal": Decimal("0.20"),
    "distance_km": Decimal(400),
}


def per_second(operation: Any, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(50):
            operation()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def in_process_quotes(seconds: float) -> tuple[float, float]:
    from loopnode.bootstrap import build
    from loopnode.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        container = build(load_settings(tmp, node_id="munich.loop"))
        try:
            cost = container.routing.cost
            explicit = per_second(lambda: cost.quote(dict(QUOTE)), seconds)
            own = {k: v for k, v in QUOTE.items() if k != "origin_signal"}
            own["destination_node"], own["destination_signal"] = "vienna.loop", Decimal("0.2")
            with_config = per_second(lambda: cost.quote(dict(own)), seconds)
        finally:
            container.close()
    return explicit, with_config


def http_quotes(seconds: float) -> float:
    with scratch_dir("bench-routing-") as data_dir:
        init_node(data_dir)
        port = free_port()
        with node_server(data_dir, port).start() as server:
            body = json.dumps(
                {k: str(v) if isinstance(v, Decimal) else v for k, v in QUOTE.items()}
            )
            headers = {"Content-Type": "application/json"}
            with httpx.Client(base_url=server.base) as client:
                for _ in range(200):
                    client.post("/api/v1/loopcost", content=body, headers=headers)
                return per_second(
                    lambda: client.post("/api/v1/loopcost", content=body, headers=headers),
                    seconds,
                )


def batch_input(lots: int, demands: int, nodes: int, categories: list[str], seed: int) -> Any:
    rng = random.Random(seed)
    node_list = [
        {
            "id": f"n{i:03d}.loop",
            "lat": rng.uniform(44, 56),
            "lon": rng.uniform(2, 22),
            "signals": {
                "default": rng.choice([0, 0.05, 0.1, 0.2]),
                **{
                    c: rng.choice([0, 0.1, 0.2, 0.4])
                    for c in rng.sample(categories, min(5, len(categories)))
                },
            },
        }
        for i in range(nodes)
    ]
    ids = [n["id"] for n in node_list]
    return {
        "nodes": node_list,
        "supplies": [
            {
                "id": f"s{i}",
                "node": rng.choice(ids),
                "category": rng.choice(categories),
                "quantity": rng.randint(1, 100),
                "base_price": rng.randint(100, 100_000) / 100,
            }
            for i in range(lots)
        ],
        "demands": [
            {
                "id": f"d{i}",
                "node": rng.choice(ids),
                "category": rng.choice(categories),
                "quantity": rng.randint(1, 100),
            }
            for i in range(demands)
        ],
    }


def run_batch(document: Any) -> dict[str, Any]:
    started = time.perf_counter()
    problem = parse_problem(document)
    built = time.perf_counter()
    best = solve(problem)
    solved = time.perf_counter()
    answer = {
        "allocations": [
            {
                "supply": a.supply,
                "demand": a.demand,
                "quantity": a.quantity,
                "loop_cost": str(a.loop_cost),
            }
            for a in best.allocations
        ],
        **best.summary(),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as out:
        json.dump(answer, out)
    written = time.perf_counter()
    g_started = time.perf_counter()
    baseline = greedy(problem)
    g_time = time.perf_counter() - g_started
    return {
        "build": built - started,
        "solve": solved - built,
        "write": written - solved,
        "total": written - started,
        "optimal": best.summary(),
        "greedy": baseline.summary(),
        "greedy_s": g_time,
        "exact": best.exact,
        "allocations": len(best.allocations),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    size = 2_000 if args.quick else 10_000
    seconds = 1.0 if args.quick else args.seconds
    console = Console()

    explicit, with_config = in_process_quotes(seconds)
    over_http = http_quotes(seconds)
    big = run_batch(batch_input(size, size, 100, sorted(CATEGORIES), seed=11))
    dense = run_batch(batch_input(1_000, 1_000, 100, ["organic-food"], seed=12))

    quotes = Table(title="LoopCost quotes")
    quotes.add_column("path")
    quotes.add_column("quotes/s", justify="right")
    quotes.add_row("in-process, signals and distance given", f"{explicit:,.0f}")
    quotes.add_row("in-process, own config from SQLite", f"{with_config:,.0f}")
    quotes.add_row("HTTP POST /loopcost, 1 worker, 1 sequential client", f"{over_http:,.0f}")
    console.print(quotes)

    batches = Table(title="Batch allocation: min-cost max-flow (optimal) vs greedy")
    batches.add_column("")
    for name in (f"{size:,} x {size:,} optimal", "greedy", "1,000 x 1,000 dense optimal", "greedy"):
        batches.add_column(name, justify="right")

    def pair(run: dict[str, Any], key: str) -> list[str]:
        return [str(run["optimal"][key]), str(run["greedy"][key])]

    batches.add_row("build s", f"{big['build']:.2f}", "", f"{dense['build']:.2f}", "")
    batches.add_row(
        "solve s",
        f"{big['solve']:.2f}",
        f"{big['greedy_s']:.2f}",
        f"{dense['solve']:.2f}",
        f"{dense['greedy_s']:.2f}",
    )
    batches.add_row("write s", f"{big['write']:.2f}", "", f"{dense['write']:.2f}", "")
    batches.add_row("build+solve+write s", f"{big['total']:.2f}", "", f"{dense['total']:.2f}", "")
    for key in ("total_loop_cost", "moved_quantity", "local_share", "km_moved"):
        batches.add_row(key, *pair(big, key), *pair(dense, key))
    batches.add_row("exact integer costs", str(big["exact"]), "", str(dense["exact"]), "")
    console.print(batches)
    moved = (big["optimal"]["moved_quantity"], big["greedy"]["moved_quantity"])
    console.print(f"quantity moved: optimal {moved[0]:,}, greedy {moved[1]:,}")
    if not args.quick and big["total"] >= 10:
        console.print(
            f"[red]the {size:,} x {size:,} batch took {big['total']:.1f} s (target < 10 s)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
