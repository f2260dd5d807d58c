"""Exchangeable and storable quantities (issue 15): positive whole steps, no silent rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain.bids import bid_amount, check_bid
from loopnode.domain.errors import Forbidden, InvalidRequest
from loopnode.domain.quantities import Quantity, Unit, require_exchangeable, require_storable


@given(st.integers(min_value=1, max_value=10**15))
def test_every_whole_number_of_grams_is_exchangeable(grams: int) -> None:
    require_exchangeable(Quantity(Decimal(grams), Unit.G))
    require_exchangeable(Quantity(Decimal(grams).scaleb(-3), Unit.KG))


@given(st.integers(min_value=1, max_value=999), st.integers(min_value=0, max_value=10**9))
def test_a_fraction_of_a_gram_is_not(fraction: int, grams: int) -> None:
    value = Decimal(grams) + Decimal(fraction).scaleb(-3)  # grams plus a sub-gram part
    with pytest.raises(InvalidRequest):
        require_exchangeable(Quantity(value, Unit.G))


@pytest.mark.parametrize("unit", list(Unit))
def test_zero_is_never_exchangeable(unit: Unit) -> None:
    with pytest.raises(InvalidRequest):
        require_exchangeable(Quantity(Decimal(0), unit))


def test_storage_keeps_millionths_and_refuses_finer() -> None:
    require_storable(Quantity(Decimal("999.999999"), Unit.KG))
    with pytest.raises(InvalidRequest):
        require_storable(Quantity(Decimal("999.9999999"), Unit.KG))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_bid_amount_is_never_negative_or_non_finite(value: float) -> None:
    try:
        amount = bid_amount(value, "base_price")
    except InvalidRequest:
        return
    assert not amount.is_negative()
    assert Decimal(repr(value)) == amount.to_decimal()


def test_a_bid_speaks_only_for_its_signer() -> None:
    bid = {"from": "vienna.loop", "base_price": 1, "loop_cost": 2}
    with pytest.raises(Forbidden):
        check_bid(bid, "berlin.loop")
    check_bid({**bid, "from": "berlin.loop"}, "berlin.loop")
