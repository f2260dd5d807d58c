"""Controlled flooding (DECISIONS 21): the pure rules and the real service on small graphs."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopnode.domain.errors import ValidationFailed
from loopnode.services.federation import flooding
from tests.fakes.federation_network import MemoryNetwork

MATERIAL = "MAT-DE-MUC-2026-PLASTIC-A00001"
BASE = {
    "@context": "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld",
    "@type": "MaterialAnnouncement",
    "material": MATERIAL,
    "origin": "a.loop",
    "available": True,
}
HERE = flooding.Position("b.loop", 48.1, 11.6)


def test_missing_extension_fields_take_the_defaults() -> None:
    fields = flooding.parse_flooding(BASE)
    assert (fields.ttl, fields.hop_count, fields.announcement_id) == (3, 1, None)


@pytest.mark.parametrize(
    ("extra", "pointer"),
    [
        ({"ttl": -1}, "/ttl"),
        ({"ttl": 17}, "/ttl"),
        ({"ttl": True}, "/ttl"),
        ({"hop_count": 0}, "/hop_count"),
        ({"announcement_id": "short"}, "/announcement_id"),
        ({"origin_location": {"lat": 91, "lon": 0}}, "/origin_location"),
        ({"origin_signature": "x"}, "/origin_signature"),
    ],
)
def test_bad_extension_fields_are_refused_with_a_pointer(extra: dict, pointer: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        flooding.parse_flooding({**BASE, **extra})
    assert pointer in {issue.pointer for issue in caught.value.issues}


@given(st.integers(0, 16), st.integers(1, 50))
def test_the_dedupe_key_ignores_transport_fields(ttl: int, hops: int) -> None:
    for extra in ({}, {"announcement_id": "ann_0000000001"}):
        first = {**BASE, **extra, "ttl": 3, "hop_count": 1}
        later = {**BASE, **extra, "ttl": ttl, "hop_count": hops}
        key = flooding.dedupe_key(first, flooding.parse_flooding(first))
        assert key == flooding.dedupe_key(later, flooding.parse_flooding(later))


def test_the_dedupe_key_separates_ids_origins_and_states() -> None:
    def key(**extra: object) -> str:
        payload = {**BASE, **extra}
        return flooding.dedupe_key(payload, flooding.parse_flooding(payload))

    keys = {
        key(),
        key(available=False),
        key(origin="c.loop"),
        key(announcement_id="ann_0000000001"),
        key(announcement_id="ann_0000000002"),
        key(announcement_id="ann_0000000001", origin="c.loop"),
    }
    assert len(keys) == 6


def test_plan_forwards_to_peers_but_not_back_with_ttl_minus_one() -> None:
    fields = flooding.parse_flooding(BASE)
    plan = flooding.plan(
        BASE,
        fields,
        me=HERE,
        sender="s.loop",
        peers=["s.loop", "a.loop", "c.loop", "b.loop"],
        radius_km=1000,
    )
    assert plan.forward_to == ("c.loop",)
    assert plan.forwarded is not None
    assert (plan.forwarded["ttl"], plan.forwarded["hop_count"]) == (2, 2)


@given(st.integers(0, 16), st.integers(1, 20))
def test_ttl_plus_hops_is_constant_and_ttl_one_stops(ttl: int, hops: int) -> None:
    payload = {**BASE, "ttl": ttl, "hop_count": hops}
    plan = flooding.plan(
        payload,
        flooding.parse_flooding(payload),
        me=HERE,
        sender="s.loop",
        peers=["c.loop"],
        radius_km=1000,
    )
    if ttl <= 1:
        assert plan.forwarded is None and plan.stopped_by == "ttl"
    else:
        assert plan.forwarded is not None
        assert plan.forwarded["ttl"] + plan.forwarded["hop_count"] == ttl + hops


def test_a_receiver_beyond_the_radius_keeps_but_does_not_forward() -> None:
    lisbon = {**BASE, "origin_location": {"lat": 38.72, "lon": -9.14}}
    plan = flooding.plan(
        lisbon,
        flooding.parse_flooding(lisbon),
        me=HERE,
        sender="s.loop",
        peers=["c.loop"],
        radius_km=1000,
    )
    assert (plan.within_radius, plan.stopped_by, plan.forward_to) == (False, "radius", ())
    fallback = flooding.plan(
        BASE,
        flooding.parse_flooding(BASE),
        me=HERE,
        sender="s.loop",
        peers=["c.loop"],
        radius_km=1000,
        origin_location=(38.72, -9.14),
    )
    assert fallback.stopped_by == "radius"


# -- the real service on small graphs -------------------------------------------------------------
def _network(edges: list[tuple[int, int]], n: int, ttl: int = 3) -> MemoryNetwork:
    net = MemoryNetwork(radius_km=20_000, ttl=ttl)
    for index in range(n):
        net.add_node(f"n{index}.loop", 48.0 + index * 0.01, 11.0)
    for a, b in edges:
        net.connect(f"n{a}.loop", f"n{b}.loop")
    return net


def _distances(edges: list[tuple[int, int]], n: int) -> dict[int, int]:
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen, queue = {0: 0}, deque([0])
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if other not in seen:
                seen[other] = seen[node] + 1
                queue.append(other)
    return seen


graphs = st.integers(2, 12).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]),
            max_size=3 * n,
        ).map(lambda es: sorted({tuple(sorted(e)) for e in es})),
    )
)


@settings(max_examples=60, deadline=None)
@given(graphs, st.integers(1, 4))
def test_equal_latency_flooding_reaches_exactly_the_nodes_within_ttl_hops_once(
    graph: tuple[int, list[tuple[int, int]]], ttl: int
) -> None:
    n, edges = graph
    net = _network(edges, n, ttl)
    net.announce("n0.loop", MATERIAL)
    stats = net.run("n0.loop", MATERIAL)
    distance = _distances(edges, n)
    expected = {f"n{i}.loop" for i, d in distance.items() if 1 <= d <= ttl}
    assert stats.reached == expected
    assert all(
        stats.hops[f"n{i}.loop"] == distance[i] for i in range(n) if f"n{i}.loop" in expected
    )
    assert stats.refused == 0
    assert stats.messages == len(stats.reached) + stats.duplicates
    for node in net.nodes.values():
        assert len(node.state.remote) <= 1


@settings(max_examples=40, deadline=None)
@given(graphs, st.randoms(use_true_random=False))
def test_in_any_delivery_order_each_node_stores_once_and_only_within_ttl(
    graph: tuple[int, list[tuple[int, int]]], rng: random.Random
) -> None:
    n, edges = graph
    net = _network(edges, n)
    net.announce("n0.loop", MATERIAL)
    stats = net.run("n0.loop", MATERIAL, order=lambda size: rng.randrange(size))
    distance = _distances(edges, n)
    assert stats.reached <= {f"n{i}.loop" for i, d in distance.items() if 1 <= d <= 3}
    degree_sum = 2 * len(edges)
    assert stats.messages <= degree_sum


def test_a_diamond_delivers_exactly_once_and_drops_the_second_copy() -> None:
    net = _network([(0, 1), (0, 2), (1, 3), (2, 3)], 4)
    net.announce("n0.loop", MATERIAL)
    stats = net.run("n0.loop", MATERIAL)
    assert stats.reached == {"n1.loop", "n2.loop", "n3.loop"}
    assert stats.hops["n3.loop"] == 2
    assert stats.duplicates >= 1
    assert net.nodes["n3.loop"].state.events == 1
