"""Multilateral clearing of inter-node obligations (issue 10; docs/ledger.md §Clearing).

Nodes owe each other amounts in one unit of account (the backing currency, in cents). Clearing
cancels as much debt as possible without changing anyone's net position: it finds a
**circulation** f on the obligation graph (0 ≤ f ≤ amount on each debtor → creditor edge, flow
conserved at every node) of maximum total Σ f. The remaining obligations `amount − f`:
- leave every party's net position (owed to it minus owed by it) unchanged,
- never grow any pair's obligation and never create a new pair,
- are the smallest total that does so (the circulation is maximal).

Solved as a min-cost circulation with OR-Tools' `SimpleMinCostFlow` in integer cents: each
edge is saturated up front and replaced by its reverse arc of cost 1, so the solver only sees
non-negative costs; undoing a unit of flow on the reverse arc costs 1, so the minimum cost is
the uncleared amount. Obligations between the same pair are added up first.

`bilateral_netting` is the baseline a pair of nodes can do alone: A owes B 100 and B owes A 30
clears 60.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from loopnode.domain.errors import InvalidRequest

Pair = tuple[str, str]
MAX_TOTAL = 2**62  # integer cents, summed in 64-bit arithmetic by the solver


@dataclass(frozen=True, slots=True)
class Obligation:
    debtor: str
    creditor: str
    cents: int


@dataclass(frozen=True, slots=True)
class Clearing:
    total_cents: int
    cleared_cents: int
    remaining: tuple[Obligation, ...]

    @property
    def share(self) -> float:
        return self.cleared_cents / self.total_cents if self.total_cents else 0.0


def pairs(obligations: Iterable[Obligation]) -> dict[Pair, int]:
    """Amounts per (debtor, creditor), refusing self-debts and non-positive amounts."""
    summed: dict[Pair, int] = defaultdict(int)
    for item in obligations:
        if item.debtor == item.creditor:
            raise InvalidRequest("an obligation needs two parties", {"party": item.debtor})
        if item.cents <= 0:
            raise InvalidRequest(
                "obligation amounts must be positive",
                {"debtor": item.debtor, "creditor": item.creditor},
            )
        summed[(item.debtor, item.creditor)] += item.cents
    return dict(summed)


def net_positions(edges: Mapping[Pair, int]) -> dict[str, int]:
    """What each party is owed minus what it owes."""
    net: dict[str, int] = defaultdict(int)
    for (debtor, creditor), cents in edges.items():
        net[debtor] -= cents
        net[creditor] += cents
    return {party: value for party, value in net.items() if value}


def clear(obligations: Iterable[Obligation]) -> Clearing:
    """The maximum multilateral set-off of `obligations`."""
    edges = pairs(obligations)
    total = sum(edges.values())
    if total > MAX_TOTAL:
        raise InvalidRequest("the obligations add up to more than the solver takes", {})
    if not edges:
        return Clearing(0, 0, ())
    index: dict[str, int] = {}
    for debtor, creditor in edges:
        index.setdefault(debtor, len(index))
        index.setdefault(creditor, len(index))
    keys = list(edges)
    debtors = np.fromiter((index[d] for d, _ in keys), dtype=np.int32, count=len(keys))
    creditors = np.fromiter((index[c] for _, c in keys), dtype=np.int32, count=len(keys))
    amounts = np.fromiter(edges.values(), dtype=np.int64, count=len(keys))
    # Saturated edge debtor → creditor; the reverse arc gives flow back at cost 1.
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        creditors, debtors, amounts, np.ones(len(keys), dtype=np.int64)
    )
    supply = np.zeros(len(index), dtype=np.int64)
    np.add.at(supply, creditors, amounts)
    np.subtract.at(supply, debtors, amounts)
    solver.set_nodes_supplies(np.arange(len(index), dtype=np.int32), supply)
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"the clearing solver failed (status {status})")
    flows = solver.flows(arcs)
    remaining = tuple(
        Obligation(debtor, creditor, int(flow))
        for (debtor, creditor), flow in zip(keys, flows, strict=True)
        if flow > 0
    )
    uncleared = sum(item.cents for item in remaining)
    return Clearing(total, total - uncleared, remaining)


def bilateral_netting(obligations: Iterable[Obligation]) -> int:
    """Cents cleared by netting each pair of nodes against each other only."""
    edges = pairs(obligations)
    cleared = 0
    for (debtor, creditor), cents in edges.items():
        if debtor < creditor:
            cleared += 2 * min(cents, edges.get((creditor, debtor), 0))
    return cleared


def violations(original: Iterable[Obligation], remaining: Iterable[Obligation]) -> list[str]:
    """What is wrong with `remaining` as a clearing of `original` (empty when it is valid)."""
    before, after = pairs(original), pairs(remaining)
    problems = [f"new pair {pair}" for pair in after if pair not in before]
    problems += [f"pair {p} grew" for p, cents in after.items() if cents > before.get(p, 0)]
    if net_positions(before) != net_positions(after):
        problems.append("net positions changed")
    return problems
