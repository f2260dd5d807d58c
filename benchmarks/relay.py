"""Relay benchmark: what announcing local materials to peers costs, and how long it holds the
write lock that every writing request waits for (issue 12 item 7).

For each backend: a node holding MATERIALS local materials and PEERS approved peers, then the
federation relay (`AnnouncementService.relay`) run pass after pass until it finds nothing more,
in this process. Prints one Rich table: announcements per second (wall), CPU µs per
announcement, and the write transactions the relay opened (count, total and longest, in ms).
The longest one is how long a request that writes could wait behind the relay; the table's
last column puts the total against the wall time of the passes.

    python benchmarks/relay.py [--quick] [--sqlite | --postgres] [--materials N] [--peers P]
                               [--batch B [B ...]]

Exit status 1 unless every material was announced once and queued once per peer. Figures and
analysis in docs/performance.md (Session 8).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import backend_database, init_node, scratch_dir
from registry import load_materials

from loopnode.services.federation.announcements import RELAY_BATCH

console = Console(width=200)


class TimedWrites:
    """A unit-of-work factory that times the write transactions opened through it."""

    def __init__(self, uow: Any) -> None:
        self._uow = uow
        self.spans: list[float] = []

    def __call__(self, *, write: bool = False) -> Any:
        return self._timed(write)

    @contextlib.contextmanager
    def _timed(self, write: bool) -> Iterator[Any]:
        began = time.perf_counter()
        with self._uow(write=write) as unit:
            yield unit
        if write:
            self.spans.append(time.perf_counter() - began)


def add_peers(container: Any, count: int) -> None:
    from loopnode.services.federation.ports import PeerRow

    with container.uow(write=True) as uow:
        for n in range(count):
            uow.federation.peers.put(
                PeerRow(
                    node_id=f"peer{n}.loop",
                    name=f"Peer {n}",
                    endpoint=f"https://peer{n}.example",
                    status="approved",
                    capabilities=("material-registry",),
                    created_us=0,
                    updated_us=0,
                )
            )


def measure(
    label: str, database_url: str | None, materials: int, peers: int, batch: int
) -> list[str]:
    from loopnode.bootstrap import build
    from loopnode.config import load_settings
    from loopnode.services.federation.announcements import AnnouncementService, FloodSettings

    with scratch_dir("loopnode-relay-") as work:
        data_dir = work / "node"
        init_node(data_dir, database_url)
        with (data_dir / "loopnode.toml").open("a") as settings:
            settings.write("federation_worker = false\n")
        console.print(f"{label}: loading {materials:,} materials ...")
        load_materials(data_dir, materials)
        container = build(load_settings(data_dir), migrate=False)
        try:
            add_peers(container, peers)
            timed = TimedWrites(container.federation.uow)
            relay = AnnouncementService(
                timed,
                container.clock,
                container.node,
                container.federation.keys.signing_key,
                lambda: uuid.uuid4().hex,
                FloodSettings(),
            )
            console.print(f"{label}: relay ...")
            wall, cpu = time.perf_counter(), time.process_time()
            announced = passes = 0
            while done := relay.relay(batch):
                announced += done
                passes += 1
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            with container.uow() as uow:
                queued = uow.messaging.outbox.counts()
        finally:
            container.close()
    spans = timed.spans
    if announced != materials or sum(queued.values()) != materials * peers:
        raise SystemExit(
            f"{label}: {announced} announced and {sum(queued.values())} queued, "
            f"expected {materials} and {materials * peers}"
        )
    return [
        label,
        f"{materials:,} × {peers}",
        f"{batch}",
        f"{announced:,} in {passes}",
        f"{sum(queued.values()):,}",
        f"{announced / wall:,.0f}",
        f"{cpu / max(announced, 1) * 1e6:,.0f}",
        f"{len(spans)}",
        f"{sum(spans) * 1e3:,.0f}",
        f"{max(spans, default=0) * 1e3:,.1f}",
        f"{sum(spans) / wall:.0%}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 400 materials")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sqlite", action="store_const", dest="backends", const=("SQLite",))
    which.add_argument("--postgres", action="store_const", dest="backends", const=("PostgreSQL",))
    parser.set_defaults(backends=("SQLite", "PostgreSQL"))
    parser.add_argument("--materials", type=int, default=4000)
    parser.add_argument("--peers", type=int, default=3)
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[RELAY_BATCH], help="materials per relay pass"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server for PostgreSQL (its database is only used to create and drop ours)",
    )
    args = parser.parse_args()
    materials = 400 if args.quick else args.materials
    table = Table(title="federation relay: announcing local materials, in-process")
    for column in (
        "backend",
        "materials × peers",
        "batch",
        "announced in passes",
        "outbox rows",
        "announced/s",
        "CPU µs each",
        "write txs",
        "write ms total",
        "longest write ms",
        "write share of wall",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for backend in args.backends:
        for batch in args.batch:
            with backend_database(backend, args.postgres_url) as url:
                table.add_row(*measure(backend, url, materials, args.peers, batch))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
