"""Custody arithmetic (DECISIONS 11): where a completed transfer's goods go and how much.

A transfer of the whole quantity moves the passport; a smaller one splits it into the parent,
which keeps the rest, and a child that holds what moved. The integer micro-unit columns are the
authority (they add up exactly); the documents carry the same amounts as exact decimals in the
parent's unit. `services/lifecycle/custody.py` applies the result to the stored records.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Split", "json_number", "moves_whole", "receiving_city", "split"]


@dataclass(frozen=True, slots=True)
class Split:
    """The parent's remainder and the child's part, in micro-units and in the document's unit."""

    parent_micro: int
    child_micro: int
    parent_value: Decimal
    child_value: Decimal


def moves_whole(record_micro: int, offer_micro: int) -> bool:
    """An offer for at least what the record holds moves the record rather than splitting it."""
    return offer_micro >= record_micro


def split(record_micro: int, offer_micro: int, record_value: Decimal, moved: Decimal) -> Split:
    """`offer_micro` (`moved` in the document's unit) leaves a record of `record_micro`
    (`record_value`). The micro-units are conserved exactly; the document's remainder never
    falls below zero (the two may differ by the columns' rounding, below one millionth)."""
    with decimal.localcontext(prec=100):
        left = max(record_value - moved, Decimal(0))
    return Split(record_micro - offer_micro, offer_micro, left, moved)


def json_number(value: Decimal) -> int | float:
    """A JSON number: an int when whole, else the float whose repr is the decimal's digits."""
    return int(value) if value == value.to_integral_value() else float(value)


def receiving_city(
    offer: Mapping[str, Any], transfer: Mapping[str, Any], match: Mapping[str, Any]
) -> str:
    """The offer's `to_city` unless it is `any`, else the transfer route's `to_city`, else the
    match's `to_city`."""
    to_city = offer.get("to_city")
    if _is_city(to_city) and str(to_city).lower() != "any":
        return str(to_city)
    route = transfer.get("route")
    if isinstance(route, dict) and _is_city(route.get("to_city")):
        return str(route["to_city"])
    return str(match["to_city"])


def _is_city(value: object) -> bool:
    # The route's cities are free strings in the schema; the passport's are 2..80 characters.
    return isinstance(value, str) and 2 <= len(value) <= 80
