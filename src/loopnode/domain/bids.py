"""What a bid (a peer's MaterialOffer, spec §8.1 `POST /federate/offer`) must mean.

The schema only says `base_price` and `loop_cost` are numbers and `from` a string. A bid of
-5 or -1e308, or one naming a node other than the one that signed it, is well-formed and
meaningless (issue 15): both amounts must be money (a finite, non-negative whole number of
cents, at most `MAX_AMOUNT`), and `from` must be the authenticated sender.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from loopnode.domain.errors import Forbidden, InvalidRequest
from loopnode.domain.money import Money

MAX_AMOUNT = Money(10**12 * 100)  # a trillion currency units: beyond any single consignment
AMOUNT_FIELDS = ("base_price", "loop_cost")


def bid_amount(value: object, field: str) -> Money:
    """A JSON number as Money: exact cents, finite, 0 <= amount <= MAX_AMOUNT."""
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else value
        amount = Money.parse(exact)
    except (InvalidRequest, InvalidOperation) as exc:
        raise InvalidRequest(
            f"{field} must be an amount in whole cents", {"field": field, "value": str(value)[:40]}
        ) from exc
    if amount.is_negative() or amount > MAX_AMOUNT:
        raise InvalidRequest(
            f"{field} must be between 0 and {MAX_AMOUNT}",
            {"field": field, "value": str(value)[:40]},
        )
    return amount


def check_bid(offer: dict[str, Any], sender: str) -> None:
    """Refuse a schema-valid bid that means nothing or speaks for another node."""
    if offer.get("from") != sender:
        raise Forbidden(
            "the bid's `from` must be the node that signed it",
            {"from": str(offer.get("from"))[:130], "signed_by": sender},
        )
    for field in AMOUNT_FIELDS:
        bid_amount(offer.get(field), field)
