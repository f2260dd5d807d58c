"""Optimal batch allocation of surplus lots to demands (issue 11 item 6): pure, no I/O.

The problem is a transportation problem. Supplies (lots) sit on nodes with a category, an
integer quantity Q and a `base_price` for the whole lot; demands sit on nodes with a category
and an integer quantity. Sending q units of lot s to demand d costs q/Q of the lot's LoopCost
to d's node (`domain/cost.py`: base, export at the origin's signal, import at the destination's,
distance; a same-node trade is the base only). Among the allocations that move the most
quantity to demand of the same category, we want one of least total LoopCost.

It is solved exactly as a min-cost maximum flow (OR-Tools `SimpleMinCostFlow`):
source → lot (capacity Q) → hub (destination node, category) → demand (its quantity) → sink.
All demands of one category on one node cost the same from a given lot, so the hubs are exact
and keep the graph at lots × nodes arcs instead of lots × demands. Costs are integers: each arc's
per-unit cost is L/Q cents (L the lot's LoopCost to that node); all are scaled by K = lcm of the
lots' quantities, which makes them exact integers. When K would overflow the solver's cost range
the per-unit costs are scaled to 2^40 and rounded instead (`exact` is then false; the reported
costs are still computed exactly from the allocation).

"Local first by construction": a local arc costs the base only, never more than any remote one.
`greedy` is the baseline: each lot in input order takes its cheapest destinations first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from loopnode.domain import geo
from loopnode.domain.cost import RATE_PER_KM, loop_cost
from loopnode.domain.errors import InvalidRequest
from loopnode.domain.money import Money
from loopnode.domain.routing import check_distance, parse_price
from loopnode.domain.signals import check_value, signal_for

__all__ = [
    "Allocation",
    "Problem",
    "Result",
    "greedy",
    "parse_problem",
    "solve",
]

COST_RANGE = 2**30
MAX_ITEMS = 200_000


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    lat: float | None
    lon: float | None
    signals: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Supply:
    id: str
    node: str
    category: str
    quantity: int
    base_price: Money


@dataclass(frozen=True, slots=True)
class Demand:
    id: str
    node: str
    category: str
    quantity: int


@dataclass
class Problem:
    nodes: dict[str, Node]
    distances: dict[tuple[str, str], Decimal]
    supplies: list[Supply]
    demands: list[Demand]
    _km: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    _lot_cost: dict[tuple[int, str], int] = field(default_factory=dict)

    def km(self, origin: str, destination: str) -> Decimal:
        if origin == destination:
            return Decimal(0)
        key = (origin, destination)
        if key not in self._km:
            self._km[key] = self._distance(origin, destination)
        return self._km[key]

    def _distance(self, origin: str, destination: str) -> Decimal:
        given = self.distances.get((origin, destination), self.distances.get((destination, origin)))
        if given is not None:
            return given
        a, b = self.nodes[origin], self.nodes[destination]
        if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
            raise InvalidRequest(f"no distance between {origin} and {destination}")
        return Decimal(f"{geo.haversine_km(a.lat, a.lon, b.lat, b.lon):.3f}")

    def lot_cost(self, index: int, destination: str) -> int:
        """The LoopCost, in cents, of the whole lot `index` delivered to `destination`."""
        key = (index, destination)
        found = self._lot_cost.get(key)
        if found is None:
            lot = self.supplies[index]
            origin, target = self.nodes[lot.node], self.nodes[destination]
            found = loop_cost(
                lot.base_price,
                local=lot.node == destination,
                origin_signal=signal_for(origin.signals, lot.category),
                destination_signal=signal_for(target.signals, lot.category),
                distance_km=self.km(lot.node, destination),
            ).total.cents
            self._lot_cost[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Allocation:
    supply: str
    demand: str
    quantity: int
    loop_cost: Money
    local: bool
    km: Decimal


@dataclass(frozen=True, slots=True)
class Result:
    allocations: list[Allocation]
    exact_cost: Fraction  # Σ q/Q × L in cents, unrounded: what the optimiser minimises
    exact: bool

    @property
    def moved(self) -> int:
        return sum(a.quantity for a in self.allocations)

    @property
    def local_quantity(self) -> int:
        return sum(a.quantity for a in self.allocations if a.local)

    @property
    def total(self) -> Money:
        return Money(sum(a.loop_cost.cents for a in self.allocations))

    def summary(self) -> dict[str, Any]:
        moved = self.moved
        share = Decimal(self.local_quantity) / moved if moved else Decimal(0)
        return {
            "total_loop_cost": str(self.total),
            "moved_quantity": moved,
            "local_quantity": self.local_quantity,
            "local_share": str(share.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)),
            "km_moved": str(sum((a.km for a in self.allocations if not a.local), Decimal(0))),
            "unit_km": str(sum((a.km * a.quantity for a in self.allocations), Decimal(0))),
        }


# -- input ---------------------------------------------------------------------------------------
def parse_problem(document: Mapping[str, Any]) -> Problem:
    """The batch input (numbers may be int, float or Decimal); 400 on anything malformed."""
    unknown = set(document) - {"nodes", "distances", "supplies", "demands"}
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    nodes = {n.id: n for n in (_node(i, item) for i, item in enumerate(_list(document, "nodes")))}
    distances = {
        (str(d.get("from")), str(d.get("to"))): _km(d, i)
        for i, d in enumerate(_list(document, "distances", required=False))
    }
    supplies = [_supply(i, s, nodes) for i, s in enumerate(_list(document, "supplies"))]
    demands = [_demand(i, d, nodes) for i, d in enumerate(_list(document, "demands"))]
    _unique("supplies", (s.id for s in supplies))
    _unique("demands", (d.id for d in demands))
    if len(supplies) + len(demands) > MAX_ITEMS:
        raise InvalidRequest(f"at most {MAX_ITEMS} supplies and demands in one batch")
    return Problem(nodes, distances, supplies, demands)


def _list(document: Mapping[str, Any], name: str, *, required: bool = True) -> list[Any]:
    value = document.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidRequest(f"/{name} must be a list of objects")
    return value


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or len(value) > 160:
        raise InvalidRequest(f"{where}/{key} must be a non-empty string")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidRequest(f"{where} must be a number")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise InvalidRequest(f"{where} must be finite")
    return number


def _node(index: int, item: Mapping[str, Any]) -> Node:
    where = f"/nodes/{index}"
    lat = None if item.get("lat") is None else float(_decimal(item["lat"], f"{where}/lat"))
    lon = None if item.get("lon") is None else float(_decimal(item["lon"], f"{where}/lon"))
    raw = item.get("signals") or {}
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{where}/signals must be an object")
    signals = {
        str(k): check_value(_decimal(v, f"{where}/signals/{k}"), f"{where}/signals/{k}")
        for k, v in raw.items()
    }
    return Node(_text(item, "id", where), lat, lon, signals)


def _km(item: Mapping[str, Any], index: int) -> Decimal:
    return check_distance(_decimal(item.get("km"), f"/distances/{index}/km"), "km")


def _quantity(item: Mapping[str, Any], where: str) -> int:
    value = item.get("quantity")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**12:
        raise InvalidRequest(f"{where}/quantity must be a positive whole number of units")
    return value


def _known(node: str, nodes: Mapping[str, Node], where: str) -> str:
    if node not in nodes:
        raise InvalidRequest(f"{where}/node: {node} is not in /nodes")
    return node


def _supply(index: int, item: Mapping[str, Any], nodes: Mapping[str, Node]) -> Supply:
    where = f"/supplies/{index}"
    price = item.get("base_price")
    base = parse_price(
        price if isinstance(price, str) else _decimal(price, f"{where}/base_price"),
        f"{where}/base_price",
    )
    return Supply(
        _text(item, "id", where),
        _known(_text(item, "node", where), nodes, where),
        _text(item, "category", where),
        _quantity(item, where),
        base,
    )


def _demand(index: int, item: Mapping[str, Any], nodes: Mapping[str, Node]) -> Demand:
    where = f"/demands/{index}"
    return Demand(
        _text(item, "id", where),
        _known(_text(item, "node", where), nodes, where),
        _text(item, "category", where),
        _quantity(item, where),
    )


def _unique(name: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise InvalidRequest(f"/{name}: id {value} appears twice")
        seen.add(value)


# -- the optimum ---------------------------------------------------------------------------------
def _hubs(problem: Problem) -> tuple[list[tuple[str, str]], dict[tuple[str, str], list[int]]]:
    members: dict[tuple[str, str], list[int]] = {}
    for index, demand in enumerate(problem.demands):
        members.setdefault((demand.node, demand.category), []).append(index)
    return list(members), members


def _lot_arcs(problem: Problem, hubs: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    """Every lot → hub arc of the lot's category: (lot indices, hub indices, lot LoopCost cents).

    Vectorised per lot: a lot's LoopCost to a hub's node is its base price, plus (when remote)
    its export penalty, the import penalty at that node's signal and the distance cost between
    the two nodes; each part rounded exactly as `domain/cost.py` does (checked by the tests
    against `Problem.lot_cost`).
    """
    node_ids = sorted(problem.nodes)
    position = {node: i for i, node in enumerate(node_ids)}
    distance_cents: dict[tuple[int, int], int] = {}
    by_category: dict[str, list[int]] = {}
    for h, (_node, category) in enumerate(hubs):
        by_category.setdefault(category, []).append(h)
    layouts: dict[str, tuple[Any, Any, Any, list[Decimal]]] = {}
    for category, members in by_category.items():
        nodes = [hubs[h][0] for h in members]
        signals = [signal_for(problem.nodes[n].signals, category) for n in nodes]
        distinct = sorted(set(signals))
        layouts[category] = (
            np.array(members, dtype=np.int64),
            np.array([position[n] for n in nodes], dtype=np.int64),
            np.array([distinct.index(v) for v in signals], dtype=np.int64),
            distinct,
        )
    lot_parts, hub_parts, cost_parts = [], [], []
    for s, lot in enumerate(problem.supplies):
        layout = layouts.get(lot.category)
        if layout is None:
            continue
        hub_ids, hub_nodes, signal_index, distinct = layout
        origin = position[lot.node]
        base = lot.base_price
        export = base.times(signal_for(problem.nodes[lot.node].signals, lot.category)).cents
        imports = np.array([base.times(v).cents for v in distinct], dtype=np.int64)
        distances = np.array(
            [_distance_cents(problem, distance_cents, node_ids, origin, int(n)) for n in hub_nodes],
            dtype=np.int64,
        )
        remote = base.cents + export + imports[signal_index] + distances
        costs = np.where(hub_nodes == origin, base.cents, remote)
        lot_parts.append(np.full(len(hub_ids), s, dtype=np.int64))
        hub_parts.append(hub_ids)
        cost_parts.append(costs)
    if not lot_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(lot_parts), np.concatenate(hub_parts), np.concatenate(cost_parts)


def _distance_cents(
    problem: Problem, cache: dict[tuple[int, int], int], node_ids: list[str], a: int, b: int
) -> int:
    found = cache.get((a, b))
    if found is None:
        km = problem.km(node_ids[a], node_ids[b])
        found = 0 if a == b else Money.of(km * RATE_PER_KM).cents
        cache[(a, b)] = found
    return found


def _unit_costs(problem: Problem, lots: Any, costs: Any) -> tuple[Any, bool]:
    """Integer per-unit arc costs: exact (× lcm of the lot quantities) when that fits."""
    quantities = np.array([lot.quantity for lot in problem.supplies], dtype=np.int64)
    factor = math.lcm(*{lot.quantity for lot in problem.supplies}) if problem.supplies else 1
    worst = int(costs.max()) if len(costs) else 0
    per_lot = quantities[lots]
    if worst * factor <= COST_RANGE:
        return costs * factor // per_lot, True
    scale = COST_RANGE / max(worst, 1)
    return np.rint(costs * scale / per_lot).astype(np.int64), False


def solve(problem: Problem) -> Result:
    """A maximum-quantity allocation of least total LoopCost (min-cost max-flow)."""
    hubs, members = _hubs(problem)
    lots, hub_of_arc, lot_costs = _lot_arcs(problem, hubs)
    unit_costs, exact = _unit_costs(problem, lots, lot_costs)
    n_s, n_h, n_d = len(problem.supplies), len(hubs), len(problem.demands)
    source, sink = n_s + n_h + n_d, n_s + n_h + n_d + 1
    supply_q = np.array([lot.quantity for lot in problem.supplies], dtype=np.int64)
    demand_q = np.array([d.quantity for d in problem.demands], dtype=np.int64)
    hub_tail = [h for h, hub in enumerate(hubs) for _d in members[hub]]
    hub_head = [d for hub in hubs for d in members[hub]]
    tails = np.concatenate(
        [
            np.full(n_s, source),
            lots,
            n_s + np.array(hub_tail, dtype=np.int64),
            n_s + n_h + np.arange(n_d),
        ]
    ).astype(np.int32)
    heads = np.concatenate(
        [
            np.arange(n_s),
            n_s + hub_of_arc,
            n_s + n_h + np.array(hub_head, dtype=np.int64),
            np.full(n_d, sink),
        ]
    ).astype(np.int32)
    caps = np.concatenate(
        [supply_q, supply_q[lots], demand_q[np.array(hub_head, dtype=np.int64)], demand_q]
    ).astype(np.int64)
    costs = np.concatenate(
        [np.zeros(n_s, dtype=np.int64), unit_costs, np.zeros(len(hub_head) + n_d, dtype=np.int64)]
    )
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    offered = int(supply_q.sum())
    solver.set_node_supply(source, offered)
    solver.set_node_supply(sink, -offered)
    status = solver.solve_max_flow_with_min_cost()
    if status != solver.OPTIMAL:
        raise InvalidRequest(f"the allocation could not be solved (status {status})")
    flows = solver.flows(np.arange(len(tails), dtype=np.int32))
    lot_flows = flows[n_s : n_s + len(lots)]
    hub_flows = flows[n_s + len(lots) : n_s + len(lots) + len(hub_head)]
    return _unpack(problem, hubs, members, lots, hub_of_arc, lot_flows, hub_flows, exact)


def _unpack(
    problem: Problem,
    hubs: list[tuple[str, str]],
    members: dict[tuple[str, str], list[int]],
    lots: Any,
    hub_of_arc: Any,
    lot_flows: Any,
    hub_flows: Any,
    exact: bool,
) -> Result:
    """Split each hub's inflow over its demands, filling them in turn."""
    into_hub: dict[int, list[tuple[int, int]]] = {}
    for arc in np.flatnonzero(lot_flows):
        into_hub.setdefault(int(hub_of_arc[arc]), []).append((int(lots[arc]), int(lot_flows[arc])))
    remaining: dict[int, int] = {}
    position = 0
    for hub in hubs:
        for d in members[hub]:
            remaining[d] = int(hub_flows[position])
            position += 1
    allocations: list[Allocation] = []
    cost = Fraction(0)
    for h, inflows in sorted(into_hub.items()):
        targets = [d for d in members[hubs[h]] if remaining[d]]
        for s, flow in inflows:
            while flow:
                d = targets[0]
                take = min(flow, remaining[d])
                allocation, exact_part = _allocation(problem, s, d, take)
                allocations.append(allocation)
                cost += exact_part
                flow -= take
                remaining[d] -= take
                if not remaining[d]:
                    targets.pop(0)
    return Result(allocations, cost, exact)


