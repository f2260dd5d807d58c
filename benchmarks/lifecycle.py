"""Full exchange flows per second through one `loopnode serve` worker, on SQLite and PostgreSQL.

A flow is four POSTs in sequence on one keep-alive connection, each 201 before the next goes:

1. `POST /api/v1/material`  a MaterialDNA (1000 kg in Munich, with a location);
2. `POST /api/v1/offer`     an open Offer of the whole 1000 kg to Berlin;
3. `POST /api/v1/match`     a Match created `accepted` (reserves the offer);
4. `POST /api/v1/transfer`  a Transfer created `completed` (moves the record to Berlin and
                            closes the offer as fulfilled).

16 clients (asyncio, raw streams, uvloop when present, in their own process pinned to the load
core; the node is pinned to the other, see `_harness`) run flows back to back for a fixed time
after a warm-up; ids are chosen by the client (flow `n` → `…F{n:07d}`). The table gives complete
flows per second, p50/p99 latency of each call and of the whole flow, the node's CPU time per
flow, the ratio to the reference backend and the target; a line under it gives the client's own
ceiling (the same flows against a constant-response server). Then a final check over every flow
the run started (warm-up included):

- the evidence log (`GET /api/v1/evidence`) holds exactly the eleven entries a flow makes, per
  flow: material registered, custody_changed and status_updated (delivered: withdrawn with the
  reason fulfilled, so it leaves search); offer published, reserved, withdrawn; match proposed,
  accepted; transfer scheduled, in_transit, completed;
- every transfer is `completed`, every match `accepted`, every offer `withdrawn` (listings);
- every material is in Berlin and has no `location` left (registry listing);
- `loopnode evidence verify` finds the hash chain intact.

    python benchmarks/lifecycle.py [--quick] [--sqlite | --postgres | --both]
                                   [--clients 16] [--seconds S] [--idempotency-keys]

`--both` (the default) measures SQLite, then PostgreSQL on a fresh database created on the server
of `--postgres-url` and dropped afterwards. Exit status 1 when a flow failed or the check found
anything missing; missed targets only show in the table.

    python benchmarks/lifecycle.py --sqlite --profile 300 [--profile-sort tottime]

runs 300 flows in-process through the ASGI app instead (no network, service calls inline on
both databases), prints CPU µs per call and the cProfile top 40 (`--profile-out` keeps the
raw stats for pstats).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    LOAD_CORE,
    NODE_CORE,
    Server,
    backend_database,
    constant_server,
    free_port,
    init_node,
    loopnode,
    machine_busy,
    node_server,
    percentiles,
    pin_self,
    pinned,
    scratch_dir,
)

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
STEPS = ("register", "offer", "match", "transfer")
PATHS = {
    "register": "/api/v1/material",
    "offer": "/api/v1/offer",
    "match": "/api/v1/match",
    "transfer": "/api/v1/transfer",
}
FAR = "2099-01-01T00:00:00Z"  # the node runs on the real clock
# The evidence entries one flow leaves, per subject (DECISIONS 22; docs/lifecycle.md).
EXPECTED_EVIDENCE = {
    "material": ["material.registered", "material.custody_changed", "material.status_updated"],
    "offer": ["offer.published", "offer.reserved", "offer.withdrawn"],
    "match": ["match.proposed", "match.accepted"],
    "transfer": ["transfer.scheduled", "transfer.in_transit", "transfer.completed"],
}
EVIDENCE_PER_FLOW = sum(len(v) for v in EXPECTED_EVIDENCE.values())
REFERENCE = (262.0, 211.0)  # the public reference backend: flows/s, p99 ms (no transactions)
TARGETS = {"SQLite": 400.0, "PostgreSQL": 262.0}  # flows/s with one worker
console = Console(stderr=True)


@dataclass(frozen=True)
class Profile:
    warmup: float
    seconds: float


FULL = Profile(warmup=3, seconds=10)
QUICK = Profile(warmup=1, seconds=2)


# -- the flow's documents -------------------------------------------------------------------------
def ids(n: int) -> dict[str, str]:
    tag = f"F{n:07d}"
    return {
        "material": f"MAT-DE-MUC-2026-PLASTIC-{tag}",
        "offer": f"OFR-{tag}",
        "match": f"MCH-{tag}",
        "transfer": f"TRF-{tag}",
    }


def flow_bodies(n: int) -> list[bytes]:
    """The four request bodies of flow `n`, in order."""
    i = ids(n)
    head = {"@context": CONTEXT, "schema_version": "0.2.0"}
    material = {
        **head,
        "@type": "MaterialDNA",
        "id": i["material"],
        "category": "plastic-pet",
        "quantity": {"value": 1000, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "location": {"lat": 48.1351, "lon": 11.582},
        "available_from": "2026-06-01T08:00:00Z",
    }
    offer = {
        **head,
        "@type": "Offer",
        "id": i["offer"],
        "material_id": i["material"],
        "from_city": "Munich",
        "to_city": "Berlin",
        "quantity": {"value": 1000, "unit": "kg"},
        "status": "open",
        "available_until": FAR,
    }
    match = {
        **head,
        "@type": "Match",
        "id": i["match"],
        "material_id": i["material"],
        "offer_id": i["offer"],
        "from_city": "Munich",
        "to_city": "Berlin",
        "status": "accepted",
        "matched_at": "2026-12-01T12:15:00Z",
    }
    transfer = {
        **head,
        "@type": "Transfer",
        "id": i["transfer"],
        "material_id": i["material"],
        "match_id": i["match"],
        "status": "completed",
        "handoff_at": "2026-12-02T09:00:00Z",
        "route": {"from_city": "Munich", "to_city": "Berlin", "mode": "road"},
    }
    return [orjson.dumps(d) for d in (material, offer, match, transfer)]


# -- the client (its own process) -----------------------------------------------------------------
@dataclass
class ClientSpec:
    base: str
    key: str
    clients: int
    seconds: float
    start: int
    idempotency_keys: bool = False
    expect: int = 201


@dataclass
class ClientResult:
    started: int  # flows begun (numbered start .. start + started - 1)
    completed: int
    seconds: float
    failed: list[int]
    errors: dict[str, int]
    first_error: str
    latency_ms: dict[str, tuple[float, float]]  # step or "flow" → (p50, p99)


def _request(spec: ClientSpec, host: str, step: str, n: int, body: bytes) -> bytes:
    lines = [
        f"POST {PATHS[step]} HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {spec.key}",
        "Content-Type: application/ld+json",
        f"Content-Length: {len(body)}",
    ]
    if spec.idempotency_keys:
        lines.append(f"Idempotency-Key: bench-{step}-{n}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(head[9:12]), await reader.readexactly(length) if length else b""


async def run_client(spec: ClientSpec) -> ClientResult:
    host = spec.base.split("://", 1)[1].rstrip("/")
    address, port = host.rsplit(":", 1)
    counter = iter(range(spec.start, 2**62))
    latencies: dict[str, list[int]] = {step: [] for step in (*STEPS, "flow")}
    failed: list[int] = []
    errors: Counter[str] = Counter()
    first_error = ""
    started = time.perf_counter()
    deadline = started + spec.seconds

    async def flow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        nonlocal first_error
        begun = time.perf_counter_ns()
        for step, body in zip(STEPS, flow_bodies(n), strict=True):
            sent = time.perf_counter_ns()
            writer.write(_request(spec, host, step, n, body))
            status, answer = await _response(reader)
            latencies[step].append(time.perf_counter_ns() - sent)
            if status != spec.expect:
                errors[step] += 1
                first_error = first_error or f"{step} {status} {answer[:300].decode()}"
                return False
        latencies["flow"].append(time.perf_counter_ns() - begun)
        return True

    async def connection() -> int:
        done = 0
        reader, writer = await asyncio.open_connection(address, int(port))
        try:
            while time.perf_counter() < deadline:
                n = next(counter)
                if await flow(reader, writer, n):
                    done += 1
                else:
                    failed.append(n)
        finally:
            writer.close()
        return done

    completed = sum(await asyncio.gather(*(connection() for _ in range(spec.clients))))
    elapsed = time.perf_counter() - started
    return ClientResult(
        started=next(counter) - spec.start,
        completed=completed,
        seconds=elapsed,
        failed=sorted(failed),
        errors=dict(errors),
        first_error=first_error,
        latency_ms={name: percentiles(values) for name, values in latencies.items()},
    )


def _event_loop_run(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def drive(spec: ClientSpec) -> ClientResult:
    """Run the client in its own process on the load core."""
    output = subprocess.run(
        [sys.executable, str(Path(__file__)), "client", json.dumps(asdict(spec))],
        capture_output=True,
        text=True,
        timeout=spec.seconds + 120,
        preexec_fn=pinned(LOAD_CORE),
        check=True,
    ).stdout
    found = json.loads(output.strip().splitlines()[-1])
    found["latency_ms"] = {k: tuple(v) for k, v in found["latency_ms"].items()}
    return ClientResult(**found)


# -- the node -------------------------------------------------------------------------------------
@dataclass
class Run:
    backend: str
    result: ClientResult
    flows_total: int  # warm-up and measured
    cpu_ms_per_flow: float
    check: list[str] = field(default_factory=list)  # problems found; empty when all is in place
    checked: str = ""


def cpu_seconds(server: Server) -> float:
    """User plus system CPU seconds of the node process (Linux /proc; 0 elsewhere)."""
    assert server.process is not None
    try:
        stat = Path(f"/proc/{server.process.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_backend(
    work: Path, backend: str, database_url: str | None, profile: Profile, args: Any
) -> Run:
    data_dir = work / backend.lower()
    key = init_node(data_dir, database_url)
    with node_server(data_dir, free_port()).start() as node:
        waited = node.wait_idle(timeout=120)
        console.print(f"{backend}: node idle after {waited:.0f} s")
        spec = ClientSpec(node.base, key, args.clients, profile.warmup, 0, args.idempotency_keys)
        warm = drive(spec) if profile.warmup > 0 else None
        start = warm.started if warm else 0
        console.print(f"{backend}: measuring {profile.seconds:g} s ...")
        cpu = cpu_seconds(node)
        result = drive(ClientSpec(**{**asdict(spec), "seconds": profile.seconds, "start": start}))
        cpu = cpu_seconds(node) - cpu
        run = Run(
            backend,
            result,
            start + result.started,
            cpu / result.completed * 1e3 if result.completed else 0.0,
        )
        if warm is not None and warm.failed:
            run.check.append(f"{len(warm.failed)} warm-up flows failed: {warm.first_error}")
        console.print(f"{backend}: checking {run.flows_total:,} flows ...")
        problems, summary = check_flows(node.base, key, run.flows_total)
        run.check += problems
    verify = loopnode("evidence", "verify", "--data-dir", str(data_dir)).strip()
    if not verify.startswith("OK"):
        run.check.append(f"loopnode evidence verify: {verify}")
    run.checked = f"{summary}; {verify}"
    return run


def client_ceiling(work: Path, clients: int, seconds: float) -> float:
    """Flows per second of the client against a server that answers `{}` at once."""
    port = free_port()
    with constant_server(port, work / "constant.log").start() as server:
        result = drive(ClientSpec(server.base, "-", clients, seconds, 0, expect=200))
    return result.completed / result.seconds if result.seconds else 0.0


# -- the final check ------------------------------------------------------------------------------
def check_flows(base: str, key: str, flows: int) -> tuple[list[str], str]:
    """Everything each of flows 0 .. flows-1 should have left behind; (problems, summary)."""
    headers = {"Authorization": f"Bearer {key}"}
    problems: list[str] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        evidence = _evidence_by_subject(http)
        states = {
            entity: _listing(http, f"/api/v1/{entity}", "status")
            for entity in ("offer", "match", "transfer")
        }
        cities = _listing(http, "/api/v1/material", "current_city", with_location=True)
    wanted = {"offer": "withdrawn", "match": "accepted", "transfer": "completed"}
    bad: Counter[str] = Counter()
    for n in range(flows):
        i = ids(n)
        for subject, expected in EXPECTED_EVIDENCE.items():
            if evidence.get(i[subject]) != expected:
                bad[f"evidence of the {subject}"] += 1
        for entity, status in wanted.items():
            if states[entity].get(i[entity]) != status:
                bad[f"{entity} not {status}"] += 1
        if cities.get(i["material"]) != ("Berlin", False):
            bad["material not in Berlin without a location"] += 1
    problems += [f"{count} flows: {what}" for what, count in sorted(bad.items())]
    subjects = {i for n in range(flows) for i in ids(n).values()}
    entries = sum(len(v) for k, v in evidence.items() if k in subjects)
    other = sum(len(v) for k, v in evidence.items() if k not in subjects)
    summary = (
        f"{flows:,} flows, {entries:,} evidence entries about them "
        f"({EVIDENCE_PER_FLOW} per flow), {other} about the node itself"
    )
    if entries != flows * EVIDENCE_PER_FLOW:
        problems.append(f"{entries} evidence entries, expected {flows * EVIDENCE_PER_FLOW}")
    return problems, summary


def _evidence_by_subject(http: httpx.Client) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    after: int | None = 0
    while after is not None:
        page = _get(http, "/api/v1/evidence", {"after": after, "limit": 500})
        for entry in page["entries"]:
            found[entry["subject"]["id"]].append(entry["event_type"])
        after = page["next_after"]
    return found


def _listing(
    http: httpx.Client, path: str, column: str, *, with_location: bool = False
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in _pages(http, path):
        value = document.get(column)
        found[document["id"]] = (value, "location" in document) if with_location else value
    return found


def _pages(http: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = _get(http, path, params)
        yield from page["results"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _get(http: httpx.Client, path: str, params: dict[str, Any]) -> Any:
    response = http.get(path, params=params)
    response.raise_for_status()
    return response.json()


# -- in-process profile ---------------------------------------------------------------------------
def profile_flows(
    work: Path, database_url: str | None, flows: int, sort: str, out: str | None
) -> None:
    """`flows` flows in-process through the ASGI app (no network; calls inline even on
    PostgreSQL): a warm-up, a timed run, then a run under cProfile. Prints mean µs per call
    of both runs (CPU time, so other load on the machine matters less) and the top 40."""
    import cProfile
    import pstats

    from loopnode.bootstrap import build
    from loopnode.config import load_settings
    from loopnode.web.app import create_app

    data_dir = work / "profile"
    key = init_node(data_dir, database_url)
    container = build(load_settings(data_dir), migrate=False)
    app = create_app(container=container)
    app.state.inline_calls = True  # one thread, so cProfile sees the service calls too
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/ld+json"}
    spent: dict[str, float] = defaultdict(float)
    statements: dict[str, int] = defaultdict(int)
    current = [""]

    def count_statement(*_args: Any) -> None:
        statements[current[0]] += 1

    from sqlalchemy import event

    event.listen(container.engine, "before_cursor_execute", count_statement)

    async def run(first: int, count: int) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
            for n in range(first, first + count):
                for step, body in zip(STEPS, flow_bodies(n), strict=True):
                    current[0] = step
                    began = time.process_time()
                    response = await http.post(PATHS[step], content=body, headers=headers)
                    spent[step] += time.process_time() - began
                    if response.status_code != 201:
                        raise SystemExit(f"{step} {response.status_code} {response.text}")

    def means() -> str:
        text = ", ".join(f"{step} {spent[step] / flows * 1e6:,.0f}" for step in STEPS)
        spent.clear()
        return text

    try:
        asyncio.run(run(0, flows))  # warm-up
        spent.clear()
        statements.clear()
        asyncio.run(run(flows, flows))
        plain = means()
        counted = ", ".join(f"{step} {statements[step] / flows:.1f}" for step in STEPS)
        counted += f"; flow {sum(statements[s] for s in STEPS) / flows:.1f}"
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(run(2 * flows, flows))
        profiler.disable()
    finally:
        container.close()
    print(f"CPU µs per call in-process (client included), {flows} flows: {plain}")
    print(f"SQL statements per call (BEGIN/COMMIT sent by the driver not counted): {counted}")
    print(f"the same under cProfile: {means()}")
    if out:
        profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats(sort).print_stats(40)


# -- the table ------------------------------------------------------------------------------------
def table(title: str, runs: list[Run]) -> Table:
    grid = Table(title=title)
    grid.add_column("backend")
    for column in ("flows/s", "flows", "failed"):
        grid.add_column(column, justify="right")
    for step in (*STEPS, "flow"):
        grid.add_column(f"{step}\np50 / p99 ms", justify="right")
    for column in ("CPU ms/flow", "÷ reference", "target", "check"):
        grid.add_column(column, justify="right")
    for run in runs:
        grid.add_row(*_cells(run))
    grid.add_section()
    grid.add_row(
        "reference backend",
        f"{REFERENCE[0]:,.0f}",
        *[""] * 6,
        f"p99 {REFERENCE[1]:.0f}",
        "",
        "1.00",
        "",
        "no transactions",
    )
    return grid


def _cells(run: Run) -> list[str]:
    result = run.result
    rate = result.completed / result.seconds if result.seconds else 0.0
    latency = [f"{p50:.1f} / {p99:.1f}" for p50, p99 in (result.latency_ms[s] for s in STEPS)]
    flow50, flow99 = result.latency_ms["flow"]
    target = TARGETS[run.backend]
    return [
        run.backend,
        f"{rate:,.0f}",
        f"{result.completed:,}",
        str(len(result.failed)),
        *latency,
        f"{flow50:.1f} / {flow99:.1f}",
        f"{run.cpu_ms_per_flow:.2f}",
        f"{rate / REFERENCE[0]:.2f}",
        f"{'✓' if rate >= target else '✗'} ≥{target:,.0f}",
        "✓ all in place" if not run.check else "✗ see below",
    ]


def profile_main(args: Any) -> int:
    backend = args.backends[0]
    with (
        scratch_dir("loopnode-lifecycle-profile-") as work,
        backend_database(backend, args.postgres_url) as database_url,
    ):
        profile_flows(work, database_url, args.profile, args.profile_sort, args.profile_out)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 s warm-up, 2 s")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sqlite", action="store_const", dest="backends", const=("SQLite",))
    which.add_argument("--postgres", action="store_const", dest="backends", const=("PostgreSQL",))
    which.add_argument(
        "--both", action="store_const", dest="backends", const=("SQLite", "PostgreSQL")
    )
    parser.set_defaults(backends=("SQLite", "PostgreSQL"))
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server for PostgreSQL (its database is only used to create and drop ours)",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--seconds", type=float, help="measured seconds per backend")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="send an Idempotency-Key on every POST"
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="FLOWS",
        help="instead: FLOWS flows in-process under cProfile (first backend only)",
    )
    parser.add_argument("--profile-sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--profile-out", help="also save the raw cProfile stats here")
    args = parser.parse_args()
    if args.profile:
        return profile_main(args)
    profile = QUICK if args.quick else FULL
    profile = Profile(profile.warmup, args.seconds or profile.seconds)
    pin_self(LOAD_CORE)
    background = machine_busy()
    if background > 0.1:
        console.print(f"[yellow]other processes keep {background:.0%} of the CPUs busy[/]")
    runs = []
    with scratch_dir("loopnode-lifecycle-") as work:
        for backend in args.backends:
            with backend_database(backend, args.postgres_url) as database_url:
                runs.append(run_backend(work, backend, database_url, profile, args))
        console.print("client ceiling ...")
        ceiling = client_ceiling(work, args.clients, min(profile.seconds, 3))
    keys = ", Idempotency-Key on every POST" if args.idempotency_keys else ""
    title = (
        "loopnode lifecycle: full flows (register → offer → match accepted → transfer completed), "
        f"one worker, {args.clients} keep-alive clients{keys}, "
        f"{profile.seconds:g} s after {profile.warmup:g} s warm-up"
    )
    out = Console(width=200)
    out.print(table(title, runs))
    out.print(
        f"node on core {NODE_CORE}, asyncio client (1 process) on core {LOAD_CORE}; against a "
        f"constant-response server the client reaches {ceiling:,.0f} flows/s; "
        f"CPUs busy with other processes before the run: {background:.0%}"
    )
    failed = False
    for run in runs:
        out.print(f"{run.backend} check: {run.checked}")
        if run.result.failed:
            out.print(
                f"[red]{run.backend}: {len(run.result.failed)} flows failed: "
                f"{run.result.first_error}[/]"
            )
            failed = True
        for problem in run.check:
            out.print(f"[red]{run.backend}: {problem}[/]")
            failed = True
        if run.result.completed == 0:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        outcome = _event_loop_run(run_client(ClientSpec(**json.loads(sys.argv[2]))))
        print(json.dumps(asdict(outcome)))
    else:
        raise SystemExit(main())
