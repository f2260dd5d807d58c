"""Lifecycle state machines as data (SPEC-DIGEST §3.3, §7 item 6; DECISIONS 8).

Each machine is a table: states, the initial state, terminal states and the allowed transitions.
`StateMachine` checks its own table when it is built, so an inconsistent table fails at import
time rather than in production: every state reachable from the initial one, terminal states
without outgoing transitions, non-terminal states with at least one, every transition between
declared states.

Terminal states are absorbing; an undeclared transition raises `Conflict` (409). An entity may be
created directly in any state reachable from the initial one; `path` gives the implied sequence
(a Match created `accepted` went through `proposed`), so the caller can apply what each implied
transition means (reserve the offer, record evidence).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from loopnode.domain.errors import Conflict, InvalidRequest, LoopError

__all__ = [
    "ACTIVE_MATCH_STATES",
    "LIVE_TRANSFER_STATES",
    "MACHINES",
    "InconsistentStateMachine",
    "StateMachine",
]


class InconsistentStateMachine(LoopError):
    """A transition table contradicts itself: a bug in this module, raised at import."""


@dataclass(frozen=True, eq=False)
class StateMachine:
    """One entity's lifecycle. `transitions` maps a state to the states it may become."""

    name: str
    states: tuple[str, ...]
    initial: str
    terminal: frozenset[str]
    transitions: Mapping[str, frozenset[str]] = field(repr=False)

    def __post_init__(self) -> None:
        frozen = {source: frozenset(targets) for source, targets in self.transitions.items()}
        object.__setattr__(self, "transitions", MappingProxyType(frozen))
        object.__setattr__(self, "terminal", frozenset(self.terminal))
        _check_consistent(self)

    def is_terminal(self, state: str) -> bool:
        self._require_state(state)
        return state in self.terminal

    def allowed(self, current: str) -> frozenset[str]:
        """The states `current` may become (empty for terminal states)."""
        self._require_state(current)
        return self.transitions.get(current, frozenset())

    def can(self, current: str, target: str) -> bool:
        self._require_state(target)
        return target in self.allowed(current)

    def check(self, current: str, target: str) -> None:
        """Raise `Conflict` unless `current` → `target` is a declared transition.

        Staying in the same state is not a transition either; a caller that wants idempotent
        updates compares before calling.
        """
        if self.can(current, target):
            return
        if current in self.terminal:
            reason = f"{self.name} is {current}, a terminal state; it cannot become {target}"
        elif current == target:
            reason = f"{self.name} is already {current}"
        else:
            allowed = ", ".join(sorted(self.allowed(current)))
            reason = f"{self.name} is {current}; it cannot become {target} (allowed: {allowed})"
        raise Conflict(reason, {"entity": self.name, "current": current, "target": target})

    def path(self, initial: str, target: str) -> list[str]:
        """The shortest sequence of states from `initial` to `target`, both included.

        Raises `InvalidRequest` if `target` cannot be reached from `initial`.
        """
        self._require_state(initial)
        self._require_state(target)
        previous: dict[str, str | None] = {initial: None}
        queue = deque([initial])
        while queue:
            state = queue.popleft()
            if state == target:
                return _unwind(previous, target)
            for successor in sorted(self.transitions.get(state, frozenset())):
                if successor not in previous:
                    previous[successor] = state
                    queue.append(successor)
        raise InvalidRequest(f"{self.name} cannot reach {target} from {initial}")

    def _require_state(self, state: str) -> None:
        if state not in self.states:
            known = ", ".join(self.states)
            raise InvalidRequest(f"{self.name} has no state {state[:40]!r} (states: {known})")


def _unwind(previous: Mapping[str, str | None], target: str) -> list[str]:
    steps: list[str] = []
    state: str | None = target
    while state is not None:
        steps.append(state)
        state = previous[state]
    return steps[::-1]


