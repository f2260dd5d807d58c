"""Registry throughput of one `loopnode serve` worker, next to a bare-Starlette ceiling.

Prints one Rich table measured in one run (see docs/performance.md for figures and analysis):

1. `POST /api/v1/material`, MaterialDNA example 01 with a distinct id per request;
2. `GET /api/v1/material/{id}` of stored records, drawn at random;
3. protocol-mode `POST /api/v1/material/search` `{"category": "plastic-pet", "radius_km": 100}`
   over RECORDS stored materials spread within 300 km of the node;
4. in-process `validate_entity(example 01, "MaterialDNA")` per second;
5. the ceiling: a bare Starlette app on the same uvicorn flags that parses (orjson), validates
   (same model) and inserts into plain sqlite3 (WAL), the same without the insert, and a bare
   GET by id; every node figure is also printed as a ratio of these.

The node runs on core 0 and the load generator (wrk with a Lua script when installed, else an
asyncio client in its own process) on core 1, with 32 keep-alive connections for a fixed time
after a warm-up. The stored materials are loaded in-process through the storage layer before
the node starts: rows built by `RegistryService.build_row`, inserted with SQLAlchemy Core
`insert(records)` executemany batches of 5,000 (no evidence entries are written for them).

    python benchmarks/registry.py [--quick] [--postgres] [--load-generator auto|wrk|python]

`--postgres` runs the node on a fresh PostgreSQL database (created on the server of
`--postgres-url`, dropped afterwards); the ceiling stays on SQLite. Exit status 1 when a
scenario saw more than 1 % failed requests; missed targets only show in the table.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    LOAD_CORE,
    Load,
    Measurement,
    Result,
    backend_database,
    bare_server,
    fill_bare_db,
    free_port,
    generator_ceiling,
    init_node,
    machine_busy,
    measure,
    node_server,
    pin_self,
    postgres_activity,
    scratch_dir,
    wrk_available,
)

from loopnode.services.registry.seeding import MATERIAL_CATEGORIES, example_records, jitter

SEARCH_CATEGORY = "plastic-pet"
SEARCH_BODY = json.dumps({"category": SEARCH_CATEGORY, "radius_km": 100})
SPREAD_KM = 300
NODE_LAT, NODE_LON = 48.137, 11.575
STORED_PREFIX = "MAT-DE-MUC-2025-BENCH-"
POSTED_PREFIX = "MAT-DE-MUC-2025-PLASTIC-"
BATCH = 5000
REFERENCE = {"POST": (1491, 43), "GET": (3411, 21)}  # Bun/Fastify/PostgreSQL, 32 clients
console = Console(stderr=True)


@dataclass(frozen=True)
class Profile:
    warmup: float
    seconds: float
    records: int


FULL = Profile(warmup=3, seconds=10, records=100_000)
QUICK = Profile(warmup=1, seconds=2, records=5_000)


@dataclass
class Row:
    name: str
    measured: Measurement
    same_work: str | None = None  # key of the bare row doing the same work
    target: tuple[float, float] | None = None  # (min rate, max p99 ms)
    reference: str | None = None

    @property
    def result(self) -> Result:
        return self.measured.result

    @property
    def rate(self) -> float:
        return self.result.rate


# -- documents ------------------------------------------------------------------------------------
def example() -> dict[str, Any]:
    return dict(example_records()[0])


def stored_documents(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Example 01 with id, category and location varied: `count` materials within 300 km."""
    rng = random.Random(seed)
    template = example()
    for n in range(count):
        lat, lon = jitter(rng, NODE_LAT, NODE_LON, SPREAD_KM)
        yield {
            **template,
            "id": f"{STORED_PREFIX}L{n:07d}",
            "category": rng.choice(MATERIAL_CATEGORIES),
            "location": {**template["location"], "lat": lat, "lon": lon},
        }


def load_materials(data_dir: Path, count: int) -> float:
    """Store `count` materials through the storage layer; returns rows per second."""
    from sqlalchemy import insert

    from loopnode.adapters.storage.tables.core import records
    from loopnode.bootstrap import build
    from loopnode.config import load_settings
    from loopnode.services.registry.service import RegistryService

    container = build(load_settings(data_dir), migrate=False)
    now, source = container.clock.now(), container.node.node_id
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    try:
        for document in stored_documents(count):
            row = RegistryService.build_row("material", document, now, source_node=source)
            batch.append(_columns(row, records.c.keys()))
            if len(batch) >= BATCH:
                with container.engine.begin() as connection:
                    connection.execute(insert(records), batch)
                batch = []
        if batch:
            with container.engine.begin() as connection:
                connection.execute(insert(records), batch)
        rate = count / (time.perf_counter() - started)
        if container.engine.dialect.name == "sqlite":
            # Fold the seeding's WAL into the database now, or the node pays for it during the
            # first measured writes.
            with container.engine.begin() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            # What autovacuum does within a minute of a bulk load: mark the pages all-visible,
            # or every index-only scan of the search fetches each candidate's heap row (1,415
            # per query with 100,000 records; 10.7 → 0.8 ms for the count), and gather the
            # planner's statistics.
            autocommit = container.engine.execution_options(isolation_level="AUTOCOMMIT")
            with autocommit.connect() as connection:
                connection.exec_driver_sql("VACUUM ANALYZE dna_records")
    finally:
        container.close()
    return rate


