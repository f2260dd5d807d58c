"""Batch allocation (issue 11 item 6): the min-cost max-flow optimum equals an independent LP's
(scipy linprog) and is never worse than greedy; local first; input checks."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from loopnode.domain.allocation import greedy, parse_problem, solve
from loopnode.domain.errors import InvalidRequest

NODES = [
    {
        "id": "munich.loop",
        "lat": 48.137,
        "lon": 11.575,
        "signals": {"organic-food": 0.4, "default": 0.05},
    },
    {"id": "vienna.loop", "lat": 48.208, "lon": 16.373, "signals": {"organic-food": 0.2}},
    {"id": "berlin.loop", "lat": 52.52, "lon": 13.405, "signals": {"default": 0.1}},
]


def test_local_demand_is_served_first_and_the_rest_overflows() -> None:
    problem = parse_problem(
        {
            "nodes": NODES,
            "distances": [{"from": "munich.loop", "to": "vienna.loop", "km": 400}],
            "supplies": [
                {
                    "id": "grain",
                    "node": "munich.loop",
                    "category": "organic-food",
                    "quantity": 500,
                    "base_price": 60,
                },
            ],
            "demands": [
                {
                    "id": "vienna-mill",
                    "node": "vienna.loop",
                    "category": "organic-food",
                    "quantity": 500,
                },
                {"id": "farm", "node": "munich.loop", "category": "organic-food", "quantity": 300},
            ],
        }
    )
    result = solve(problem)
    got = {(a.supply, a.demand): (a.quantity, str(a.loop_cost)) for a in result.allocations}
    # 300/500 of 60.00 locally; 200/500 of the 104.00 LoopCost to Vienna (§12.1)
    assert got == {("grain", "farm"): (300, "36.00"), ("grain", "vienna-mill"): (200, "41.60")}
    summary = result.summary()
    assert summary["total_loop_cost"] == "77.60"
    assert summary["local_share"] == "0.6000"
    assert summary["km_moved"] == "400"
    assert result.exact


def random_problem(seed: int, n_supply: int, n_demand: int) -> dict[str, Any]:
    rng = random.Random(seed)
    categories = ["organic-food", "plastic-pet"]
    nodes = [
        {
            "id": f"n{i}.loop",
            "lat": rng.uniform(45, 55),
            "lon": rng.uniform(5, 20),
            "signals": {
                "default": rng.choice([0, 0.05, 0.1, 0.25]),
                "organic-food": rng.choice([0, 0.2, 0.4]),
            },
        }
        for i in range(4)
    ]
    supplies = [
        {
            "id": f"s{i}",
            "node": rng.choice(nodes)["id"],
            "category": rng.choice(categories),
            "quantity": rng.randint(1, 40),
            "base_price": rng.randint(0, 20000) / 100,
        }
        for i in range(n_supply)
    ]
    demands = [
        {
            "id": f"d{i}",
            "node": rng.choice(nodes)["id"],
            "category": rng.choice(categories),
            "quantity": rng.randint(1, 40),
        }
        for i in range(n_demand)
    ]
    return {"nodes": nodes, "supplies": supplies, "demands": demands}


def lp_optimum(document: dict[str, Any]) -> tuple[float, float]:
    """Max flow, then least cost at that flow, as two linear programs (an independent oracle)."""
    problem = parse_problem(document)
    pairs = [
        (s, d)
        for s, lot in enumerate(problem.supplies)
        for d, demand in enumerate(problem.demands)
        if lot.category == demand.category
    ]
    if not pairs:
        return 0.0, 0.0
    rows, bounds = [], []
    for s, lot in enumerate(problem.supplies):
        rows.append([1.0 if ps == s else 0.0 for ps, _ in pairs])
        bounds.append(lot.quantity)
    for d, demand in enumerate(problem.demands):
        rows.append([1.0 if pd == d else 0.0 for _, pd in pairs])
        bounds.append(demand.quantity)
    a_ub, b_ub = np.array(rows), np.array(bounds, dtype=float)
    flow = linprog(-np.ones(len(pairs)), A_ub=a_ub, b_ub=b_ub, method="highs")
    best_flow = -flow.fun
    costs = [
        problem.lot_cost(s, problem.demands[d].node) / problem.supplies[s].quantity
        for s, d in pairs
    ]
    cheapest = linprog(
        np.array(costs),
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=np.ones((1, len(pairs))),
        b_eq=[best_flow],
        method="highs",
    )
    return best_flow, cheapest.fun


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(1, 8))
def test_the_optimum_equals_the_lp_and_beats_greedy(seed: int, n_s: int, n_d: int) -> None:
    document = random_problem(seed, n_s, n_d)
    problem = parse_problem(document)
    result = solve(problem)
    flow, cost = lp_optimum(document)
    assert result.moved == round(flow)
    assert float(result.exact_cost) == pytest.approx(cost, rel=1e-9, abs=1e-6)
    baseline = greedy(parse_problem(document))
    assert result.moved >= baseline.moved
    if result.moved == baseline.moved:
        assert result.exact_cost <= baseline.exact_cost
    supplied: dict[str, int] = {}
    for a in result.allocations:
        supplied[a.supply] = supplied.get(a.supply, 0) + a.quantity
    assert all(supplied[s.id] <= s.quantity for s in problem.supplies if s.id in supplied)


def test_greedy_can_be_worse_and_the_optimum_is_not() -> None:
    # One lot in Munich, one in Berlin; Munich's demand arrives second in input order.
    document = {
        "nodes": NODES,
        "supplies": [
            {
                "id": "a",
                "node": "munich.loop",
                "category": "cardboard",
                "quantity": 10,
                "base_price": 10,
            },
            {
                "id": "b",
                "node": "berlin.loop",
                "category": "cardboard",
                "quantity": 10,
                "base_price": 10,
            },
        ],
        "demands": [
            {"id": "in-berlin", "node": "berlin.loop", "category": "cardboard", "quantity": 10},
            {"id": "in-munich", "node": "munich.loop", "category": "cardboard", "quantity": 10},
        ],
    }
    best = solve(parse_problem(document))
    assert {(a.supply, a.demand) for a in best.allocations} == {
        ("a", "in-munich"),
        ("b", "in-berlin"),
    }
    assert best.summary()["local_share"] == "1.0000"


@pytest.mark.parametrize(
    "change",
    [
        {
            "supplies": [
                {"id": "x", "node": "nowhere.loop", "category": "c", "quantity": 1, "base_price": 1}
            ]
        },
        {
            "supplies": [
                {
                    "id": "x",
                    "node": "munich.loop",
                    "category": "c",
                    "quantity": 1.5,
                    "base_price": 1,
                }
            ]
        },
        {
            "supplies": [
                {
                    "id": "x",
                    "node": "munich.loop",
                    "category": "c",
                    "quantity": 1,
                    "base_price": "1.001",
                }
            ]
        },
        {"nodes": [{"id": "munich.loop", "signals": {"default": 2}}]},
        {"demands": "all of them"},
        {"extra": 1},
    ],
)
def test_malformed_batches_are_refused(change: dict[str, Any]) -> None:
    document: dict[str, Any] = {"nodes": NODES, "supplies": [], "demands": [], **change}
    with pytest.raises(InvalidRequest):
        parse_problem(document)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6))
def test_vectorised_arc_costs_equal_the_loop_cost_formula(seed: int) -> None:
    from loopnode.domain.allocation import _hubs, _lot_arcs

    problem = parse_problem(random_problem(seed, 12, 12))
    hubs, _members = _hubs(problem)
    lots, hub_of_arc, costs = _lot_arcs(problem, hubs)
    for lot, hub, cost in zip(lots, hub_of_arc, costs, strict=True):
        assert problem.lot_cost(int(lot), hubs[int(hub)][0]) == int(cost)
