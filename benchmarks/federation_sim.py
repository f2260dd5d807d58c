"""Controlled flooding on a 1,000-node geographic federation, with the real announcement code.

Nodes are placed around European population centres (a seeded random layout, about
4,000 x 2,600 km). Every node peers as spec §9.4 recommends: 3-5 nearby nodes (< 200 km),
2-3 regional nodes (200-1,000 km) and 1-2 distant nodes (> 1,000 km); links are symmetric,
so degrees end up higher than a node's own picks. Each node runs
`loopnode.services.federation.announcements.AnnouncementService` over in-memory stores
(`tests/fakes/federation_network.py`: validation, origin signatures, duplicate filter, TTL and
radius rules, forwarding through the outbox), and queued messages are delivered in FIFO order
(equal link latencies) or in a random order. No HTTP.

Per announcement: coverage of the nodes inside the radius (default 1,000 km from the origin),
nodes reached in all (nodes outside the radius store what reaches them but do not forward),
messages sent, duplicates dropped, mean and maximum hops, and messages per node reached next to
the lower bound of one message per node reached.

    python benchmarks/federation_sim.py [--nodes 1000] [--announcements 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loopnode.domain.geo import haversine_km

# The in-memory network is a test fake (tests/fakes/), not part of the node.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fakes.federation_network import MemoryNetwork

# (lat, lon, weight): where nodes cluster.
CENTRES = [
    (48.14, 11.58, 3),
    (52.52, 13.40, 4),
    (48.21, 16.37, 3),
    (50.08, 14.44, 2),
    (47.38, 8.54, 2),
    (48.86, 2.35, 4),
    (51.51, -0.13, 4),
    (40.42, -3.70, 3),
    (41.39, 2.17, 2),
    (45.46, 9.19, 3),
    (41.90, 12.50, 3),
    (52.37, 4.90, 2),
    (50.85, 4.35, 2),
    (55.68, 12.57, 2),
    (59.33, 18.07, 2),
    (52.23, 21.01, 3),
    (47.50, 19.04, 2),
    (44.43, 26.10, 2),
    (37.98, 23.73, 2),
    (38.72, -9.14, 2),
    (53.55, 9.99, 2),
    (50.11, 8.68, 2),
    (45.76, 4.84, 2),
    (43.30, 5.37, 1),
    (59.91, 10.75, 1),
    (60.17, 24.94, 1),
    (54.69, 25.28, 1),
    (42.70, 23.32, 1),
]


@dataclass(frozen=True)
class Site:
    node_id: str
    lat: float
    lon: float


def layout(count: int, rng: random.Random) -> list[Site]:
    weights = [w for _, _, w in CENTRES]
    sites = []
    for index in range(count):
        lat, lon, _ = rng.choices(CENTRES, weights)[0]
        spread = abs(rng.gauss(0, 1.2))
        angle = rng.uniform(0, 2 * math.pi)
        lat = max(-89.0, min(89.0, lat + spread * math.sin(angle)))
        lon = lon + spread * math.cos(angle) / math.cos(math.radians(lat))
        sites.append(Site(f"n{index:04d}.loop", lat, lon))
    return sites


def peering(sites: list[Site], rng: random.Random) -> set[tuple[int, int]]:
    """§9.4: 3-5 nearby (< 200 km), 2-3 regional (200-1000 km), 1-2 distant (> 1000 km)."""
    edges: set[tuple[int, int]] = set()
    for i, site in enumerate(sites):
        bands: dict[str, list[int]] = {"near": [], "regional": [], "distant": []}
        for j, other in enumerate(sites):
            if i == j:
                continue
            km = haversine_km(site.lat, site.lon, other.lat, other.lon)
            band = "near" if km < 200 else "regional" if km <= 1000 else "distant"
            bands[band].append(j)
        wanted = {
            "near": rng.randint(3, 5),
            "regional": rng.randint(2, 3),
            "distant": rng.randint(1, 2),
        }
        for band, count in wanted.items():
            for j in rng.sample(bands[band], min(count, len(bands[band]))):
                edges.add((min(i, j), max(i, j)))
    return edges


@dataclass
class Row:
    ttl: int
    order: str
    coverage: list[float]
    reached: list[int]
    in_radius: list[int]
    messages: list[int]
    duplicates: list[int]
    hops_mean: list[float]
    hops_max: list[int]
    seconds: float


def simulate(
    sites: list[Site],
    edges: set[tuple[int, int]],
    origins: list[int],
    ttl: int,
    radius_km: float,
    order: str,
    seed: int,
) -> Row:
    rng = random.Random(seed)
    row = Row(ttl, order, [], [], [], [], [], [], [], 0.0)
    started = time.perf_counter()
    net = MemoryNetwork(radius_km=radius_km, ttl=ttl, key_seed=seed)
    for site in sites:
        net.add_node(site.node_id, site.lat, site.lon)
    for a, b in edges:
        net.connect(sites[a].node_id, sites[b].node_id)
    for number, origin in enumerate(origins):  # distinct materials: floods do not interact
        here = sites[origin]
        material = f"MAT-DE-SIM-2026-PLASTIC-{number:06d}"
        net.announce(here.node_id, material)
        picker = None if order == "fifo" else (lambda size: rng.randrange(size))
        stats = net.run(here.node_id, material, picker)
        inside = {
            s.node_id
            for k, s in enumerate(sites)
            if k != origin and haversine_km(here.lat, here.lon, s.lat, s.lon) <= radius_km
        }
        row.in_radius.append(len(inside))
        row.coverage.append(len(stats.reached & inside) / len(inside) if inside else 1.0)
        row.reached.append(len(stats.reached))
        row.messages.append(stats.messages)
        row.duplicates.append(stats.duplicates)
        hops = list(stats.hops.values()) or [0]
        row.hops_mean.append(statistics.fmean(hops))
        row.hops_max.append(max(hops))
    row.seconds = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--announcements", type=int, default=40, help="random origins per row")
    parser.add_argument("--radius-km", type=float, default=1000.0)
    parser.add_argument("--ttls", default="2,3,4,5", help="comma-separated TTLs to compare")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sites = layout(args.nodes, rng)
    edges = peering(sites, rng)
    degrees = [0] * len(sites)
    for a, b in edges:
        degrees[a] += 1
        degrees[b] += 1
    origins = [rng.randrange(len(sites)) for _ in range(args.announcements)]
    print(
        f"{args.nodes} nodes, {len(edges)} links, degree mean {statistics.fmean(degrees):.1f} "
        f"(min {min(degrees)}, max {max(degrees)}), radius {args.radius_km:.0f} km, "
        f"{args.announcements} announcements per row, seed {args.seed}"
    )
    header = (
        f"{'ttl':>3} {'order':>6} {'in radius':>9} {'coverage':>9} {'reached':>8} "
        f"{'messages':>9} {'dup drop':>9} {'msg/reached':>11} {'bound':>6} "
        f"{'hops':>5} {'max':>4} {'ms/ann':>7}"
    )
    print(header)
    print("-" * len(header))
    for ttl in (int(t) for t in args.ttls.split(",")):
        for order in ("fifo", "random"):
            row = simulate(sites, edges, origins, ttl, args.radius_km, order, args.seed)
            reached = statistics.fmean(row.reached)
            messages = statistics.fmean(row.messages)
            print(
                f"{ttl:>3} {order:>6} {statistics.fmean(row.in_radius):>9.0f} "
                f"{statistics.fmean(row.coverage):>9.1%} {reached:>8.0f} {messages:>9.0f} "
                f"{statistics.fmean(row.duplicates):>9.0f} {messages / reached:>11.2f} "
                f"{1.0:>6.2f} {statistics.fmean(row.hops_mean):>5.2f} {max(row.hops_max):>4} "
                f"{1000 * row.seconds / len(origins):>7.0f}"
            )
    print(
        "coverage: share of the nodes within the radius that stored the announcement; "
        "bound: one message per node reached; ms/ann: wall time per announcement."
    )


if __name__ == "__main__":
    main()
