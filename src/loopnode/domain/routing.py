"""Choosing a destination for a lot (spec §3.3 steps 5-6, §12.1; DECISIONS 14): pure rules.

Every candidate destination has a LoopCost (in cents). Candidates are ranked by LoopCost, then
local before remote, then firm before tentative, then by kind and reference so that the order is
total and reproducible. The protocol selects the first candidate that is both *firm* (someone
asked for it: a local demand listing or a peer's bid) and *eligible* (within the requester's
maximum price); tentative candidates (peers whose published signals name the category) are
ranked for the operator's information and are where overflow announcements go, but no one has
committed to take the lot there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.money import Money

Kind = Literal["local-demand", "bid", "peer-signal"]

# Bounds that keep every amount exact in Decimal's 28 digits and every cost in 64 bits.
MAX_PRICE: Final = Money(10**13)  # 100 billion LC
MAX_DISTANCE_KM: Final = Decimal(10**6)


def parse_price(value: object, where: str = "base_price") -> Money:
    """An exact price (decimal string, int or Decimal; a float by its shortest repr), bounded
    before it is converted, so that "1e999999999" costs nothing to refuse."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, str):
        if len(value) > 40:
            raise InvalidRequest(f"{where} is not a price", {where: value[:40]})
        try:
            value = Decimal(value)
        except ArithmeticError:
            raise InvalidRequest(f"{where} is not a decimal amount", {where: value}) from None
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > 15:
        raise InvalidRequest(f"{where} must be between 0 and {MAX_PRICE}", {where: str(value)[:40]})
    return check_price(Money.parse(value), where)


def check_price(price: Money, where: str = "base_price") -> Money:
    if price.is_negative() or price > MAX_PRICE:
        raise InvalidRequest(f"{where} must be between 0 and {MAX_PRICE}", {where: str(price)})
    return price


def check_distance(km: Decimal, where: str = "distance_km") -> Decimal:
    if not km.is_finite() or km < 0 or km > MAX_DISTANCE_KM:
        raise InvalidRequest(f"{where} must be between 0 and {MAX_DISTANCE_KM}", {where: str(km)})
    return km


KIND_ORDER: Final = {"local-demand": 0, "bid": 1, "peer-signal": 2}


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: Kind
    node: str
    ref: str | None
    cost_cents: int | None
    local: bool
    firm: bool
    eligible: bool = True
    reason: str | None = None

    def sort_key(self) -> tuple[int, int, int, int, int, str, str]:
        priced = self.cost_cents is not None
        return (
            0 if priced else 1,
            self.cost_cents if self.cost_cents is not None else 0,
            0 if self.local else 1,
            0 if self.firm else 1,
            KIND_ORDER[self.kind],
            self.node,
            self.ref or "",
        )


@dataclass(frozen=True, slots=True)
class Selection:
    ranked: list[Candidate]
    selected: Candidate | None
    reason: str


def rank(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=Candidate.sort_key)


def select(candidates: list[Candidate]) -> Selection:
    """Rank the candidates and pick the lowest-LoopCost firm, eligible one (local wins ties)."""
    ranked = rank(candidates)
    choosable = [c for c in ranked if c.firm and c.eligible and c.cost_cents is not None]
    if not choosable:
        return Selection(ranked, None, "no local demand or bid can take this lot")
    best = choosable[0]
    tied = [c for c in choosable if c.cost_cents == best.cost_cents]
    reason = "lowest_loop_cost"
    if len(tied) > 1 and best.local and any(not c.local for c in tied):
        reason = "lowest_loop_cost; local wins the tie"
    return Selection(ranked, best, reason)
