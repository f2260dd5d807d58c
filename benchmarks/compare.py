"""loopnode next to the reference backend, one load client, one run: the Goals table of issue 12.

Theory of operation. The issue's goals are ratios against the public reference backend
(`local-loop-io/localloop-backend`, Bun/Fastify/PostgreSQL) measured with the same load client
on the same machine in the same run. This script:

1. measures the reference backend (already running at `--reference-url`; start it with
   `../shared/bench/refbackend/setup-and-run.sh all`) with `load.py --dialect backend` for the
   `get`, `post-material` and `flow` scenarios, 32 keep-alive connections; again after each
   loopnode node, so that each node's ratio is against the mean of the two reference passes
   around it (a shared machine's speed drifts by tens of per cent within minutes; the passes
   are printed, so the drift shows);
2. builds a loopnode node on SQLite (one worker, pinned to core 0) and one on a fresh PostgreSQL
   database (two workers, not pinned), each holding `--records` stored materials (100,000 by
   default, loaded through the storage layer like `registry.py` does), and measures each with
   the search (category `plastic-pet`, 100 km) with the harness's load generator (wrk, or its
   asyncio client) over the seeded records, then with `load.py --dialect protocol --api-key
   KEY` for the same three scenarios;
3. checks every loopnode flow afterwards (`lifecycle.check_flows`: its evidence entries, the
   states, `loopnode evidence verify`);
4. prints the ratio table of the Goals with req/s, p99 and the server's CPU µs per request
   (process tree: uvicorn's workers included; for the reference, the Bun process only — its
   PostgreSQL is not counted, ours is not counted either).

The load client is `load.py` (stdlib only); `--load-client PATH` names it, by default
`../shared/bench/refbackend/load.py` next to the repository when it exists. Nothing here needs
that folder at test time. The federation relay is off in the measured nodes by default
(`federation_worker = false`): the reference backend federates nothing, and with it on a node
first signs an announcement for every stored material (minutes for 100,000 on PostgreSQL).
`--relay` keeps it on and waits until the node is idle before measuring.

The exit status is 1 if any loopnode scenario saw an error or the flow check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    LOAD_CORE,
    LOOPNODE,
    NODE_CORE,
    Server,
    clean_env,
    free_port,
    init_node,
    loopnode,
    machine_busy,
    pinned,
    postgres_activity,
    postgres_database,
    run_load,
    scratch_dir,
    wrk_available,
)
from lifecycle import EXPECTED_EVIDENCE, _evidence_by_subject, _pages
from registry import STORED_PREFIX, load_materials, search_load

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOAD_CLIENT = ROOT.parent / "shared" / "bench" / "refbackend" / "load.py"
SEEDED = 200  # load.py --seed default: POSTs before the get scenario
SCENARIOS = ("post-material", "get", "flow")
LABELS = {
    "post-material": "POST /api/v1/material",
    "get": "GET /api/v1/material/{id}",
    "flow": "flow material→offer→match→transfer",
    "search": "search category + 100 km",
}
# The goals: ratio to the reference (or q/s for search), per configuration.
GOALS = {
    "sqlite": {"post-material": 2.0, "get": 1.75, "flow": 1.5, "search": 500.0},
    "postgres": {"post-material": 1.0, "get": 1.0, "flow": 1.0, "search": 500.0},
}
console = Console(stderr=True)


@dataclass
class Cell:
    rate: float  # ok/s (flows/s for flow)
    p99_ms: float
    errors: int
    cpu_us: float  # server CPU µs per request (per flow for flow)


# -- process CPU --------------------------------------------------------------------------------
def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its living descendants (Linux /proc)."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:`port` (via /proc/net/tcp inodes)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


# -- load.py --------------------------------------------------------------------------------------
def run_load_client(
    client: Path, base: str, scenario: str, args: Any, work: Path, *extra: str
) -> dict[str, Any]:
    out = work / f"load-{scenario}-{time.monotonic_ns()}.json"
    argv = [sys.executable, str(client), "--base-url", base, "--scenario", scenario]
    argv += ["--concurrency", str(args.connections), "--duration", str(args.seconds)]
    argv += ["--warmup", str(args.warmup), "--json", str(out), *extra]
    subprocess.run(argv, check=True, capture_output=True, preexec_fn=pinned(LOAD_CORE), timeout=600)
    result: dict[str, Any] = json.loads(out.read_text())["results"][0]
    return result


def measure_with_client(
    pid: int, client: Path, base: str, scenario: str, args: Any, work: Path, *extra: str
) -> Cell:
    """One load.py scenario; CPU is the server's over the whole call (warm-up and the get
    scenario's seeding included), divided by every request the server answered in it."""
    before = tree_cpu_seconds(pid)
    result = run_load_client(client, base, scenario, args, work, *extra)
    cpu = tree_cpu_seconds(pid) - before
    main = result["endpoints"][-1]  # the flow row for `flow`, the only row otherwise
    # The CPU covers the warm-up (and the get scenario's 200 seeding POSTs) too: count the
    # requests of the warm-up at the measured rate.
    window = result["duration_s"]
    answered = main["requests"] * (window + args.warmup) / window
    answered += SEEDED if scenario == "get" else 0
    per = cpu / max(answered, 1) * 1e6
    errors = main["non_2xx"] + main["transport_errors"]
    return Cell(main["ok_per_s"] or 0.0, main["lat_ms"]["p99"] or 0.0, errors, per)


