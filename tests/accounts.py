"""Test helper: LoopCoin accounts with fixed ids (ballots and demand listings must name an
existing account of the node, services/access/ownership.py)."""

from __future__ import annotations

from typing import Any

from loopnode.domain.times import to_us


def open_accounts(container: Any, *account_ids: str, holder: str | None = None) -> None:
    """Store each account id (kind from its prefix) as held by `holder` (None: operators only)."""
    with container.uow(write=True) as uow:
        for account_id in account_ids:
            kind = account_id.split(":", 1)[0]
            uow.ledger.create_account(account_id, kind, to_us(container.clock.now()), holder)
