"""Properties of the pure exchange and custody rules (domain/exchange.py, domain/custody.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loopnode.domain import exchange as rules
from loopnode.domain.custody import json_number, moves_whole, split
from loopnode.domain.errors import Conflict, InvalidRequest, LoopError, NodeFailure
from loopnode.domain.lifecycle import ACTIVE_MATCH_STATES, LIVE_TRANSFER_STATES, MACHINES

MICRO = st.integers(min_value=0, max_value=10**15)
MACHINE = st.sampled_from(sorted(MACHINES))


def subject(quantity: int, offered: int, availability: str = "available") -> rules.Subject:
    return rules.Subject("MAT-1", "material", "kg", availability, quantity, offered)


@st.composite
def subjects(draw: st.DrawFn) -> rules.Subject:
    quantity = draw(MICRO)
    return subject(quantity, draw(st.integers(0, quantity)))


# -- offered quantity --------------------------------------------------------------------------
@given(subjects(), MICRO)
def test_offers_never_hold_more_than_the_subject(held: rules.Subject, micro: int) -> None:
    after = rules.offered_after_reserve(held, micro)
    if after is None:
        assert held.offered_micro + micro > held.quantity_micro
        with pytest.raises(InvalidRequest) as refused:
            rules.require_room(held, micro)
        assert refused.value.details["requested_micro"] == micro
    else:
        assert after == held.offered_micro + micro <= held.quantity_micro
        rules.require_room(held, micro)


@given(subjects(), MICRO)
def test_releasing_what_was_reserved_restores_the_offered_quantity(
    held: rules.Subject, micro: int
) -> None:
    after = rules.offered_after_reserve(held, micro)
    assume(after is not None)
    assert after is not None
    assert rules.offered_after_release(after, micro) == held.offered_micro


@given(MICRO, MICRO)
def test_a_release_of_more_than_is_held_is_a_node_failure(offered: int, extra: int) -> None:
    with pytest.raises(NodeFailure):
        rules.offered_after_release(offered, offered + extra + 1)


# -- state machines ----------------------------------------------------------------------------
@given(MACHINE, st.data())
def test_no_transition_leaves_a_terminal_state(name: str, data: st.DataObject) -> None:
    machine = MACHINES[name]
    assume(machine.terminal)
    current = data.draw(st.sampled_from(sorted(machine.terminal)))
    target = data.draw(st.sampled_from(machine.states))
    with pytest.raises(Conflict):
        machine.check(current, target)


@given(MACHINE, st.data())
def test_a_creation_path_splits_into_plain_states_then_the_rest(
    name: str, data: st.DataObject
) -> None:
    machine = MACHINES[name]
    target = data.draw(st.sampled_from(machine.states))
    path = machine.path(machine.initial, target)
    plain, rest = rules.plain_prefix(machine, path[1:])
    assert plain + rest == path[1:]
    assert not set(plain) & machine.terminal
    assert not rest or rest[0] in machine.terminal


# -- offers and matches ------------------------------------------------------------------------
STATUS = st.sampled_from(MACHINES["offer"].states)
HELD_MATCH = st.none() | st.builds(rules.Held, st.just("MCH-1"), st.sampled_from(["proposed"]))


@given(STATUS, st.integers(0, 10), st.integers(0, 10), HELD_MATCH)
def test_an_offer_is_matchable_only_open_and_in_time(
    status: str, until: int, now: int, active: rules.Held | None
) -> None:
    offer = rules.Held("OFR-1", status)
    try:
        rules.check_matchable(offer, until, now, active)
    except LoopError as refusal:
        assert status != "open" or until <= now
        if isinstance(refusal, Conflict):  # only the "one active match" rule is a 409
            assert status == "reserved" and until > now and active is not None
    else:
        assert status == "open" and until > now


@given(STATUS, STATUS, HELD_MATCH)
def test_by_hand_an_offer_never_becomes_reserved_nor_reopens_under_a_match(
    current: str, target: str, active: rules.Held | None
) -> None:
    try:
        rules.check_offer_move(rules.Held("OFR-1", current), target, active)
    except (Conflict, InvalidRequest):
        return
    assert target != "reserved"
    assert target != "open" or active is None
    assert MACHINES["offer"].can(current, target)


@given(st.sampled_from(MACHINES["match"].states))
def test_a_match_ends_exactly_when_it_leaves_the_active_states(target: str) -> None:
    assert rules.ends_match(target) == (target not in ACTIVE_MATCH_STATES)


@given(
    st.sampled_from(MACHINES["match"].states),
    st.none() | st.sampled_from(sorted(LIVE_TRANSFER_STATES)),
)
def test_one_live_transfer_per_accepted_match(match_status: str, live: str | None) -> None:
    held_live = None if live is None else rules.Held("TRF-1", live)
    try:
        rules.check_transfer_allowed(rules.Held("MCH-1", match_status), held_live)
    except (Conflict, InvalidRequest):
        assert match_status != "accepted" or live is not None
    else:
        assert match_status == "accepted" and live is None


def test_goods_on_their_way_keep_their_match() -> None:
    with pytest.raises(Conflict) as refused:
        rules.check_no_live_transfer(
            rules.Held("MCH-1", "accepted"), "expired", rules.Held("TRF-1", "in_transit")
        )
    assert refused.value.details["transfer_id"] == "TRF-1"
    rules.check_no_live_transfer(rules.Held("MCH-1", "accepted"), "expired", None)


def test_a_withdrawn_subject_takes_no_offer_and_no_offer_is_created_reserved() -> None:
    with pytest.raises(InvalidRequest):
        rules.check_offerable(subject(10, 0, "withdrawn"))
    rules.check_offerable(subject(10, 0, "reserved"))
    with pytest.raises(InvalidRequest):
        rules.check_new_offer("reserved", "2030-01-01T00:00:00Z", 10, 0)
    with pytest.raises(InvalidRequest) as passed:
        rules.check_new_offer("open", "2020-01-01T00:00:00Z", 5, 5)
    assert passed.value.details == {"available_until": "2020-01-01T00:00:00Z"}
    rules.check_new_offer("withdrawn", "2020-01-01T00:00:00Z", 5, 5)  # already over: fine


def test_only_completion_fulfils_an_offer() -> None:
    assert [s for s in MACHINES["transfer"].states if rules.fulfils_offer(s)] == ["completed"]


# -- custody -----------------------------------------------------------------------------------
VALUES = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False)


@given(st.integers(2, 10**15), st.data(), VALUES, VALUES)
def test_a_split_conserves_the_quantity(
    record: int, data: st.DataObject, value: Decimal, moved: Decimal
) -> None:
    offer = data.draw(st.integers(1, record - 1))
    assert not moves_whole(record, offer)
    parts = split(record, offer, value, moved)
    assert parts.parent_micro + parts.child_micro == record
    assert parts.parent_micro > 0 and parts.child_micro == offer
    assert parts.parent_value >= 0 and parts.child_value == moved
    if moved <= value:
        assert parts.parent_value + parts.child_value == value


@given(MICRO, MICRO)
def test_a_transfer_of_at_least_the_whole_moves_the_record(record: int, offer: int) -> None:
    assert moves_whole(record, offer) == (offer >= record)


@given(VALUES)
def test_json_numbers_keep_the_decimals_value(value: Decimal) -> None:
    number = json_number(value)
    assert Decimal(repr(number)) == value
    assert isinstance(number, int) == (value == value.to_integral_value())
