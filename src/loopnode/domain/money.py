"""Money: an exact amount in integer minor units (cents), never a float (DECISIONS 12).

Wire amounts arrive as JSON numbers or decimal strings. `Money.parse` accepts an amount only when
it is an exact multiple of 0.01 (a JSON number must be parsed as `Decimal` before it reaches here;
a Python `float` is refused outright because its binary value is not what the sender wrote).
Computed amounts (a penalty of base × signal, a decayed lot) are rounded explicitly with
`Money.of`, half-even unless the caller names another rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from loopnode.domain.errors import InvalidRequest

CENT = Decimal("0.01")


class InvalidAmount(InvalidRequest):
    """An amount that is not an exact, finite number of cents."""


@dataclass(frozen=True, order=True, slots=True)
class Money:
    """An amount of one currency in cents. Arithmetic stays in integers."""

    cents: int

    @classmethod
    def parse(cls, value: object) -> Money:
        """An exact amount: int, Decimal or decimal string with at most two decimal places."""
        if isinstance(value, (bool, float)):
            raise InvalidAmount(
                "amounts must be exact decimals, not binary floats", {"amount": str(value)}
            )
        if isinstance(value, int):
            return cls(value * 100)
        if not isinstance(value, (str, Decimal)):
            raise InvalidAmount("an amount must be a number or a decimal string", {})
        try:
            exact = Decimal(value) if isinstance(value, str) else value
        except InvalidOperation:
            raise InvalidAmount("not a decimal amount", {"amount": str(value)}) from None
        if not exact.is_finite():
            raise InvalidAmount("amounts must be finite", {"amount": str(value)})
        scaled = exact * 100
        if scaled != scaled.to_integral_value():
            raise InvalidAmount("amounts must be a multiple of 0.01", {"amount": str(value)})
        return cls(int(scaled))

    @classmethod
    def of(cls, value: Decimal, rounding: str = ROUND_HALF_EVEN) -> Money:
        """A computed amount rounded to the cent by `rounding` (half-even by default)."""
        if not value.is_finite():
            raise InvalidAmount("amounts must be finite", {"amount": str(value)})
        return cls(int(value.quantize(CENT, rounding=rounding) * 100))

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    def to_decimal(self) -> Decimal:
        return Decimal(self.cents).scaleb(-2)

    def times(self, factor: Decimal, rounding: str = ROUND_HALF_EVEN) -> Money:
        return Money.of(self.to_decimal() * factor, rounding)

    def is_negative(self) -> bool:
        return self.cents < 0

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - other.cents)

    def __neg__(self) -> Money:
        return Money(-self.cents)

    def __str__(self) -> str:
        """The wire form: a decimal string with exactly two places ("104.00", "-0.50")."""
        sign = "-" if self.cents < 0 else ""
        whole, part = divmod(abs(self.cents), 100)
        return f"{sign}{whole}.{part:02d}"


def total(amounts: list[Money]) -> Money:
    return Money(sum(amount.cents for amount in amounts))
