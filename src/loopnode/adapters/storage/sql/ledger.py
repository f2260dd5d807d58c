"""SQLAlchemy Core store of the LoopCoin ledger (services/ledger/ports.py: LedgerStore).

Accounts are locked with `SELECT … FOR UPDATE` in id order, so two entries touching the same
accounts queue instead of deadlocking; the balance CHECK and the entry primary key are the
backstop if a caller ever skipped the lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.savepoints import insert_unless_present
from loopnode.adapters.storage.sql import json_text
from loopnode.adapters.storage.tables.ledger import (
    ledger_accounts,
    ledger_clearing_rounds,
    ledger_entries,
    ledger_lots,
    ledger_obligations,
    ledger_postings,
    ledger_totals,
)
from loopnode.domain.ledger import Holding, Lot
from loopnode.domain.times import from_us, to_us
from loopnode.services.ledger.ports import (
    AccountRow,
    DuplicateEntry,
    EntryRow,
    ObligationRow,
    PostingRow,
    RoundRow,
    Totals,
)


def _lot(row: Any) -> Lot:
    return Lot(received=from_us(row.received_us), cents=row.cents, steps=row.steps, lot_id=row.id)


def _account(row: Any) -> AccountRow:
    return AccountRow(row.id, row.kind, row.balance_cents, row.created_us, row.holder)


class SqlLedgerStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def create_account(
        self, account_id: str, kind: str, now_us: int, holder: str | None = None
    ) -> bool:
        values = {
            "id": account_id,
            "kind": kind,
            "balance_cents": 0,
            "created_us": now_us,
            "holder": holder,
        }
        return insert_unless_present(self._c, insert(ledger_accounts), values)

    def account(self, account_id: str) -> AccountRow | None:
        row = self._c.execute(
            select(ledger_accounts).where(ledger_accounts.c.id == account_id)
        ).first()
        return None if row is None else _account(row)

    def lock_accounts(self, account_ids: Sequence[str]) -> dict[str, AccountRow]:
        found: dict[str, AccountRow] = {}
        for account_id in sorted(set(account_ids)):
            row = self._c.execute(
                select(ledger_accounts).where(ledger_accounts.c.id == account_id).with_for_update()
            ).first()
            if row is not None:
                found[account_id] = _account(row)
        return found

    def lots(self, account_id: str) -> list[Lot]:
        rows = self._c.execute(
            select(ledger_lots)
            .where(ledger_lots.c.account_id == account_id)
            .order_by(ledger_lots.c.received_us, ledger_lots.c.id)
        )
        return [_lot(row) for row in rows]

    def all_lots(self) -> dict[str, list[Lot]]:
        found: dict[str, list[Lot]] = {}
        rows = self._c.execute(
            select(ledger_lots).order_by(ledger_lots.c.received_us, ledger_lots.c.id)
        )
        for row in rows:
            found.setdefault(row.account_id, []).append(_lot(row))
        return found

    def accounts(self) -> list[AccountRow]:
        rows = self._c.execute(select(ledger_accounts).order_by(ledger_accounts.c.id))
        return [_account(row) for row in rows]

    def save(self, holding: Holding, loaded: Sequence[Lot]) -> None:
        stored = {lot.lot_id: lot for lot in loaded}
        for lot in holding.lots:
            if lot.lot_id is None:
                if lot.cents > 0:
                    self._c.execute(
                        insert(ledger_lots).values(
                            account_id=holding.account,
                            received_us=to_us(lot.received),
                            cents=lot.cents,
                            steps=lot.steps,
                        )
                    )
            elif lot.cents == 0:
                self._c.execute(delete(ledger_lots).where(ledger_lots.c.id == lot.lot_id))
            elif stored.get(lot.lot_id) != lot:
                self._c.execute(
                    update(ledger_lots)
                    .where(ledger_lots.c.id == lot.lot_id)
                    .values(cents=lot.cents, steps=lot.steps)
                )
        self._c.execute(
            update(ledger_accounts)
            .where(ledger_accounts.c.id == holding.account)
            .values(balance_cents=holding.balance)
        )

    def entry(self, entry_id: str) -> EntryRow | None:
        row = self._c.execute(select(ledger_entries).where(ledger_entries.c.id == entry_id)).first()
        if row is None:
            return None
        return EntryRow(
            row.id,
            row.kind,
            row.request_hash,
            row.minted_cents,
            orjson.loads(row.document),
            row.created_us,
        )

    def add_entry(self, row: EntryRow, postings: Mapping[str, int]) -> None:
        entry = {
            "id": row.id,
            "kind": row.kind,
            "request_hash": row.request_hash,
            "minted_cents": row.minted_cents,
            "document": json_text(row.document),
            "created_us": row.created_us,
        }
        if not insert_unless_present(self._c, insert(ledger_entries), entry):
            raise DuplicateEntry(f"entry {row.id} exists", {"id": row.id})
        values = [
            {"entry_id": row.id, "account_id": a, "cents": c, "created_us": row.created_us}
            for a, c in sorted(postings.items())
            if c != 0
        ]
        if values:
            self._c.execute(insert(ledger_postings), values)

    def totals(self, *, lock: bool = False) -> Totals:
        statement = select(ledger_totals).where(ledger_totals.c.id == 1)
        if lock:
            statement = statement.with_for_update()
        row = self._c.execute(statement).one()
        return Totals(row.issued_cents, row.redeemed_cents, row.reserve_cents)

    def set_totals(self, totals: Totals) -> None:
        self._c.execute(
            update(ledger_totals)
            .where(ledger_totals.c.id == 1)
            .values(
                issued_cents=totals.issued_cents,
                redeemed_cents=totals.redeemed_cents,
                reserve_cents=totals.reserve_cents,
            )
        )

    def claim_round(self, now_us: int, interval_us: int) -> bool:
        row = self._c.execute(
            select(ledger_totals.c.last_round_us).where(ledger_totals.c.id == 1).with_for_update()
        ).one()
        last = row.last_round_us
        due = last is not None and now_us - last >= interval_us
        if last is None or due:
            self._c.execute(
                update(ledger_totals).where(ledger_totals.c.id == 1).values(last_round_us=now_us)
            )
        return due

    def statement(self, account_id: str, after: int, limit: int) -> list[PostingRow]:
        rows = self._c.execute(
            select(ledger_postings, ledger_entries.c.kind)
            .join(ledger_entries, ledger_entries.c.id == ledger_postings.c.entry_id)
            .where(ledger_postings.c.account_id == account_id, ledger_postings.c.id > after)
            .order_by(ledger_postings.c.id)
            .limit(limit)
        )
        return [
            PostingRow(r.id, r.entry_id, r.kind, r.account_id, r.cents, r.created_us) for r in rows
        ]

    def add_obligation(self, row: ObligationRow) -> bool:
        obligation = {
            "id": row.id,
            "debtor": row.debtor,
            "creditor": row.creditor,
            "amount_cents": row.amount_cents,
            "currency": row.currency,
            "origin": row.origin,
            "status": row.status,
            "document": json_text(row.document),
            "created_us": row.created_us,
        }
        return insert_unless_present(self._c, insert(ledger_obligations), obligation)

    def obligations(self, status: str | None = None) -> list[ObligationRow]:
        statement = select(ledger_obligations).order_by(
            ledger_obligations.c.created_us, ledger_obligations.c.id
        )
        if status is not None:
            statement = statement.where(ledger_obligations.c.status == status)
        return [
            ObligationRow(
                r.id,
                r.debtor,
                r.creditor,
                r.amount_cents,
                r.currency,
                r.origin,
                r.status,
                orjson.loads(r.document),
                r.created_us,
            )
            for r in self._c.execute(statement)
        ]

    def set_obligation_status(self, ids: Sequence[str], status: str) -> None:
        if ids:
            self._c.execute(
                update(ledger_obligations)
                .where(ledger_obligations.c.id.in_(list(ids)))
                .values(status=status)
            )

    def add_round(self, row: RoundRow) -> bool:
        round_ = {
            "id": row.id,
            "coordinator": row.coordinator,
            "applied_us": row.applied_us,
            "participants": orjson.dumps(list(row.participants)).decode(),
            "total_cents": row.total_cents,
            "cleared_cents": row.cleared_cents,
            "bilateral_cents": row.bilateral_cents,
            "part": json_text(row.part),
        }
        return insert_unless_present(self._c, insert(ledger_clearing_rounds), round_)

    def round(self, round_id: str) -> RoundRow | None:
        table = ledger_clearing_rounds
        row = self._c.execute(select(table).where(table.c.id == round_id)).first()
        return None if row is None else _round(row)

    def rounds(self, before: tuple[int, str] | None, limit: int) -> list[RoundRow]:
        table = ledger_clearing_rounds
        statement = select(table).order_by(table.c.applied_us.desc(), table.c.id.desc())
        if before is not None:
            applied_us, round_id = before
            statement = statement.where(
                or_(
                    table.c.applied_us < applied_us,
                    and_(table.c.applied_us == applied_us, table.c.id < round_id),
                )
            )
        return [_round(row) for row in self._c.execute(statement.limit(limit))]


def _round(row: Any) -> RoundRow:
    return RoundRow(
        row.id,
        row.coordinator,
        row.applied_us,
        tuple(orjson.loads(row.participants)),
        row.total_cents,
        row.cleared_cents,
        row.bilateral_cents,
        orjson.loads(row.part),
    )
