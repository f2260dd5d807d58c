"""The LoopSignal governance rules (DECISIONS 17): the 0.10 cap, exact decimals, majority."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.signals import (
    Change,
    apply_changes,
    check_changes,
    period_of,
    period_usage,
    signal_for,
    tally,
)

D = Decimal
IN_FORCE = {"plastic-pet": D("0.3"), "default": D("0.05")}


def test_a_change_of_exactly_a_tenth_passes_in_decimal() -> None:
    check_changes([Change("plastic-pet", D("0.3"), D("0.4"))], IN_FORCE, {})


def test_a_change_of_more_than_a_tenth_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"at most 0\.10"):
        check_changes([Change("plastic-pet", D("0.3"), D("0.41"))], IN_FORCE, {})


def test_a_decrease_counts_like_an_increase() -> None:
    with pytest.raises(InvalidRequest):
        check_changes([Change("plastic-pet", D("0.3"), D("0.19"))], IN_FORCE, {})


def test_two_proposals_in_one_period_share_the_cap() -> None:
    first = [Change("plastic-pet", D("0.3"), D("0.35"))]
    used = period_usage([first])
    check_changes([Change("plastic-pet", D("0.3"), D("0.35"))], IN_FORCE, used)
    with pytest.raises(InvalidRequest, match=r"already changes by 0\.05"):
        check_changes([Change("plastic-pet", D("0.3"), D("0.36"))], IN_FORCE, used)


def test_the_cap_is_per_category() -> None:
    used = period_usage([[Change("plastic-pet", D("0.3"), D("0.4"))]])
    check_changes([Change("organic-food", D("0.05"), D("0.15"))], IN_FORCE, used)


def test_current_must_equal_the_value_in_force_including_the_default() -> None:
    with pytest.raises(InvalidRequest, match="in the config in force"):
        check_changes([Change("plastic-pet", D("0.2"), D("0.25"))], IN_FORCE, {})
    check_changes([Change("glass-clear", D("0.05"), D("0.1"))], IN_FORCE, {})


@pytest.mark.parametrize("proposed", [D("-0.01"), D("1.01")])
def test_values_stay_within_zero_and_one(proposed: Decimal) -> None:
    in_force = {"plastic-pet": D("0"), "metal-steel": D("1")}
    current = D("0") if proposed < 0 else D("1")
    category = "plastic-pet" if proposed < 0 else "metal-steel"
    with pytest.raises(InvalidRequest, match="between 0 and 1"):
        check_changes([Change(category, current, proposed)], in_force, {})


def test_unknown_categories_and_duplicates_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="not a material category"):
        check_changes([Change("plutonium", D("0.05"), D("0.1"))], IN_FORCE, {})
    twice = [Change("plastic-pet", D("0.3"), D("0.32"))] * 2
    with pytest.raises(InvalidRequest, match="twice"):
        check_changes(twice, IN_FORCE, {})


def test_signal_for_falls_back_to_default_then_zero() -> None:
    assert signal_for(IN_FORCE, "plastic-pet") == D("0.3")
    assert signal_for(IN_FORCE, "cardboard") == D("0.05")
    assert signal_for({}, "cardboard") == D(0)


def test_apply_changes_keeps_the_other_values() -> None:
    updated = apply_changes(IN_FORCE, [Change("plastic-pet", D("0.3"), D("0.4"))])
    assert updated == {"plastic-pet": D("0.4"), "default": D("0.05")}


def test_period_is_the_month_voting_closes() -> None:
    assert period_of(datetime(2026, 6, 30, 23, 59, tzinfo=UTC)) == "2026-06"


def test_simple_majority_of_votes_cast() -> None:
    assert tally(["for", "for", "against"]).status == "passed"
    assert tally(["for", "against"]).status == "failed"
    assert tally([]).status == "failed"


def test_quorum_counts_against_the_electorate() -> None:
    votes = ["for", "for", "against"]
    assert tally(votes, eligible=10, quorum=D("0.3")).status == "passed"
    assert tally(votes, eligible=11, quorum=D("0.3")).status == "failed"
    counted = tally(votes, eligible=10)
    assert (counted.eligible, counted.voted, counted.votes_for) == (10, 3, 2)


@given(st.lists(st.decimals(min_value=-1, max_value=1, places=3), max_size=12))
def test_accepted_changes_never_move_a_category_more_than_a_tenth(steps: list[Decimal]) -> None:
    in_force = {"plastic-pet": D("0.5")}
    accepted: list[list[Change]] = []
    for step in steps:
        proposal = [Change("plastic-pet", D("0.5"), D("0.5") + step)]
        try:
            check_changes(proposal, in_force, period_usage(accepted))
        except InvalidRequest:
            continue
        accepted.append(proposal)
    assert sum((abs(p[0].proposed - p[0].current) for p in accepted), D(0)) <= D("0.10")
