"""Expiry and decay against hand-computed fixtures (issue 10, DECISIONS 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loopnode.domain.decay import DecayPolicy, add_months, decay_cents, expiry, steps_due
from loopnode.domain.errors import InvalidRequest
from loopnode.domain.ledger import Holding, Lot, decayed

SIX = DecayPolicy(6, Decimal("0.05"))
RECEIVED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def value_at(at: datetime, cents: int = 100_000, received: datetime = RECEIVED) -> int:
    holding, residue = decayed(Holding("user:u-1@x.loop", (Lot(received, cents),)), at, SIX)
    assert holding.balance + residue == cents
    return holding.balance


def test_a_thousand_coins_keep_face_value_for_six_months_then_950_then_902_50() -> None:
    assert value_at(add_months(RECEIVED, 3)) == 100_000
    assert value_at(add_months(RECEIVED, 6) - timedelta(microseconds=1)) == 100_000
    assert value_at(add_months(RECEIVED, 6)) == 95_000
    assert value_at(add_months(RECEIVED, 7) - timedelta(seconds=1)) == 95_000
    assert value_at(add_months(RECEIVED, 7)) == 90_250


def test_the_day_before_expiry_keeps_face_value() -> None:
    assert expiry(RECEIVED, SIX) == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert value_at(datetime(2026, 7, 14, 12, 0, tzinfo=UTC)) == 100_000
    assert value_at(datetime(2026, 7, 15, 12, 0, tzinfo=UTC)) == 95_000


def test_a_receipt_on_31_january_expires_at_the_end_of_february_and_never_drifts() -> None:
    received = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    one = DecayPolicy(1, Decimal("0.05"))
    assert expiry(received, one) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert steps_due(received, datetime(2026, 2, 28, 8, 59, tzinfo=UTC), one) == 0
    assert steps_due(received, datetime(2026, 2, 28, 9, 0, tzinfo=UTC), one) == 1
    # The next steps are counted from the receipt: 31 March, 30 April, not 28 March.
    assert steps_due(received, datetime(2026, 3, 30, 23, 0, tzinfo=UTC), one) == 1
    assert steps_due(received, datetime(2026, 3, 31, 9, 0, tzinfo=UTC), one) == 2
    assert steps_due(received, datetime(2026, 4, 30, 9, 0, tzinfo=UTC), one) == 3
    assert expiry(datetime(2028, 1, 31, tzinfo=UTC), one) == datetime(2028, 2, 29, tzinfo=UTC)


def test_each_step_rounds_the_holder_down_to_the_cent() -> None:
    assert decay_cents(1, 1, Decimal("0.05")) == 0  # 0.0095 → 0.00
    assert decay_cents(999, 2, Decimal("0.05")) == 901  # 9.99 → 9.49 → 9.01
    assert decay_cents(10_000, 3, Decimal(0)) == 10_000


def test_lazy_decay_gives_the_same_value_whenever_it_is_materialised() -> None:
    lot = Holding("user:u-1@x.loop", (Lot(RECEIVED, 123_457),))
    at_once, _ = decayed(lot, add_months(RECEIVED, 12), SIX)
    stepwise = lot
    for month in range(1, 13):
        stepwise, _ = decayed(stepwise, add_months(RECEIVED, month), SIX)
    assert at_once == stepwise


@pytest.mark.parametrize("months", [0, 13])
def test_expiry_months_outside_the_schema_range_are_refused(months: int) -> None:
    with pytest.raises(InvalidRequest, match="expiry_months"):
        DecayPolicy(months, Decimal("0.05"))
