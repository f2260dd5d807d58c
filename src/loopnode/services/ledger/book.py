"""The holdings one ledger unit of work touches: locked, decayed to now, changed, written back.

A `Book` is opened inside a write transaction. It locks every account it will touch plus the
community fund (sorted, so concurrent books never deadlock), materialises the decay that is
due (domain/decay.py) as its own `decay` entry, then records the moves the operation asks for
and writes one balanced posting set for them (`commit`). Nothing is written before `commit`,
and a refusal (insufficient funds, an unknown account) raises before anything is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.ledger import AccountId, Holding, Lot, credit, debit, decayed
from loopnode.domain.money import Money
from loopnode.domain.times import to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.ports import EntryRow, LedgerStore
from loopnode.services.ports import EvidenceDraft


class UnknownAccount(InvalidRequest):
    """A posting names an account this node does not hold (400)."""


class Book:
    def __init__(
        self, store: LedgerStore, config: LedgerConfig, now: datetime, accounts: Iterable[str]
    ) -> None:
        self._store = store
        self._config = config
        self.now = now
        self.fund = config.fund
        ids = sorted({*accounts, self.fund})
        rows = store.lock_accounts(ids)
        created = [a for a in ids if a not in rows and self._create_system(a)]
        if created:
            rows.update(store.lock_accounts(created))
        missing = [a for a in ids if a not in rows]
        if missing:
            raise UnknownAccount(f"no account {missing[0]} on this node", {"account": missing[0]})
        self.holdings: dict[str, Holding] = {}
        self._loaded: dict[str, tuple[Lot, ...]] = {}
        self._decay: dict[str, int] = defaultdict(int)
        for account in ids:
            lots = self._loaded[account] = tuple(store.lots(account))
            holding = Holding(account, lots, decays=rows[account].kind != "node")
            holding, residue = decayed(holding, now, config.policy)
            self.holdings[account] = holding
            if residue:
                self._decay[account] -= residue
                self._decay[self.fund] += residue
        if self._decay:
            self.holdings[self.fund] = credit(self.holdings[self.fund], self._decay[self.fund], now)
        self._net: dict[str, int] = defaultdict(int)
        self.minted = 0

    def _create_system(self, account: str) -> bool:
        parsed = AccountId.parse(account)
        if not parsed.is_system or parsed.node != self._config.node_id:
            return False
        self._store.create_account(account, "node", to_us(self.now))
        return True

    def balance(self, account: str) -> int:
        return self.holdings[account].balance

    def move(self, source: str, target: str, cents: int) -> None:
        self.burn(source, cents)
        self.mint(target, cents)

    def mint(self, target: str, cents: int) -> None:
        self.holdings[target] = credit(self.holdings[target], cents, self.now)
        self._net[target] += cents
        self.minted += cents

    def burn(self, source: str, cents: int) -> None:
        self.holdings[source] = debit(self.holdings[source], cents)
        self._net[source] -= cents
        self.minted -= cents

    def commit(
        self, entry_id: str, kind: str, request_hash: str, document: dict[str, Any]
    ) -> list[EntryRow]:
        """Write the holdings and the posting sets (decay first); answers the entries written."""
        now_us = to_us(self.now)
        for account, holding in self.holdings.items():
            if holding.lots != self._loaded[account]:
                self._store.save(holding, self._loaded[account])
        written: list[EntryRow] = []
        if self._decay:
            decay = EntryRow(
                f"decay-{entry_id}",
                "decay",
                request_hash,
                0,
                {"kind": "decay", "postings": _wire(self._decay)},
                now_us,
            )
            self._store.add_entry(decay, self._decay)
            written.append(decay)
        entry = EntryRow(entry_id, kind, request_hash, self.minted, document, now_us)
        self._store.add_entry(entry, self._net)
        written.append(entry)
        return written


def _wire(postings: dict[str, int]) -> dict[str, str]:
    return {account: str(Money(cents)) for account, cents in sorted(postings.items()) if cents}


def evidence_draft(entry: EntryRow, actor: str) -> EvidenceDraft:
    return EvidenceDraft(
        "ledger.posted",
        "ledger",
        entry.id,
        actor,
        sha256_hex(entry.document),
        {"kind": entry.kind},
    )