def _columns(row: Any, names: list[str]) -> dict[str, Any]:
    ux, uy, uz = row.unit_vector or (None, None, None)
    values = {name: getattr(row, name) for name in names if hasattr(row, name)}
    values.update(ux=ux, uy=uy, uz=uz, document=orjson.dumps(row.document).decode())
    return values


# -- loads ----------------------------------------------------------------------------------------
def post_load(key: str | None, path: str) -> Load:
    body = orjson.dumps({**example(), "id": POSTED_PREFIX + "@ID@"}).decode()
    headers = {"Content-Type": "application/ld+json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return Load("POST", path, body, headers, prefix="P")


def get_load(path_prefix: str, records: int) -> Load:
    return Load(
        "GET", path_prefix + STORED_PREFIX + "@ID@", prefix="L", mode="random", bound=records
    )


def search_load() -> Load:
    return Load(
        "POST", "/api/v1/material/search", SEARCH_BODY, {"Content-Type": "application/json"}
    )


def check(base: str, method: str, path: str, body: str = "", headers: Any = None) -> Any:
    """One request before the load, so a broken scenario fails loudly rather than fast."""
    request = urllib.request.Request(
        base + path, body.encode() or None, headers or {}, method=method
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# -- runs -----------------------------------------------------------------------------------------
def run_node(work: Path, database_url: str | None, profile: Profile, tool: str) -> list[Row]:
    data_dir = work / "node"
    key = init_node(data_dir, database_url)
    console.print(f"loading {profile.records:,} materials ...")
    loaded = load_materials(data_dir, profile.records)
    console.print(f"  {loaded:,.0f} rows/s (build_row + executemany)")
    post, get, search = (
        post_load(key, "/api/v1/material"),
        get_load("/api/v1/material/", profile.records),
        search_load(),
    )
    with node_server(data_dir, free_port()).start() as node:
        database = postgres_activity(database_url) if database_url else None
        waited = node.wait_idle(timeout=600, activity=database)
        console.print(f"  node idle after {waited:.0f} s of start-up work (federation relay)")
        probe = post.body.replace("@ID@", "X0000000")
        check(node.base, "POST", post.path, probe, post.headers)
        check(node.base, "GET", get.path.replace("@ID@", "L0000000"))
        found = check(node.base, "POST", search.path, search.body, search.headers)
        console.print(f"  search matches {found['total']:,} of {profile.records:,} records")
        targets = TARGETS[database_url is not None]
        rows: list[Row] = []
        # Search runs first: every POST adds a plastic-pet record near the node (example 01).
        for name, load, same, target, reference in (
            (f"search {SEARCH_CATEGORY} 100 km", search, None, "search", None),
            ("GET /material/{id}", get, "bare-get", "GET", "GET"),
            ("POST /material", post, "bare-insert", "POST", "POST"),
        ):
            console.print(f"node: {name} ...")
            measured = measure(node, load, profile.warmup, profile.seconds, tool)
            rows.insert(0, Row(name, measured, same, targets.get(target), reference))
    return rows


def run_bare(work: Path, profile: Profile, tool: str) -> dict[str, Row]:
    db = work / "bare.db"
    fill_bare_db(db, ((d["id"], orjson.dumps(d)) for d in stored_documents(profile.records)))
    server, env = bare_server(db, free_port(), work / "bare.log")
    rows = {}
    with server.start(env) as bare:
        for key, name, load in (
            ("bare-insert", "bare: parse+validate+insert", post_load(None, "/insert")),
            ("bare-validate", "bare: parse+validate", post_load(None, "/validate")),
            ("bare-get", "bare: GET by id", get_load("/get/", profile.records)),
        ):
            console.print(f"{name} ...")
            rows[key] = Row(name, measure(bare, load, profile.warmup, profile.seconds, tool))
    return rows


def validation_rate(seconds: float) -> float:
    from loopnode.protocol.validation import validate_entity

    document = example()
    for _ in range(500):
        validate_entity(document, "MaterialDNA")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(500):
            validate_entity(document, "MaterialDNA")
        count += 500
    return count / (time.perf_counter() - started)


# SQLite / PostgreSQL targets: (min rate, max p99 ms).
TARGETS: dict[bool, dict[str, tuple[float, float]]] = {
    False: {"POST": (3000, 50), "GET": (6000, 50), "search": (500, 50)},
    True: {"POST": (1500, 50), "GET": (0, 50), "search": (0, 50)},
}


# -- the table ------------------------------------------------------------------------------------
def table(title: str, node: list[Row], bare: dict[str, Row], validations: float) -> Table:
    ceiling = bare["bare-validate"].rate
    grid = Table(title=title)
    for column in ("scenario", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/req", "others"):
        grid.add_column(column, justify="left" if column == "scenario" else "right")
    for column in ("÷ bare same work", "÷ bare validate", "÷ reference", "target"):
        grid.add_column(column, justify="right")
    for row in node:
        grid.add_row(*_cells(row, bare, ceiling))
    grid.add_row("validate_entity/s in-process", f"{validations:,.0f}", *[""] * 9)
    grid.add_section()
    for row in bare.values():
        grid.add_row(*_cells(row, bare, ceiling))
    return grid


def _cells(row: Row, bare: dict[str, Row], ceiling: float) -> list[str]:
    result = row.result
    same = f"{row.rate / bare[row.same_work].rate:.2f}" if row.same_work else ""
    reference = f"{row.rate / REFERENCE[row.reference][0]:.2f}" if row.reference else ""
    target = ""
    if row.target:
        rate, p99 = row.target
        met = row.rate >= rate and result.p99_ms < p99
        wanted = f"≥{rate:,.0f}, p99<{p99:.0f}" if rate else f"p99<{p99:.0f}"
        target = f"{'✓' if met else '✗'} {wanted}"
    return [
        row.name,
        f"{row.rate:,.0f}",
        f"{result.p50_ms:.2f}",
        f"{result.p99_ms:.2f}",
        str(result.errors),
        f"{row.measured.cpu_us:,.0f}",
        f"{row.measured.other_cpu:.0%}",
        same,
        f"{row.rate / ceiling:.2f}",
        reference,
        target,
    ]


def pick_tool(choice: str) -> str:
    if choice == "auto":
        return "wrk" if wrk_available() else "python"
    if choice == "wrk" and not wrk_available():
        raise SystemExit(
            "wrk is not installed (apt-get install wrk), or use --load-generator python"
        )
    return choice


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s per scenario, 5,000 records"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="run the node on a fresh PostgreSQL database"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server for --postgres (its database is only used to create and drop ours)",
    )
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seconds", type=float, help="measured seconds per scenario")
    parser.add_argument("--records", type=int, help="stored materials for GET and search")
    args = parser.parse_args()
    profile = QUICK if args.quick else FULL
    profile = Profile(
        profile.warmup, args.seconds or profile.seconds, args.records or profile.records
    )
    tool = pick_tool(args.load_generator)
    pin_self(LOAD_CORE)
    background = machine_busy()
    if background > 0.1:
        console.print(f"[yellow]other processes keep {background:.0%} of the CPUs busy[/]")
    backend = "PostgreSQL" if args.postgres else "SQLite"
    with scratch_dir("loopnode-bench-") as work:
        with backend_database(backend, args.postgres_url) as database_url:
            node = run_node(work, database_url, profile, tool)
        bare = run_bare(work, profile, tool)
        console.print("validate_entity in-process ...")
        validations = validation_rate(min(profile.seconds, 3))
        console.print("load generator ceiling ...")
        client = generator_ceiling(
            post_load(None, "/"), min(profile.seconds, 3), tool, work / "constant.log"
        )
    title = (
        f"loopnode registry, one worker on {backend}, {profile.records:,} stored materials, "
        f"32 keep-alive clients, {profile.seconds:g} s after {profile.warmup:g} s warm-up"
    )
    out = Console(width=200)
    out.print(table(title, node, bare, validations))
    out.print(
        f"load generator: {tool} (1 {'thread' if tool == 'wrk' else 'process'}, 32 connections, "
        f"core {LOAD_CORE}); against a constant-response server it reaches {client.rate:,.0f} req/s"
    )
    out.print(
        "CPU µs/req: the server process's CPU time per request, its background threads included; "
        "others: share of both CPUs busy with other processes (or hypervisor steal) meanwhile; "
        f"before the run: {background:.0%}"
    )
    rows = [*node, *bare.values()]
    limited = ", ".join(r.name for r in rows if r.rate > 0.7 * client.rate)
    if limited:
        out.print(f"[yellow]near the load generator's ceiling (lower bounds): {limited}[/]")
    failed = [
        r.name for r in rows if r.result.requests == 0 or r.result.errors > 0.01 * r.result.requests
    ]
    if failed:
        out.print(f"[red]more than 1 % failed requests: {', '.join(failed)}[/]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
