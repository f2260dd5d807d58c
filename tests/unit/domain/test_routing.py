"""Selecting a destination: lowest LoopCost, local wins ties, only firm and eligible ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.routing import Candidate, select


def demand(cents: int, ref: str = "DEM-1", eligible: bool = True) -> Candidate:
    return Candidate("local-demand", "munich.loop", ref, cents, True, True, eligible)


def bid(cents: int, node: str = "vienna.loop") -> Candidate:
    return Candidate("bid", node, "7", cents, False, True)


def signal(cents: int, node: str = "zurich.loop") -> Candidate:
    return Candidate("peer-signal", node, None, cents, False, False)


def test_spec_12_1_selects_the_local_buyer() -> None:
    chosen = select([bid(10400), bid(10300, "berlin.loop"), demand(5000)])
    assert chosen.selected == demand(5000)
    assert chosen.reason == "lowest_loop_cost"
    assert [c.cost_cents for c in chosen.ranked] == [5000, 10300, 10400]


def test_local_wins_a_tie() -> None:
    chosen = select([bid(6000), demand(6000)])
    assert chosen.selected is not None and chosen.selected.local
    assert chosen.reason == "lowest_loop_cost; local wins the tie"


def test_tentative_and_ineligible_candidates_are_never_selected() -> None:
    chosen = select([signal(100), demand(50, eligible=False), bid(9000)])
    assert chosen.selected == bid(9000)
    assert select([signal(100)]).selected is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["d", "b", "s"]), st.integers(0, 10**6), st.booleans()),
        max_size=12,
    )
)
def test_the_selection_is_a_cheapest_firm_eligible_candidate(items: list[tuple]) -> None:
    candidates = [
        demand(c, f"D{i}", e) if k == "d" else bid(c, f"n{i}.loop") if k == "b" else signal(c)
        for i, (k, c, e) in enumerate(items)
    ]
    chosen = select(candidates)
    firm = [c for c in candidates if c.firm and c.eligible]
    if not firm:
        assert chosen.selected is None
        return
    assert chosen.selected is not None
    cheapest = min(c.cost_cents or 0 for c in firm)
    assert chosen.selected.cost_cents == cheapest
    if any(c.local and c.cost_cents == cheapest for c in firm):
        assert chosen.selected.local
