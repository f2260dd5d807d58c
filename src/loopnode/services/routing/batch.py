"""Batch allocation as a use case: parse, solve optimally, compare with greedy, time each step.

The rules and the solver are `domain/allocation.py`; this adds the wire shape shared by
`POST /api/v1/route/batch` and `loopnode route batch FILE --json`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from loopnode.domain.allocation import Result, greedy, parse_problem, solve


def allocate(document: Mapping[str, Any], *, with_greedy: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    problem = parse_problem(document)
    parsed = time.perf_counter()
    best = solve(problem)
    solved = time.perf_counter()
    answer: dict[str, Any] = {
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
        "exact": best.exact,
        "solver": "ortools-min-cost-flow",
    }
    if with_greedy:
        answer["greedy"] = _baseline(greedy(problem))
    answer["timings_s"] = {
        "build": round(parsed - started, 4),
        "solve": round(solved - parsed, 4),
        "greedy": round(time.perf_counter() - solved, 4) if with_greedy else None,
    }
    return answer


def _baseline(result: Result) -> dict[str, Any]:
    return {**result.summary(), "allocations": len(result.allocations)}
