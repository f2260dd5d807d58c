"""The LoopCost formula (DECISIONS 14) against hand-computed fixtures and as properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.cost import loop_cost
from loopnode.domain.money import Money

D = Decimal


@pytest.mark.parametrize(
    ("base", "export", "import_", "km", "parts", "total"),
    [
        # §12.1: Munich (export 0.40) to Vienna (import 0.20), 400 km.
        ("60", "0.40", "0.20", "400", ("60.00", "24.00", "12.00", "8.00"), "104.00"),
        # example 04: base 120, export 24, import 12, no distance.
        ("120", "0.2", "0.1", "0", ("120.00", "24.00", "12.00", "0.00"), "156.00"),
        # half-even: 10.05 × 0.5 = 5.025 -> 5.02; 0.25 km × 0.02 = 0.005 -> 0.00.
        ("10.05", "0.5", "0.5", "0.25", ("10.05", "5.02", "5.02", "0.00"), "20.09"),
        # 0.75 km × 0.02 = 0.015 -> 0.02 (half-even rounds to the even cent).
        ("1", "0", "1", "0.75", ("1.00", "0.00", "1.00", "0.02"), "2.02"),
    ],
)
def test_quotes_match_hand_computed_fixtures(
    base: str, export: str, import_: str, km: str, parts: tuple[str, ...], total: str
) -> None:
    cost = loop_cost(
        Money.parse(base),
        local=False,
        origin_signal=D(export),
        destination_signal=D(import_),
        distance_km=D(km),
    )
    wire = cost.as_wire()
    assert (wire["base"], wire["export"], wire["import"], wire["distance"]) == parts
    assert str(cost.total) == total


def test_a_local_trade_pays_the_base_price_only() -> None:
    cost = loop_cost(Money.parse("60"), local=True, origin_signal=D("0.4"), distance_km=D(400))
    assert str(cost.total) == "60.00" and cost.is_local


signals = st.decimals(min_value=0, max_value=1, places=4)
prices = st.integers(min_value=0, max_value=10**9).map(Money)
distances = st.decimals(min_value=0, max_value=20000, places=3)


@given(prices, signals, signals, distances)
def test_local_is_never_dearer_than_cross_node_and_parts_sum(
    base: Money, export: Decimal, import_: Decimal, km: Decimal
) -> None:
    local = loop_cost(base, local=True)
    remote = loop_cost(
        base, local=False, origin_signal=export, destination_signal=import_, distance_km=km
    )
    assert local.total <= remote.total
    for cost in (local, remote):
        parts = cost.as_wire()
        assert sum(D(parts[k]) for k in ("base", "export", "import", "distance")) == D(
            str(cost.total)
        )
