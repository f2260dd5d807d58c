"""Expiry and decay of LoopCoin lots (DECISIONS 15, made precise in issue 10; docs/ledger.md).

Coins are held in lots by the moment they were received. A lot keeps its face value until
`expiry_months` calendar months after that moment; at that moment it expires and loses
`decay_rate` of its remaining value, and again at each further full calendar month
(compounding). After each step the holder's value is rounded DOWN to the cent; the residue goes
to the node's community fund, so supply accounting stays exact.

Month arithmetic is calendar arithmetic with month-end clamping, always counted from the
receipt moment (never step by step), so a lot received on 31 January expires on the last day of
February (28 or 29), decays again on 31 March, 30 April, 31 May... and never drifts.

Each step depends only on the value before it, so the result is the same whether decay is
materialised at every step, once at the end, or between spends: lazy evaluation is exact.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from loopnode.domain.errors import InvalidRequest

MAX_STEPS = 1200  # a century of monthly steps: any lot is worth 0 long before


@dataclass(frozen=True, slots=True)
class DecayPolicy:
    """`expiry_months` in 1..12 and a monthly `decay_rate` in 0..0.2 (LoopCoinConfig)."""

    expiry_months: int
    decay_rate: Decimal

    def __post_init__(self) -> None:
        if not 1 <= self.expiry_months <= 12:
            raise InvalidRequest("expiry_months must be between 1 and 12", {})
        if not self.decay_rate.is_finite() or not Decimal(0) <= self.decay_rate <= Decimal("0.2"):
            raise InvalidRequest("decay_rate must be between 0 and 0.2", {})


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus `months` calendar months, the day clamped to the target month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry(received: datetime, policy: DecayPolicy) -> datetime:
    return add_months(received, policy.expiry_months)


def steps_due(received: datetime, at: datetime, policy: DecayPolicy) -> int:
    """How many decay steps a lot received at `received` has undergone by `at`.

    Step k (k = 0, 1, ...) happens at `received + expiry_months + k` calendar months.
    """
    if at < expiry(received, policy):
        return 0
    months = (at.year - received.year) * 12 + (at.month - received.month)
    steps = months - policy.expiry_months + 1
    # The month count can overshoot by one when `at` is earlier in its month than the step.
    while steps > 0 and add_months(received, policy.expiry_months + steps - 1) > at:
        steps -= 1
    return min(steps, MAX_STEPS)


def next_step(received: datetime, steps_applied: int, policy: DecayPolicy) -> datetime:
    """When the lot's next decay step happens."""
    return add_months(received, policy.expiry_months + steps_applied)


def decay_cents(cents: int, steps: int, rate: Decimal) -> int:
    """The value left after `steps` monthly steps, each rounded down to the cent."""
    keep = Decimal(1) - rate
    for _ in range(steps):
        if cents == 0 or rate == 0:
            break
        cents = int((Decimal(cents) * keep).to_integral_value(rounding=ROUND_DOWN))
    return cents
