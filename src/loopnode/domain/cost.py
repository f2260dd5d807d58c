"""LoopCost (spec §7, DECISIONS 14): what a trade costs the buyer, and where each part goes.

    LoopCost = BasePrice + BasePrice × origin signal + BasePrice × destination signal
               + distance_km × 0.02 LC/km

A local trade (seller and buyer on the same node) pays BasePrice only: no penalties and no
distance cost (the §7.3 reference code adds distance even locally; DECISIONS 14 follows rule 1).
Each part is rounded half-even to the cent on its own and the total is their sum, so a breakdown
always adds up to its total exactly. Settlement (DECISIONS 13) pays the parts out unchanged:
base to the seller, export to the origin community fund, import to the destination fund,
distance to the transport account.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.money import Money

RATE_PER_KM = Decimal("0.02")
SIGNAL_MIN = Decimal(0)
SIGNAL_MAX = Decimal(1)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The four parts of a LoopCost; `total` is always their exact sum."""

    base: Money
    export: Money
    import_: Money
    distance: Money

    @property
    def total(self) -> Money:
        return Money(self.base.cents + self.export.cents + self.import_.cents + self.distance.cents)

    @property
    def is_local(self) -> bool:
        return self.export.cents == self.import_.cents == self.distance.cents == 0

    def as_wire(self) -> dict[str, str]:
        """The §7.3 breakdown shape, amounts as decimal strings."""
        return {
            "base": str(self.base),
            "export": str(self.export),
            "import": str(self.import_),
            "distance": str(self.distance),
        }


def _signal(value: Decimal, name: str) -> Decimal:
    if not value.is_finite() or value < SIGNAL_MIN or value > SIGNAL_MAX:
        raise InvalidRequest(f"{name} must be between 0 and 1", {name: str(value)})
    return value


def loop_cost(
    base_price: Money,
    *,
    local: bool,
    origin_signal: Decimal = Decimal(0),
    destination_signal: Decimal = Decimal(0),
    distance_km: Decimal = Decimal(0),
) -> CostBreakdown:
    """The LoopCost of moving a lot priced `base_price` (DECISIONS 14)."""
    if base_price.is_negative():
        raise InvalidRequest("base_price must not be negative", {"base_price": str(base_price)})
    if not local and (not distance_km.is_finite() or distance_km < 0):
        raise InvalidRequest("distance_km must not be negative", {"distance_km": str(distance_km)})
    zero = Money.zero()
    if local:
        return CostBreakdown(base_price, zero, zero, zero)
    return CostBreakdown(
        base=base_price,
        export=base_price.times(_signal(origin_signal, "origin_signal")),
        import_=base_price.times(_signal(destination_signal, "destination_signal")),
        distance=Money.of(distance_km * RATE_PER_KM),
    )