def _allocation(problem: Problem, s: int, d: int, quantity: int) -> tuple[Allocation, Fraction]:
    lot, demand = problem.supplies[s], problem.demands[d]
    whole = problem.lot_cost(s, demand.node)
    exact = Fraction(whole * quantity, lot.quantity)
    cents = Money.of(Decimal(exact.numerator) / Decimal(exact.denominator) / 100)
    allocation = Allocation(
        lot.id,
        demand.id,
        quantity,
        cents,
        lot.node == demand.node,
        problem.km(lot.node, demand.node),
    )
    return allocation, exact


# -- the baseline --------------------------------------------------------------------------------
def greedy(problem: Problem) -> Result:
    """Each lot in input order sends what it can to its cheapest open destinations first."""
    remaining = [d.quantity for d in problem.demands]
    hubs, members = _hubs(problem)
    lots, hub_of_arc, lot_costs = _lot_arcs(problem, hubs)
    starts = np.searchsorted(lots, np.arange(len(problem.supplies) + 1))
    allocations: list[Allocation] = []
    cost = Fraction(0)
    for s, lot in enumerate(problem.supplies):
        left = lot.quantity
        span = range(int(starts[s]), int(starts[s + 1]))
        order = sorted(
            span,
            key=lambda a: (
                int(lot_costs[a]),
                hubs[hub_of_arc[a]][0] != lot.node,
                int(hub_of_arc[a]),
            ),
        )
        for arc in order:
            for d in members[hubs[int(hub_of_arc[arc])]]:
                take = min(left, remaining[d])
                if take:
                    allocation, part = _allocation(problem, s, d, take)
                    allocations.append(allocation)
                    cost += part
                    left -= take
                    remaining[d] -= take
                if not left:
                    break
            if not left:
                break
    return Result(allocations, cost, True)