# -- loopnode nodes -------------------------------------------------------------------------------
def start_node(data_dir: Path, workers: int, pin: bool) -> Server:
    port = free_port()
    argv = [*LOOPNODE, "serve", "--data-dir", str(data_dir), "--port", str(port)]
    argv += ["--workers", str(workers)]
    server = Server("loopnode serve", argv, port, "/api/v1/node/info", data_dir / "serve.log")
    if pin:
        return server.start()
    with server.log.open("ab") as log:
        server.process = subprocess.Popen(argv, env=clean_env(), stdout=log, stderr=log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            import urllib.request

            with urllib.request.urlopen(server.base + "/api/v1/node/info", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError("node did not start")


def _verify(data_dir: Path) -> str:
    """`loopnode evidence verify`, where the stored materials the run seeded straight into the
    table (no evidence entries: `load_materials`) are the only records it may name."""
    output = loopnode(
        "evidence", "verify", "--data-dir", str(data_dir), exit_codes=(0, 1), timeout=600
    )
    lines = output.strip().splitlines()
    if lines and lines[-1].startswith("OK"):
        return lines[-1]
    seeded = f"RECORD material {STORED_PREFIX}L"
    other = [line for line in lines if not line.startswith(seeded)]
    if other or not lines:
        return "; ".join(other[:5]) or "no output"
    return f"OK: chain intact, every record bound but the {len(lines):,} seeded ones"


def measure_node(
    label: str, work: Path, database_url: str | None, workers: int, args: Any, client: Path
) -> tuple[dict[str, Cell], str]:
    data_dir = work / label
    key = init_node(data_dir, database_url)
    if not args.relay:
        with (data_dir / "loopnode.toml").open("a") as settings:
            settings.write("federation_worker = false\n")
    console.print(f"{label}: loading {args.records:,} materials ...")
    console.print(f"{label}:   {load_materials(data_dir, args.records):,.0f} rows/s")
    cells: dict[str, Cell] = {}
    node = start_node(data_dir, workers, pin=workers == 1)
    try:
        assert node.process is not None
        if args.relay:
            activity = postgres_activity(database_url) if database_url else None
            waited = node.wait_idle(timeout=900, activity=activity)
            console.print(f"{label}:   idle after {waited:.0f} s (federation relay)")
        pid = node.process.pid
        batching: list[str] = []
        # Search first, over the seeded records alone: every POST of the other scenarios adds a
        # plastic-pet material at the node (load.py's example 01), inside the search's radius.
        console.print(f"{label}: search ...")
        load = search_load().with_(connections=args.connections)
        run_load(node.base, load, args.warmup, args.tool)
        before = tree_cpu_seconds(pid)
        result = run_load(node.base, load, args.seconds, args.tool)
        cpu = tree_cpu_seconds(pid) - before
        cells["search"] = Cell(
            result.rate, result.p99_ms, result.errors, cpu / max(result.requests, 1) * 1e6
        )
        for scenario in SCENARIOS:
            console.print(f"{label}: {scenario} ...")
            extra = ("--dialect", "protocol", "--api-key", key)
            batched_before = write_batches(node.base)
            cells[scenario] = measure_with_client(
                pid, client, node.base, scenario, args, work, *extra
            )
            # /metrics is per worker: with several, two reads may come from different workers.
            batches, writes = (
                a - b for a, b in zip(write_batches(node.base), batched_before, strict=True)
            )
            if batches and workers == 1:
                mean = writes / batches
                batching.append(f"{scenario} {writes:,.0f} in {batches:,.0f} ({mean:.1f})")
        console.print(f"{label}: checking the flows' evidence ...")
        problems, summary = check_flows_load(node.base, key)
    finally:
        node.stop()
    verify = _verify(data_dir)
    if not verify.startswith("OK"):
        problems.append(f"loopnode evidence verify: {verify}")
    summary += f"; {verify}"
    if batching:
        summary += "; writes in group-commit batches (mean size): " + ", ".join(batching)
    verdict = "OK: " if not problems else "FAILED: " + "; ".join(problems[:5]) + "; "
    return cells, verdict + summary


def write_batches(base: str) -> tuple[float, float]:
    """(batches, writes) the group commit of the worker answering has run (its /metrics)."""
    found = {"loopnode_write_batches": 0.0, "loopnode_batched_writes": 0.0}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["loopnode_write_batches"], found["loopnode_batched_writes"]


def check_flows_load(base: str, key: str) -> tuple[list[str], str]:
    """What every load.py flow left behind, found through the listings (load.py's ids are its
    own): each transfer `completed` with its three evidence entries, the match it names
    `accepted` with its two, the offer `reserved` or `withdrawn` with its own; the chain is
    checked by `loopnode evidence verify` afterwards."""
    headers = {"Authorization": f"Bearer {key}"}
    bad: Counter[str] = Counter()
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        evidence = _evidence_by_subject(http)
        transfers = {d["id"]: d for d in _pages(http, "/api/v1/transfer")}
        matches = {d["id"]: d for d in _pages(http, "/api/v1/match")}
        offers = {d["id"]: d for d in _pages(http, "/api/v1/offer")}
    for transfer in transfers.values():
        match = matches.get(transfer["match_id"])
        if transfer.get("status") != "completed":
            bad["transfer not completed"] += 1
        if evidence.get(transfer["id"]) != EXPECTED_EVIDENCE["transfer"]:
            bad["evidence of the transfer"] += 1
        if match is None or match.get("status") != "accepted":
            bad["match missing or not accepted"] += 1
            continue
        if evidence.get(match["id"]) != EXPECTED_EVIDENCE["match"]:
            bad["evidence of the match"] += 1
        if match["offer_id"] not in offers or not evidence.get(match["offer_id"]):
            bad["offer missing or without evidence"] += 1
    entries = sum(len(v) for v in evidence.values())
    summary = f"{len(transfers):,} completed flows checked, {entries:,} evidence entries"
    return [f"{count} flows: {what}" for what, count in sorted(bad.items())], summary


# -- the table ------------------------------------------------------------------------------------
def mean_cell(cells: list[Cell]) -> Cell:
    count = len(cells)
    return Cell(
        sum(c.rate for c in cells) / count,
        sum(c.p99_ms for c in cells) / count,
        sum(c.errors for c in cells),
        sum(c.cpu_us for c in cells) / count,
    )


def bracketed(passes: list[dict[str, Cell]], index: int) -> dict[str, Cell]:
    """The reference for the `index`-th node: the mean of the passes before and after it."""
    around = [p for p in passes[index : index + 2] if p]
    return {s: mean_cell([p[s] for p in around]) for s in SCENARIOS if around}


def passes_line(passes: list[dict[str, Cell]], configs: list[str]) -> str:
    names = ["before " + LABELS_SHORT[configs[0]]] if configs else []
    names += [f"after {LABELS_SHORT[c]}" for c in configs]
    rates = "; ".join(
        f"{scenario} " + " / ".join(f"{p[scenario].rate:,.0f}" for p in passes)
        for scenario in SCENARIOS
    )
    return (
        f"reference passes ({', '.join(names[: len(passes)])}): {rates}; the reference columns "
        "show their mean, each node's ratio is against the two passes around it"
    )


LABELS_SHORT = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
OTHER = {"sqlite": "postgres", "postgres": "sqlite"}  # `--X_only` that leaves this one out


def table(
    reference: dict[str, Cell],
    nodes: dict[str, dict[str, Cell]],
    per_node: dict[str, dict[str, Cell]] | None = None,
) -> Table:
    title = (
        f"loopnode vs the reference backend, {ARGS.connections} keep-alive connections, "
        f"{ARGS.seconds:g} s after {ARGS.warmup:g} s warm-up, {ARGS.records:,} stored materials"
    )
    grid = Table(title=title, box=None, title_justify="left", pad_edge=False)
    for column in (
        "scenario",
        "reference req/s",
        "p99 ms",
        "CPU µs/req",
        "SQLite×1 req/s",
        "p99 ms",
        "CPU µs/req",
        "÷ ref",
        "goal",
        "PG×2 req/s",
        "p99 ms",
        "CPU µs/req",
        "÷ ref",
        "goal",
    ):
        grid.add_column(column, justify="left" if column == "scenario" else "right")
    for scenario in (*SCENARIOS, "search"):
        ref = reference.get(scenario)
        row = [LABELS[scenario]]
        row += [f"{ref.rate:,.0f}", f"{ref.p99_ms:.1f}", f"{ref.cpu_us:,.0f}"] if ref else ["—"] * 3
        for config in ("sqlite", "postgres"):
            cell = nodes.get(config, {}).get(scenario)
            if cell is None:
                row += ["—"] * 5
                continue
            goal = GOALS[config][scenario]
            if scenario == "search":
                ratio, ok = "", cell.rate >= goal
                goal_text = f"≥{goal:.0f} q/s"
            else:
                base = (per_node or {}).get(config, {}).get(scenario, ref)
                value = cell.rate / base.rate if base and base.rate else 0.0
                ratio, ok, goal_text = f"{value:.2f}", value >= goal, f"≥{goal:g}×"
            row += [
                f"{cell.rate:,.0f}" + (f" ({cell.errors} err)" if cell.errors else ""),
                f"{cell.p99_ms:.1f}",
                f"{cell.cpu_us:,.0f}",
                ratio,
                ("✓ " if ok else "✗ ") + goal_text,
            ]
        grid.add_row(*row)
    return grid


ARGS: Any = None


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-url", default="http://127.0.0.1:8088")
    parser.add_argument("--no-reference", action="store_true", help="measure loopnode only")
    parser.add_argument("--load-client", type=Path, default=DEFAULT_LOAD_CLIENT)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--relay", action="store_true", help="keep the federation relay on")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--load-generator", dest="tool", choices=["wrk", "python"])
    args = ARGS = parser.parse_args()
    args.tool = args.tool or ("wrk" if wrk_available() else "python")
    client: Path = args.load_client
    if not client.is_file():
        console.print(f"no load client at {client}; pass --load-client PATH (load.py)")
        return 2
    passes: list[dict[str, Cell]] = []
    nodes: dict[str, dict[str, Cell]] = {}
    checks: list[str] = []
    busy_before = machine_busy(1.0)
    configs = [c for c in ("sqlite", "postgres") if not getattr(args, f"{OTHER[c]}_only")]
    with scratch_dir("loopnode-compare-") as work:
        pid = None
        if not args.no_reference:
            pid = listening_pid(int(args.reference_url.rsplit(":", 1)[1].split("/")[0]))
            if pid is None:
                console.print(f"nothing listens at {args.reference_url}; see --help")
                return 2

        def reference_pass() -> None:
            if pid is None:
                return
            found: dict[str, Cell] = {}
            for scenario in SCENARIOS:
                console.print(f"reference (pass {len(passes) + 1}): {scenario} ...")
                found[scenario] = measure_with_client(
                    pid, client, args.reference_url, scenario, args, work
                )
            passes.append(found)

        reference_pass()
        for name in configs:
            if name == "sqlite":
                nodes[name], check = measure_node(name, work, None, 1, args, client)
            else:
                with postgres_database(args.postgres_url) as url:
                    nodes[name], check = measure_node(name, work, url, 2, args, client)
            checks.append(f"{name} check: {check}")
            reference_pass()
    reference = {s: mean_cell([p[s] for p in passes]) for s in SCENARIOS} if passes else {}
    per_node = {name: bracketed(passes, index) for index, name in enumerate(configs)}
    out = Console(width=240)
    out.print(table(reference, nodes, per_node))
    if passes:
        out.print(passes_line(passes, configs))
    for line in checks:
        out.print(line)
    out.print(
        f"load client: {client.name} on core {LOAD_CORE} (SQLite node on core {NODE_CORE}; "
        f"PostgreSQL node and reference unpinned); search load: {args.tool}; "
        f"relay {'on' if args.relay else 'off'}; machine busy before start "
        f"{busy_before:.0%}"
    )
    failed = any(c.errors for cells in nodes.values() for c in cells.values())
    failed |= any("FAILED" in line for line in checks)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
