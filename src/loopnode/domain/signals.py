"""LoopSignal governance rules (spec §6, DECISIONS 17): pure functions over exact decimals.

A node publishes one LoopSignalConfig: a signal strength in 0..1 per material category, plus a
`default` for categories it does not name. Its community changes them by vote:

* a proposal's `current` for each category must equal the value in force (400 otherwise);
* a single change may move a value by at most 0.10, and the changes of every proposal that
  counts in one voting period (open or passed, not failed) may together move one category by at
  most 0.10: the sum of their absolute changes, measured from the value in force;
* every value stays within 0..1; all comparisons are in `Decimal` (0.4 − 0.3 is exactly 0.1);
* a proposal passes with a simple majority of the votes cast (more for than against), and, when
  a quorum is configured, only if that share of the eligible voters took part.

The voting period of a proposal is the calendar month (UTC) in which its voting closes: that is
when its changes would take effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

from loopnode.domain.errors import InvalidRequest

__all__ = [
    "CATEGORIES",
    "DEFAULT_KEY",
    "MAX_CHANGE",
    "Change",
    "Tally",
    "apply_changes",
    "check_changes",
    "check_value",
    "period_of",
    "period_usage",
    "signal_for",
    "tally",
]

DEFAULT_KEY: Final = "default"
MAX_CHANGE: Final = Decimal("0.10")
SIGNAL_MIN: Final = Decimal(0)
SIGNAL_MAX: Final = Decimal(1)

# The 30 MaterialDNA categories: the only keys LoopSignalConfig.signals allows besides `default`.
CATEGORIES: Final = frozenset(
    {
        *(f"plastic-{k}" for k in ("pet", "hdpe", "pvc", "ldpe", "pp", "ps", "mixed")),
        *(f"metal-{k}" for k in ("steel", "aluminum", "copper", "mixed")),
        *(f"organic-{k}" for k in ("food", "garden", "wood")),
        *(f"glass-{k}" for k in ("clear", "brown", "green", "mixed")),
        "paper-clean",
        "paper-newsprint",
        "cardboard",
        "paper-mixed",
        *(f"textile-{k}" for k in ("cotton", "wool", "synthetic", "mixed")),
        *(f"ewaste-{k}" for k in ("computers", "phones", "batteries", "mixed")),
    }
)
SIGNAL_KEYS: Final = CATEGORIES | {DEFAULT_KEY}

Choice = Literal["for", "against"]
Outcome = Literal["passed", "failed"]


@dataclass(frozen=True, slots=True)
class Change:
    """One category's proposed move, from `current` (the value in force) to `proposed`."""

    category: str
    current: Decimal
    proposed: Decimal
    reason: str | None = None

    @property
    def size(self) -> Decimal:
        return abs(self.proposed - self.current)


@dataclass(frozen=True, slots=True)
class Tally:
    eligible: int
    voted: int
    votes_for: int
    votes_against: int
    status: Outcome

    @property
    def turnout(self) -> Decimal:
        return Decimal(self.voted) / self.eligible if self.eligible else Decimal(0)

    @property
    def approval(self) -> Decimal:
        return Decimal(self.votes_for) / self.voted if self.voted else Decimal(0)


def check_value(value: Decimal, where: str) -> Decimal:
    """A signal value: finite and within 0..1."""
    if not value.is_finite() or value < SIGNAL_MIN or value > SIGNAL_MAX:
        raise InvalidRequest(f"{where} must be between 0 and 1", {"value": str(value)})
    return value


def signal_for(signals: Mapping[str, Decimal], category: str) -> Decimal:
    """The signal that applies to `category`: its own value, else `default`, else 0."""
    if category in signals:
        return signals[category]
    return signals.get(DEFAULT_KEY, Decimal(0))


def period_of(voting_closes: datetime) -> str:
    """The voting period a proposal counts in: the UTC month its voting closes ("2026-06")."""
    return f"{voting_closes.year:04d}-{voting_closes.month:02d}"


def check_changes(
    changes: list[Change],
    in_force: Mapping[str, Decimal],
    used_in_period: Mapping[str, Decimal],
) -> None:
    """Refuse (400) a proposal that breaks a rule; `used_in_period` sums earlier changes."""
    seen: set[str] = set()
    for index, change in enumerate(changes):
        where = f"/changes/{index}"
        _check_category(change.category, where, seen)
        check_value(change.current, f"{where}/current")
        check_value(change.proposed, f"{where}/proposed")
        _check_current(change, in_force, where)
        if change.size > MAX_CHANGE:
            raise InvalidRequest(
                f"{where}: a signal may change by at most {MAX_CHANGE} per voting period",
                {"category": change.category, "change": str(change.size)},
            )
        used = used_in_period.get(change.category, Decimal(0))
        if used + change.size > MAX_CHANGE:
            raise InvalidRequest(
                f"{where}: {change.category} already changes by {used} in this voting period; "
                f"with this change it would move by {used + change.size} (at most {MAX_CHANGE})",
                {"category": change.category, "used": str(used), "change": str(change.size)},
            )


def _check_category(category: str, where: str, seen: set[str]) -> None:
    if category not in SIGNAL_KEYS:
        raise InvalidRequest(
            f"{where}/category: {category[:80]!r} is not a material category or 'default'",
            {"category": category[:80]},
        )
    if category in seen:
        raise InvalidRequest(f"{where}/category: {category} is changed twice in one proposal")
    seen.add(category)


def _check_current(change: Change, in_force: Mapping[str, Decimal], where: str) -> None:
    value = signal_for(in_force, change.category)
    if change.current != value:
        raise InvalidRequest(
            f"{where}/current: {change.category} is {value} in the config in force, "
            f"not {change.current}",
            {"category": change.category, "in_force": str(value), "current": str(change.current)},
        )


def period_usage(proposals: Iterable[list[Change]]) -> dict[str, Decimal]:
    """The sum of absolute changes per category over the proposals that count in a period."""
    used: dict[str, Decimal] = {}
    for changes in proposals:
        for change in changes:
            used[change.category] = used.get(change.category, Decimal(0)) + change.size
    return used


def apply_changes(signals: Mapping[str, Decimal], changes: list[Change]) -> dict[str, Decimal]:
    """The signal table after a passed proposal: each change sets its category's value."""
    updated = dict(signals)
    for change in changes:
        updated[change.category] = check_value(change.proposed, change.category)
    return updated


def tally(
    choices: Iterable[Choice], *, eligible: int | None = None, quorum: Decimal | None = None
) -> Tally:
    """Count ballots: simple majority of votes cast; an optional quorum of `eligible` voters.

    Without a known electorate (`eligible` None or 0) the voters are the electorate.
    """
    votes = list(choices)
    votes_for = sum(1 for choice in votes if choice == "for")
    votes_against = len(votes) - votes_for
    electorate = eligible if eligible else len(votes)
    quorate = quorum is None or (
        electorate > 0 and Decimal(len(votes)) >= quorum * Decimal(electorate)
    )
    status: Outcome = "passed" if quorate and votes_for > votes_against else "failed"
    return Tally(electorate, len(votes), votes_for, votes_against, status)
