"""The LoopCoin ledger's rules (spec §5, DECISIONS 12, 15, 16; docs/ledger.md): pure, in cents.

Vocabulary:
- an **account** is `user:<id>@<node>`, `business:<id>@<node>` or `node:<name>@<node>` (a
  system account: community fund, reserve, transport, clearing). User and business ids are minted
  pseudonyms (DECISIONS 5), never names.
- a **holding** is one account's coins as **lots**, each with the moment it was received, its
  remaining value in cents and how many decay steps it has undergone (domain/decay.py).
- an **entry** is one posting set: the signed cent amounts it moves per account. Every entry
  balances: its postings sum to what it mints (issue: +amount, redeem: −amount, else 0).

Rules here, storage elsewhere: the services load the holdings an operation touches (locked),
apply these functions, and write the result back in one database transaction, where CHECK and
UNIQUE constraints back up what concurrency could break (no negative balance, one posting set
per entry id). System accounts (`node:`) hold one undecaying lot: decay applies to the coins
people and businesses hold, and the residue lands in the community fund.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from loopnode.domain.decay import DecayPolicy, decay_cents, steps_due
from loopnode.domain.errors import Conflict, InvalidRequest

ACCOUNT_RE = re.compile(r"^(user|business|node):([^@]+)@([a-z0-9\-]+\.loop)\Z")
COMMUNITY_FUND = "community-fund"
TRANSPORT = "transport"
CLEARING = "clearing"
SYSTEM_ACCOUNTS = (COMMUNITY_FUND, TRANSPORT, CLEARING)
# The largest amount the ledger takes in one posting: 10 trillion (10^13) in cents, far inside
# a signed 64-bit column even after summing many postings.
MAX_CENTS = 10**15


def bounded(cents: int, field: str) -> int:
    """`cents` if the ledger can hold it, else 400 (never a database overflow)."""
    if abs(cents) > MAX_CENTS:
        raise InvalidRequest(f"{field} is larger than the ledger accepts", {"field": field})
    return cents


class InsufficientFunds(Conflict):
    """The paying account holds less than the amount (409)."""


class IssuanceRefused(Conflict):
    """Issuing would exceed `max_issuance` or the reserve cover (409)."""


@dataclass(frozen=True, slots=True)
class AccountId:
    kind: str
    local: str
    node: str

    @classmethod
    def parse(cls, text: str) -> AccountId:
        found = ACCOUNT_RE.match(text) if isinstance(text, str) else None
        if found is None:
            raise InvalidRequest(
                "an account is user:<id>@<node>.loop, business:<id>@<node>.loop or node:…",
                {"account": text},
            )
        return cls(found.group(1), found.group(2), found.group(3))

    @property
    def is_system(self) -> bool:
        return self.kind == "node"

    def __str__(self) -> str:
        return f"{self.kind}:{self.local}@{self.node}"


def system_account(name: str, node_id: str) -> str:
    return f"node:{name}@{node_id}"


@dataclass(frozen=True, slots=True)
class Lot:
    """Coins received at one moment. `lot_id` is None until stored; order is (received, id)."""

    received: datetime
    cents: int
    steps: int = 0
    lot_id: int | None = None

    def order(self) -> tuple[datetime, float]:
        return (self.received, float("inf") if self.lot_id is None else self.lot_id)


@dataclass(frozen=True, slots=True)
class Holding:
    account: str
    lots: tuple[Lot, ...]
    decays: bool = True

    @property
    def balance(self) -> int:
        return sum(lot.cents for lot in self.lots)


def sorted_lots(lots: tuple[Lot, ...] | list[Lot]) -> tuple[Lot, ...]:
    return tuple(sorted(lots, key=Lot.order))


def decayed(holding: Holding, at: datetime, policy: DecayPolicy) -> tuple[Holding, int]:
    """The holding as of `at` and the residue (cents) its decay sends to the community fund."""
    if not holding.decays:
        return holding, 0
    residue, lots = 0, []
    for lot in holding.lots:
        due = steps_due(lot.received, at, policy)
        if due > lot.steps:
            left = decay_cents(lot.cents, due - lot.steps, policy.decay_rate)
            residue += lot.cents - left
            lot = replace(lot, cents=left, steps=due)
        lots.append(lot)
    return replace(holding, lots=tuple(lots)), residue


def debit(holding: Holding, cents: int) -> Holding:
    """Spend `cents`, oldest lots first; emptied lots stay (0 cents) for storage to drop."""
    if cents <= 0:
        raise InvalidRequest("an amount must be positive", {"amount_cents": cents})
    if holding.balance < cents:
        raise InsufficientFunds(
            f"{holding.account} holds less than the amount",
            {"account": holding.account, "needed_cents": cents},
        )
    left, lots = cents, []
    for lot in sorted_lots(holding.lots):
        take = min(lot.cents, left)
        left -= take
        lots.append(replace(lot, cents=lot.cents - take))
    return replace(holding, lots=tuple(lots))


def credit(holding: Holding, cents: int, at: datetime) -> Holding:
    """Add a new lot received at `at` (system accounts keep one lot and just grow it)."""
    if cents <= 0:
        return holding
    if not holding.decays and holding.lots:
        first, *rest = sorted_lots(holding.lots)
        return replace(holding, lots=(replace(first, cents=first.cents + cents), *rest))
    return replace(holding, lots=(*holding.lots, Lot(received=at, cents=cents)))


def local_bonus(amount_cents: int, rate: Decimal, fund_cents: int) -> int:
    """DECISIONS 16: `rate` × amount, rounded down, as much as the community fund holds."""
    wanted = int((Decimal(amount_cents) * rate).to_integral_value(rounding=ROUND_DOWN))
    return max(0, min(wanted, fund_cents))


@dataclass(frozen=True, slots=True)
class Issuance:
    """What issuance checks against: LoopCoinConfig limits and the current totals."""

    max_issuance_cents: int
    reserve_ratio: Decimal
    exchange_rate: Decimal


def check_issue(rules: Issuance, supply_cents: int, amount_cents: int, reserve_cents: int) -> None:
    """DECISIONS 16: supply ≤ max_issuance, and supply × exchange_rate ≤ reserve ÷ reserve_ratio.

    `reserve_cents` is the reserve in the backing currency after this call's deposit.
    """
    after = supply_cents + amount_cents
    if after > rules.max_issuance_cents:
        raise IssuanceRefused(
            "issuing this amount would exceed max_issuance",
            {"supply_after": _text(after), "max_issuance": _text(rules.max_issuance_cents)},
        )
    if rules.reserve_ratio > 0:
        needed = Decimal(after) * rules.exchange_rate * rules.reserve_ratio
        if needed > reserve_cents:
            raise IssuanceRefused(
                "the reserve does not cover this issuance at reserve_ratio",
                {"reserve": _text(reserve_cents), "reserve_needed": str(needed.scaleb(-2))},
            )


def reserve_release(amount_cents: int, exchange_rate: Decimal, reserve_cents: int) -> int:
    """Redemption releases `amount` × exchange_rate of reserve (rounded down), at most all of it."""
    wanted = int((Decimal(amount_cents) * exchange_rate).to_integral_value(rounding=ROUND_DOWN))
    return min(wanted, reserve_cents)


def _text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"
