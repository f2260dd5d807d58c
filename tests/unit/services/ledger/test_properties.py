"""Random schedules of issue / transfer / redeem / month-advance over the ledger service
(issue 10): conservation, no negative balance and idempotency hold after every step.

The schedules are derandomised (seeded), so a failure replays identically.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from loopnode.domain.decay import DecayPolicy
from loopnode.domain.errors import Conflict
from loopnode.domain.money import Money
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.service import LedgerService
from tests.fakes import FakeClock
from tests.unit.services.ledger.fakes import LedgerState, MemoryLedgerUow

NODE = "munich.loop"
CONFIG = LedgerConfig(
    node_id=NODE,
    currency_code="LC-MUC",
    backed_by="EUR",
    exchange_rate=Decimal("1.0"),
    max_issuance=100_000,
    reserve_ratio=Decimal("1.0"),
    local_bonus=Decimal("0.05"),
    policy=DecayPolicy(1, Decimal("0.1")),
)
CENTS = st.integers(min_value=1, max_value=500_000)


def cents(text: str) -> int:
    return Money.parse(text).cents


def transfer_body(transfer_id: str, source: str, target: str, amount: int) -> dict[str, Any]:
    return {
        "@context": CONTEXT_V020,
        "@type": "LoopCoinTransfer",
        "id": transfer_id,
        "from": source,
        "to": target,
        "amount": Money(amount).to_decimal(),
        "currency": "LC-MUC",
        "timestamp": "2026-06-01T12:00:00Z",
    }


class LedgerSchedules(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    transfers = Bundle("transfers")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        counter = iter(range(1, 10**6))
        self.ledger = LedgerService(
            self.unit_of_work(),
            self.clock,
            CONFIG,
            new_id=lambda: str(uuid.UUID(int=next(counter))),
            token=lambda: f"{next(counter):012x}",
        )
        self.issued = self.redeemed = 0
        self.answers: dict[str, tuple[dict[str, Any], tuple[int, dict[str, Any]]]] = {}

    # What the invariants read, from the store under test.
    def unit_of_work(self) -> Any:
        self.state = LedgerState()
        return MemoryLedgerUow(self.state)

    def entry_count(self) -> int:
        return len(self.state.entries)

    def balances(self) -> dict[str, int]:
        return {a: row.balance_cents for a, row in self.state.accounts.items()}

    def lots(self) -> dict[str, list[int]]:
        return {a: [lot.cents for lot in lots] for a, lots in self.state.lots.items()}

    def posting_sums(self) -> tuple[dict[str, int], dict[str, int]]:
        """(entry → Σ postings, entry → minted)."""
        sums: dict[str, int] = {}
        for posting in self.state.postings:
            sums[posting.entry_id] = sums.get(posting.entry_id, 0) + posting.cents
        return sums, {e.id: e.minted_cents for e in self.state.entries.values()}

    @rule(target=accounts, kind=st.sampled_from(["user", "business"]))
    def open_account(self, kind: str) -> str:
        return str(self.ledger.open_account({"kind": kind})["id"])

    @rule(to=accounts, amount=CENTS)
    def issue(self, to: str, amount: int) -> None:
        body = {"to": to, "amount": str(Money(amount)), "reserve_deposit": str(Money(amount))}
        try:
            self.ledger.issue(body, "operator")
        except Conflict:
            assert self.issued - self.redeemed + amount > CONFIG.max_issuance * 100
            return
        self.issued += amount

    @rule(source=accounts, amount=CENTS)
    def redeem(self, source: str, amount: int) -> None:
        before = cents(self.ledger.account(source)["balance"])
        try:
            self.ledger.redeem({"from": source, "amount": str(Money(amount))}, "operator")
        except Conflict:
            assert before < amount
            return
        self.redeemed += amount

    @rule(target=transfers, source=accounts, to=accounts, amount=CENTS)
    def transfer(self, source: str, to: str, amount: int) -> str:
        transfer_id = str(uuid.uuid4())
        if source == to:
            return transfer_id
        body = transfer_body(transfer_id, source, to, amount)
        before = cents(self.ledger.account(source)["balance"])
        try:
            answer = self.ledger.transfer(body, "operator")
        except Conflict:
            assert before < amount
            return transfer_id
        assert answer[0] == 201
        self.answers[transfer_id] = (body, answer)
        return transfer_id

    @rule(transfer_id=transfers)
    def retry_is_idempotent(self, transfer_id: str) -> None:
        if transfer_id not in self.answers:
            return
        body, (_, first) = self.answers[transfer_id]
        entries = self.entry_count()
        status, again = self.ledger.transfer(body, "operator")
        assert (status, again) == (200, first)
        assert self.entry_count() == entries

    @rule(transfer_id=consumes(transfers), delta=st.integers(min_value=1, max_value=100))
    def reuse_with_another_body_is_refused(self, transfer_id: str, delta: int) -> None:
        if transfer_id not in self.answers:
            return
        body, _ = self.answers[transfer_id]
        changed = {**body, "amount": body["amount"] + Money(delta).to_decimal()}
        entries = self.entry_count()
        try:
            self.ledger.transfer(changed, "operator")
        except Conflict:
            assert self.entry_count() == entries
            return
        raise AssertionError("a reused transfer id with another amount was accepted")

    @rule(days=st.integers(min_value=1, max_value=70))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

    @invariant()
    def supply_is_conserved(self) -> None:
        supply = self.ledger.supply()
        assert cents(supply["issued"]) == self.issued
        assert cents(supply["redeemed"]) == self.redeemed
        circulating, fund = cents(supply["circulating"]), cents(supply["community_fund"])
        assert circulating + fund == self.issued - self.redeemed
        assert sum(self.balances().values()) == self.issued - self.redeemed

    @invariant()
    def no_balance_or_lot_is_negative(self) -> None:
        balances = self.balances()
        assert all(cents >= 0 for cents in balances.values())
        for account, lots in self.lots().items():
            assert all(cents > 0 for cents in lots)
            assert sum(lots) == balances[account]

    @invariant()
    def every_posting_set_balances(self) -> None:
        sums, minted = self.posting_sums()
        for entry_id, cents in minted.items():
            assert sums.get(entry_id, 0) == cents

    @invariant()
    def a_future_projection_conserves_too(self) -> None:
        later = self.ledger.supply(self.clock.now() + timedelta(days=400))
        total = cents(later["circulating"]) + cents(later["community_fund"])
        assert total == self.issued - self.redeemed


LedgerSchedules.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, derandomize=True, deadline=None
)
TestLedgerSchedules = LedgerSchedules.TestCase
