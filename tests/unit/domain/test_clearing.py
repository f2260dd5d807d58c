"""Multilateral clearing (issue 10): invariants, the hand fixture, and the optimum against an
independent solver (a linear program solved by SciPy's HiGHS) on small random graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from loopnode.domain.clearing import (
    Obligation,
    bilateral_netting,
    clear,
    net_positions,
    pairs,
    violations,
)
from loopnode.domain.errors import InvalidRequest

FIXTURE = [
    Obligation("10", "20", 10_000),
    Obligation("20", "30", 10_000),
    Obligation("30", "10", 20_000),
    Obligation("40", "30", 10_000),
]

graphs = st.lists(
    st.builds(
        Obligation,
        st.sampled_from("ABCDEF"),
        st.sampled_from("ABCDEF"),
        st.integers(min_value=1, max_value=50_000),
    ).filter(lambda o: o.debtor != o.creditor),
    max_size=18,
)


def lp_optimum(obligations: list[Obligation]) -> int:
    """max Σ f subject to 0 ≤ f ≤ amount and conservation at every node, by HiGHS."""
    edges = list(pairs(obligations).items())
    if not edges:
        return 0
    nodes = sorted({party for (d, c), _ in edges for party in (d, c)})
    conservation = np.zeros((len(nodes), len(edges)))
    for column, ((debtor, creditor), _) in enumerate(edges):
        conservation[nodes.index(debtor), column] = 1
        conservation[nodes.index(creditor), column] = -1
    result = linprog(
        c=-np.ones(len(edges)),
        A_eq=conservation,
        b_eq=np.zeros(len(nodes)),
        bounds=[(0, cents) for _, cents in edges],
        method="highs",
    )
    assert result.status == 0
    return round(-result.fun)


def test_the_issue_fixture_clears_300_of_500() -> None:
    result = clear(FIXTURE)
    assert (result.total_cents, result.cleared_cents) == (50_000, 30_000)
    assert set(result.remaining) == {Obligation("30", "10", 10_000), Obligation("40", "30", 10_000)}
    assert bilateral_netting(FIXTURE) == 0


@settings(max_examples=150, derandomize=True, deadline=None)
@given(graphs)
def test_clearing_keeps_net_positions_never_grows_a_pair_and_is_optimal(
    obligations: list[Obligation],
) -> None:
    result = clear(obligations)
    assert violations(obligations, result.remaining) == []
    assert net_positions(pairs(obligations)) == net_positions(pairs(result.remaining))
    assert result.cleared_cents == result.total_cents - sum(o.cents for o in result.remaining)
    assert result.cleared_cents == lp_optimum(obligations)
    assert result.cleared_cents >= bilateral_netting(obligations)


def test_the_invariant_checker_catches_a_wrong_answer() -> None:
    assert violations(FIXTURE, [Obligation("40", "10", 10_000)]) != []
    assert "new pair ('10', '40')" in violations(FIXTURE, [Obligation("10", "40", 1)])


def test_self_debts_and_non_positive_amounts_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        clear([Obligation("A", "A", 5)])
    with pytest.raises(InvalidRequest):
        clear([Obligation("A", "B", 0)])


def test_totals_beyond_64_bit_arithmetic_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        clear([Obligation("A", "B", 2**61), Obligation("B", "A", 2**61), Obligation("A", "C", 5)])


def test_bilateral_netting_nets_each_pair_only() -> None:
    both_ways = [Obligation("A", "B", 100), Obligation("B", "A", 30), Obligation("B", "C", 5)]
    assert bilateral_netting(both_ways) == 60
    assert clear(both_ways).cleared_cents == 60


def test_the_cli_prints_cleared_and_remaining_as_json(tmp_path: Path) -> None:
    file = tmp_path / "obligations.json"
    file.write_text(
        json.dumps(
            {
                "obligations": [
                    {
                        "id": str(i),
                        "debtor": o.debtor,
                        "creditor": o.creditor,
                        "amount": f"{o.cents // 100}.00",
                    }
                    for i, o in enumerate(FIXTURE)
                ]
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "loopnode.cli", "clearing", "solve", str(file), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["cleared"] == "300.00"
    remaining = sorted(answer["remaining"], key=lambda r: r["debtor"])
    assert remaining == [
        {"debtor": "30", "creditor": "10", "amount": "100.00"},
        {"debtor": "40", "creditor": "30", "amount": "100.00"},
    ]
    file.write_text('{"obligations": [{"debtor": "a", "creditor": "b", "amount": "1.001"}]}')
    bad = subprocess.run(
        [sys.executable, "-m", "loopnode.cli", "clearing", "solve", str(file), "--json"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stdout == ""
