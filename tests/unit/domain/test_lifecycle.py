"""Lifecycle tables (DECISIONS 8): every allowed and every forbidden transition, pinned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.domain.lifecycle import (
    ACTIVE_MATCH_STATES,
    LIVE_TRANSFER_STATES,
    MACHINES,
    InconsistentStateMachine,
    StateMachine,
)

# Written out from DECISIONS 8, independently of the module's tables.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "offer": {
        "open": {"reserved", "withdrawn"},
        "reserved": {"open", "withdrawn"},
        "withdrawn": set(),
    },
    "match": {
        "proposed": {"accepted", "rejected", "expired"},
        "accepted": {"expired"},
        "rejected": set(),
        "expired": set(),
    },
    "transfer": {
        "scheduled": {"in_transit", "cancelled"},
        "in_transit": {"completed", "cancelled"},
        "completed": set(),
        "cancelled": set(),
    },
    "availability": {
        "available": {"reserved", "withdrawn"},
        "reserved": {"available", "withdrawn"},
        "withdrawn": set(),
    },
    "transaction": {
        "pending": {"confirmed", "cancelled", "disputed"},
        "confirmed": {"in_transit", "cancelled", "disputed"},
        "in_transit": {"delivered", "cancelled", "disputed"},
        "delivered": {"completed", "cancelled", "disputed"},
        "completed": set(),
        "cancelled": set(),
        "disputed": set(),
    },
}
INITIAL = {
    "offer": "open",
    "match": "proposed",
    "transfer": "scheduled",
    "availability": "available",
    "transaction": "pending",
}
ALL_PAIRS = [
    (name, current, target, target in table[current])
    for name, table in EXPECTED.items()
    for current in table
    for target in table
]
ALLOWED = [(n, c, t) for n, c, t, ok in ALL_PAIRS if ok]
FORBIDDEN = [(n, c, t) for n, c, t, ok in ALL_PAIRS if not ok]


def test_machines_cover_the_five_lifecycles() -> None:
    assert set(MACHINES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_states_initial_and_terminal_states_match_decisions(name: str) -> None:
    machine = MACHINES[name]

    assert set(machine.states) == set(EXPECTED[name])
    assert machine.initial == INITIAL[name]
    assert machine.terminal == {s for s, targets in EXPECTED[name].items() if not targets}


@pytest.mark.parametrize(("name", "current", "target"), ALLOWED)
def test_declared_transition_is_allowed(name: str, current: str, target: str) -> None:
    machine = MACHINES[name]

    machine.check(current, target)
    assert machine.can(current, target)


@pytest.mark.parametrize(("name", "current", "target"), FORBIDDEN)
def test_undeclared_transition_is_a_conflict_naming_the_current_state(
    name: str, current: str, target: str
) -> None:
    machine = MACHINES[name]

    with pytest.raises(Conflict) as caught:
        machine.check(current, target)

    assert not machine.can(current, target)
    assert f"{name} is " in caught.value.message
    assert current in caught.value.message
    assert caught.value.details == {"entity": name, "current": current, "target": target}


def test_terminal_state_message_says_it_is_terminal() -> None:
    with pytest.raises(Conflict) as caught:
        MACHINES["offer"].check("withdrawn", "open")

    assert caught.value.message == "offer is withdrawn, a terminal state; it cannot become open"


def test_non_terminal_state_message_lists_the_allowed_states() -> None:
    with pytest.raises(Conflict) as caught:
        MACHINES["transfer"].check("scheduled", "completed")

    assert caught.value.message == (
        "transfer is scheduled; it cannot become completed (allowed: cancelled, in_transit)"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unknown_states_are_invalid_requests(name: str) -> None:
    machine = MACHINES[name]

    with pytest.raises(InvalidRequest):
        machine.check(machine.initial, "teleported")
    with pytest.raises(InvalidRequest):
        machine.check("teleported", machine.initial)
    with pytest.raises(InvalidRequest):
        machine.is_terminal("teleported")


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        ("match", "accepted", ["proposed", "accepted"]),
        ("match", "proposed", ["proposed"]),
        ("match", "expired", ["proposed", "expired"]),
        ("transfer", "completed", ["scheduled", "in_transit", "completed"]),
        ("offer", "reserved", ["open", "reserved"]),
        (
            "transaction",
            "completed",
            ["pending", "confirmed", "in_transit", "delivered", "completed"],
        ),
        ("transaction", "disputed", ["pending", "disputed"]),
    ],
)
def test_path_is_the_shortest_way_to_create_an_entity_in_a_state(
    name: str, target: str, expected: list[str]
) -> None:
    machine = MACHINES[name]

    assert machine.path(machine.initial, target) == expected


def test_path_from_a_terminal_state_is_unreachable() -> None:
    with pytest.raises(InvalidRequest, match="cannot reach"):
        MACHINES["match"].path("rejected", "accepted")


def test_active_match_and_live_transfer_states() -> None:
    assert {"proposed", "accepted"} == ACTIVE_MATCH_STATES
    assert {"scheduled", "in_transit", "completed"} == LIVE_TRANSFER_STATES


def test_transitions_cannot_be_mutated_through_the_machine() -> None:
    with pytest.raises(TypeError):
        MACHINES["offer"].transitions["withdrawn"] = frozenset({"open"})  # type: ignore[index]


@pytest.mark.parametrize(
    ("states", "initial", "terminal", "edges", "problem"),
    [
        (("a", "b"), "a", {"b"}, {"a": {"c"}}, "c is not declared"),
        (("a", "b"), "x", {"b"}, {"a": {"b"}}, "initial state x is not declared"),
        (("a", "b"), "a", {"b"}, {"a": {"b"}, "b": {"a"}}, "terminal state b has outgoing"),
        (("a", "b", "c"), "a", {"b", "c"}, {"a": {"b"}}, "c is unreachable"),
        (("a", "b", "c"), "a", {"c"}, {"a": {"c"}}, "non-terminal state b has no outgoing"),
        (("a", "b"), "a", {"z"}, {"a": {"b"}}, "terminal state z is not declared"),
        (("a", "a"), "a", {"a"}, {}, "declared twice"),
    ],
)
def test_inconsistent_tables_raise_when_built(
    states: tuple[str, ...],
    initial: str,
    terminal: set[str],
    edges: dict[str, set[str]],
    problem: str,
) -> None:
    with pytest.raises(InconsistentStateMachine, match=problem):
        StateMachine(
            name="broken",
            states=states,
            initial=initial,
            terminal=frozenset(terminal),
            transitions={k: frozenset(v) for k, v in edges.items()},
        )


@given(st.sampled_from(sorted(EXPECTED)), st.data())
def test_random_walks_never_leave_a_terminal_state(name: str, data: st.DataObject) -> None:
    machine = MACHINES[name]
    state = machine.initial
    reached_terminal = False
    # Attempt arbitrary transitions, allowed or not; apply those check() lets through.
    for target in data.draw(st.lists(st.sampled_from(machine.states), max_size=40)):
        try:
            machine.check(state, target)
        except Conflict:
            assert target not in EXPECTED[name][state]
            continue
        assert not reached_terminal, f"{name} left terminal state {state} for {target}"
        state = target
        reached_terminal = machine.is_terminal(state)
    assert reached_terminal == (state in machine.terminal)
