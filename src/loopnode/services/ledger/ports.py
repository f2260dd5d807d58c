"""What the ledger services need from storage (adapters/storage/sql/ledger.py, tests' fakes):
the store behind `uow.ledger` of the node's one `UnitOfWork` (services/ports.py).

Rows cross the boundary as frozen dataclasses and domain `Lot`s, never ORM objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loopnode.domain.errors import Conflict
from loopnode.domain.ledger import Holding, Lot


class DuplicateEntry(Conflict):
    """An entry id is already stored (a concurrent retry of the same transfer, or a reuse)."""


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    kind: str
    balance_cents: int
    created_us: int
    # The opening credential's `Principal.subject` (None for the node's own accounts).
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: str
    kind: str
    request_hash: str
    minted_cents: int
    document: dict[str, Any]
    created_us: int


@dataclass(frozen=True, slots=True)
class PostingRow:
    posting_id: int
    entry_id: str
    kind: str
    account_id: str
    cents: int
    created_us: int


@dataclass(frozen=True, slots=True)
class Totals:
    issued_cents: int
    redeemed_cents: int
    reserve_cents: int

    @property
    def supply_cents(self) -> int:
        return self.issued_cents - self.redeemed_cents


@dataclass(frozen=True, slots=True)
class ObligationRow:
    """A bilateral obligation between two nodes, in cents of the backing currency."""

    id: str
    debtor: str
    creditor: str
    amount_cents: int
    currency: str
    origin: str
    status: str
    document: dict[str, Any]
    created_us: int


@dataclass(frozen=True, slots=True)
class RoundRow:
    """A clearing round this node applied (amounts in cents of the backing currency)."""

    id: str
    coordinator: str
    applied_us: int
    participants: tuple[str, ...]
    total_cents: int
    cleared_cents: int
    bilateral_cents: int | None
    part: dict[str, Any]


class LedgerStore(Protocol):
    def create_account(
        self, account_id: str, kind: str, now_us: int, holder: str | None = None
    ) -> bool:
        """Create the account (held by `holder`); False (and nothing changed) when it exists."""

    def account(self, account_id: str) -> AccountRow | None: ...

    def lock_accounts(self, account_ids: Sequence[str]) -> dict[str, AccountRow]:
        """The existing accounts among `account_ids`, locked in id order until commit."""

    def lots(self, account_id: str) -> list[Lot]: ...

    def all_lots(self) -> dict[str, list[Lot]]: ...

    def accounts(self) -> list[AccountRow]: ...

    def save(self, holding: Holding, loaded: Sequence[Lot]) -> None:
        """Write the holding's lots (insert new, update changed, drop empty) and its balance;
        `loaded` is what `lots` answered for the account in this unit of work."""

    def entry(self, entry_id: str) -> EntryRow | None: ...

    def add_entry(self, row: EntryRow, postings: Mapping[str, int]) -> None:
        """Store a posting set; `DuplicateEntry` when its id exists."""

    def totals(self, *, lock: bool = False) -> Totals: ...

    def set_totals(self, totals: Totals) -> None: ...

    def claim_round(self, now_us: int, interval_us: int) -> bool:
        """True when a scheduled clearing round is due (and now claimed by the caller): one
        interval after the last claim; the very first call only starts the clock."""

    def statement(self, account_id: str, after: int, limit: int) -> list[PostingRow]: ...

    def add_obligation(self, row: ObligationRow) -> bool:
        """Store it; False when its id is known already."""

    def obligations(self, status: str | None = None) -> list[ObligationRow]: ...

    def set_obligation_status(self, ids: Sequence[str], status: str) -> None: ...

    def add_round(self, row: RoundRow) -> bool:
        """Record an applied clearing round; False (nothing changed) when its id is known."""

    def round(self, round_id: str) -> RoundRow | None: ...

    def rounds(self, before: tuple[int, str] | None, limit: int) -> list[RoundRow]:
        """Newest first by (applied_us, id), strictly older than `before` when given."""
