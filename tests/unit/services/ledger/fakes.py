"""An in-memory ledger unit of work: the same port the SQL store implements, with rollback."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any

from loopnode.domain.evidence import EvidenceEvent
from loopnode.domain.ledger import Holding, Lot
from loopnode.domain.times import to_us
from loopnode.services.ledger.ports import (
    AccountRow,
    DuplicateEntry,
    EntryRow,
    ObligationRow,
    PostingRow,
    RoundRow,
    Totals,
)
from loopnode.services.ports import EvidenceDraft


@dataclass
class LedgerState:
    accounts: dict[str, AccountRow] = field(default_factory=dict)
    lots: dict[str, list[Lot]] = field(default_factory=dict)
    entries: dict[str, EntryRow] = field(default_factory=dict)
    postings: list[PostingRow] = field(default_factory=list)
    totals: Totals = field(default_factory=lambda: Totals(0, 0, 0))
    obligations: dict[str, ObligationRow] = field(default_factory=dict)
    rounds: dict[str, RoundRow] = field(default_factory=dict)
    next_lot: int = 1
    last_round_us: int | None = None
    evidence: list[EvidenceDraft] = field(default_factory=list)


class MemoryLedgerStore:
    def __init__(self, state: LedgerState) -> None:
        self.s = state

    def create_account(
        self, account_id: str, kind: str, now_us: int, holder: str | None = None
    ) -> bool:
        if account_id in self.s.accounts:
            return False
        self.s.accounts[account_id] = AccountRow(account_id, kind, 0, now_us, holder)
        self.s.lots[account_id] = []
        return True

    def account(self, account_id: str) -> AccountRow | None:
        return self.s.accounts.get(account_id)

    def lock_accounts(self, account_ids: Sequence[str]) -> dict[str, AccountRow]:
        return {a: self.s.accounts[a] for a in account_ids if a in self.s.accounts}

    def lots(self, account_id: str) -> list[Lot]:
        return sorted(self.s.lots.get(account_id, []), key=Lot.order)

    def all_lots(self) -> dict[str, list[Lot]]:
        return {a: self.lots(a) for a in self.s.lots}

    def accounts(self) -> list[AccountRow]:
        return sorted(self.s.accounts.values(), key=lambda row: row.id)

    def save(self, holding: Holding, loaded: Sequence[Lot]) -> None:
        kept = []
        for lot in holding.lots:
            if lot.cents == 0:
                continue
            if lot.lot_id is None:
                lot = replace(lot, lot_id=self.s.next_lot)
                self.s.next_lot += 1
            kept.append(lot)
        assert holding.balance >= 0, "CHECK balance_cents >= 0"
        self.s.lots[holding.account] = kept
        row = self.s.accounts[holding.account]
        self.s.accounts[holding.account] = replace(row, balance_cents=holding.balance)

    def entry(self, entry_id: str) -> EntryRow | None:
        return self.s.entries.get(entry_id)

    def add_entry(self, row: EntryRow, postings: Mapping[str, int]) -> None:
        if row.id in self.s.entries:
            raise DuplicateEntry(f"entry {row.id} exists", {"id": row.id})
        self.s.entries[row.id] = row
        for account, cents in sorted(postings.items()):
            if cents:
                number = len(self.s.postings) + 1
                self.s.postings.append(
                    PostingRow(number, row.id, row.kind, account, cents, row.created_us)
                )

    def totals(self, *, lock: bool = False) -> Totals:
        return self.s.totals

    def set_totals(self, totals: Totals) -> None:
        self.s.totals = totals

    def claim_round(self, now_us: int, interval_us: int) -> bool:
        last = self.s.last_round_us
        due = last is not None and now_us - last >= interval_us
        if last is None or due:
            self.s.last_round_us = now_us
        return due

    def statement(self, account_id: str, after: int, limit: int) -> list[PostingRow]:
        rows = [p for p in self.s.postings if p.account_id == account_id and p.posting_id > after]
        return rows[:limit]

    def add_obligation(self, row: ObligationRow) -> bool:
        if row.id in self.s.obligations:
            return False
        self.s.obligations[row.id] = row
        return True

    def obligations(self, status: str | None = None) -> list[ObligationRow]:
        return [o for o in self.s.obligations.values() if status in (None, o.status)]

    def set_obligation_status(self, ids: Sequence[str], status: str) -> None:
        for i in ids:
            self.s.obligations[i] = replace(self.s.obligations[i], status=status)

    def add_round(self, row: RoundRow) -> bool:
        if row.id in self.s.rounds:
            return False
        self.s.rounds[row.id] = row
        return True

    def round(self, round_id: str) -> RoundRow | None:
        return self.s.rounds.get(round_id)

    def rounds(self, before: tuple[int, str] | None, limit: int) -> list[RoundRow]:
        rows = sorted(self.s.rounds.values(), key=lambda r: (r.applied_us, r.id), reverse=True)
        return [r for r in rows if before is None or (r.applied_us, r.id) < before][:limit]


class MemoryEvidence:
    def __init__(self, state: LedgerState) -> None:
        self.s = state

    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent:
        self.s.evidence.append(draft)
        return None  # type: ignore[return-value]

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]:
        return []


class MemoryLedgerUow:
    """`with factory(write=...) as uow`: changes are kept on a clean exit, undone otherwise."""

    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def __call__(self, **_: Any) -> MemoryLedgerUow:
        return self

    def __enter__(self) -> MemoryLedgerUow:
        self._saved = copy.deepcopy(self.state.__dict__)
        self.ledger = MemoryLedgerStore(self.state)
        self.evidence = MemoryEvidence(self.state)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.state.__dict__.update(self._saved)


def now_us(moment: datetime) -> int:
    return to_us(moment)