def _check_consistent(machine: StateMachine) -> None:
    declared = set(machine.states)
    problems: list[str] = []
    if len(declared) != len(machine.states):
        problems.append("a state is declared twice")
    if machine.initial not in declared:
        problems.append(f"initial state {machine.initial} is not declared")
    problems += [f"terminal state {s} is not declared" for s in machine.terminal - declared]
    for source, targets in machine.transitions.items():
        problems += [f"{source} → {t}: {t} is not declared" for t in sorted(targets - declared)]
        if source not in declared:
            problems.append(f"transition source {source} is not declared")
        if source in machine.terminal and targets:
            problems.append(f"terminal state {source} has outgoing transitions")
    for state in machine.states:
        if state not in machine.terminal and not machine.transitions.get(state):
            problems.append(f"non-terminal state {state} has no outgoing transition")
    if not problems:
        unreachable = declared - _reachable(machine.initial, machine.transitions)
        problems += [f"{s} is unreachable from {machine.initial}" for s in sorted(unreachable)]
    if problems:
        raise InconsistentStateMachine(f"{machine.name} state machine: " + "; ".join(problems))


def _reachable(initial: str, transitions: Mapping[str, Iterable[str]]) -> set[str]:
    seen = {initial}
    stack = [initial]
    while stack:
        for successor in transitions.get(stack.pop(), ()):
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return seen


def _machine(
    name: str, states: tuple[str, ...], terminal: set[str], edges: Mapping[str, set[str]]
) -> StateMachine:
    # The first declared state is the initial one.
    return StateMachine(
        name=name,
        states=states,
        initial=states[0],
        terminal=frozenset(terminal),
        transitions={source: frozenset(targets) for source, targets in edges.items()},
    )


_OFFER = _machine(
    "offer",
    ("open", "reserved", "withdrawn"),
    terminal={"withdrawn"},
    edges={"open": {"reserved", "withdrawn"}, "reserved": {"open", "withdrawn"}},
)
_MATCH = _machine(
    "match",
    ("proposed", "accepted", "rejected", "expired"),
    terminal={"rejected", "expired"},
    edges={"proposed": {"accepted", "rejected", "expired"}, "accepted": {"expired"}},
)
_TRANSFER = _machine(
    "transfer",
    ("scheduled", "in_transit", "completed", "cancelled"),
    terminal={"completed", "cancelled"},
    edges={"scheduled": {"in_transit", "cancelled"}, "in_transit": {"completed", "cancelled"}},
)
# MaterialStatusUpdate values: the availability of a MaterialDNA/ProductDNA record (DECISIONS 6).
_AVAILABILITY = _machine(
    "availability",
    ("available", "reserved", "withdrawn"),
    terminal={"withdrawn"},
    edges={"available": {"reserved", "withdrawn"}, "reserved": {"available", "withdrawn"}},
)
# The 7-value TransactionStatus set (SPEC-DIGEST §7 item 9); any non-terminal state may be
# cancelled or disputed.
_TRANSACTION = _machine(
    "transaction",
    ("pending", "confirmed", "in_transit", "delivered", "completed", "cancelled", "disputed"),
    terminal={"completed", "cancelled", "disputed"},
    edges={
        "pending": {"confirmed", "cancelled", "disputed"},
        "confirmed": {"in_transit", "cancelled", "disputed"},
        "in_transit": {"delivered", "cancelled", "disputed"},
        "delivered": {"completed", "cancelled", "disputed"},
    },
)

MACHINES: Final[Mapping[str, StateMachine]] = MappingProxyType(
    {m.name: m for m in (_OFFER, _MATCH, _TRANSFER, _AVAILABILITY, _TRANSACTION)}
)

# §3.6.1: at most one active Match per Offer, at most one live (non-cancelled) Transfer per Match.
ACTIVE_MATCH_STATES: Final = frozenset({"proposed", "accepted"})
LIVE_TRANSFER_STATES: Final = frozenset({"scheduled", "in_transit", "completed"})

# Checked like the tables: the invariants' state sets must agree with the machines.
if not ACTIVE_MATCH_STATES.issubset(set(_MATCH.states) - _MATCH.terminal):
    raise InconsistentStateMachine("ACTIVE_MATCH_STATES must be non-terminal match states")
if set(_TRANSFER.states).difference(LIVE_TRANSFER_STATES) != {"cancelled"} or not (
    LIVE_TRANSFER_STATES.issubset(_TRANSFER.states)
):
    raise InconsistentStateMachine(
        "LIVE_TRANSFER_STATES must be every transfer state but cancelled"
    )
