"""The same random schedules as tests/unit/services/ledger/test_properties.py, against the SQL
store on SQLite (fewer, shorter schedules: each step is real transactions). This pins the
adapter to the model: lot order, partial writes of changed lots, the totals row."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import settings
from sqlalchemy import text

from loopnode.adapters.storage.engine import make_engine
from loopnode.adapters.storage.migrate import upgrade
from loopnode.adapters.storage.uow import SqlUnitOfWork
from tests.unit.services.ledger.test_properties import LedgerSchedules

_DB = Path(tempfile.mkdtemp(prefix="loopnode-ledger-props-")) / "ledger.db"
ENGINE = make_engine(f"sqlite:///{_DB}")
upgrade(ENGINE)
TABLES = ("ledger_postings", "ledger_entries", "ledger_lots", "ledger_accounts")


class SqlLedgerSchedules(LedgerSchedules):
    def unit_of_work(self) -> Any:
        with ENGINE.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
            connection.execute(
                text("UPDATE ledger_totals SET issued_cents=0, redeemed_cents=0, reserve_cents=0")
            )
        return partial(SqlUnitOfWork, ENGINE, "munich.loop")

    def _rows(self, query: str) -> list[Any]:
        with ENGINE.connect() as connection:
            return list(connection.execute(text(query)))

    def entry_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM ledger_entries")[0][0])

    def balances(self) -> dict[str, int]:
        return dict(self._rows("SELECT id, balance_cents FROM ledger_accounts"))  # type: ignore[arg-type]

    def lots(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for account, cents in self._rows("SELECT account_id, cents FROM ledger_lots"):
            found.setdefault(account, []).append(cents)
        return found

    def posting_sums(self) -> tuple[dict[str, int], dict[str, int]]:
        sums = dict(
            self._rows("SELECT entry_id, sum(cents) FROM ledger_postings GROUP BY entry_id")
        )
        minted = dict(self._rows("SELECT id, minted_cents FROM ledger_entries"))
        return sums, minted  # type: ignore[return-value]


SqlLedgerSchedules.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, derandomize=True, deadline=None
)
TestSqlLedgerSchedules = SqlLedgerSchedules.TestCase
