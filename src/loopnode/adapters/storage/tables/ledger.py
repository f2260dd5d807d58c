"""Tables of the LoopCoin ledger (issue 10; docs/ledger.md, docs/clearing-rounds.md), created by
migration 0005.

What concurrency could break is a constraint here, identical on SQLite and PostgreSQL:
- no negative balance: CHECK on `ledger_accounts.balance_cents` and on every lot;
- one posting set per transfer id: `ledger_entries.id` is the primary key, and a posting set
  names its account at most once (UNIQUE (entry_id, account_id));
- supply never negative and never more redeemed than issued: CHECKs on the one totals row;
- a clearing round is recorded once per node: `ledger_clearing_rounds.id` is the primary key.
The store locks the accounts an entry touches (sorted, `FOR UPDATE`) before it reads their lots;
on SQLite the write transaction (`BEGIN IMMEDIATE`) serialises writers anyway.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loopnode.adapters.storage.tables.core import metadata

ENTRY_KINDS = "kind IN ('issue', 'redeem', 'transfer', 'decay', 'settlement', 'clearing')"

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("balance_cents", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    # The opening credential's pseudonymous subject (services/access/ownership.ensure_holder); NULL
    # for the node's own accounts, which only operators pay from.
    Column("holder", String(200)),
    CheckConstraint("balance_cents >= 0", name="balance_non_negative"),
    CheckConstraint("kind IN ('user', 'business', 'node')", name="kind"),
)

ledger_lots = Table(
    "ledger_lots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "account_id",
        String(200),
        ForeignKey("ledger_accounts.id", name="fk_ledger_lots_account"),
        nullable=False,
    ),
    Column("received_us", BigInteger, nullable=False),
    Column("cents", BigInteger, nullable=False),
    Column("steps", Integer, nullable=False),
    CheckConstraint("cents >= 0", name="cents_non_negative"),
    CheckConstraint("steps >= 0", name="steps_non_negative"),
    Index("ix_ledger_lots_account", "account_id", "received_us", "id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("minted_cents", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    CheckConstraint(ENTRY_KINDS, name="kind"),
    Index("ix_ledger_entries_created", "created_us", "id"),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "entry_id",
        String(160),
        ForeignKey("ledger_entries.id", name="fk_ledger_postings_entry"),
        nullable=False,
    ),
    Column(
        "account_id",
        String(200),
        ForeignKey("ledger_accounts.id", name="fk_ledger_postings_account"),
        nullable=False,
    ),
    Column("cents", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("entry_id", "account_id"),
    Index("ix_ledger_postings_account", "account_id", "id"),
)

ledger_totals = Table(
    "ledger_totals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("issued_cents", BigInteger, nullable=False),
    Column("redeemed_cents", BigInteger, nullable=False),
    Column("reserve_cents", BigInteger, nullable=False),
    # When the last scheduled clearing round was claimed (services/ledger/clearing_round.py).
    Column("last_round_us", BigInteger),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("issued_cents >= 0", name="issued_non_negative"),
    CheckConstraint("redeemed_cents >= 0 AND redeemed_cents <= issued_cents", name="redeemed"),
    CheckConstraint("reserve_cents >= 0", name="reserve_non_negative"),
)

# Bilateral obligations between nodes in the backing currency (settlement, clearing).
ledger_obligations = Table(
    "ledger_obligations",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("debtor", String(120), nullable=False),
    Column("creditor", String(120), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
    CheckConstraint("debtor <> creditor", name="two_parties"),
    CheckConstraint("origin IN ('created', 'received')", name="origin"),
    CheckConstraint("status IN ('open', 'cleared')", name="status"),
    Index("ix_ledger_obligations_pair", "debtor", "creditor"),
)

# The clearing rounds this node applied (services/ledger/clearing_round.py), newest first by
# (applied_us, id); amounts in cents of the backing currency, `part` is this node's share (JSON).
ledger_clearing_rounds = Table(
    "ledger_clearing_rounds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("coordinator", String(120), nullable=False),
    Column("applied_us", BigInteger, nullable=False),
    Column("participants", Text, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("cleared_cents", BigInteger, nullable=False),
    Column("bilateral_cents", BigInteger),
    Column("part", Text, nullable=False),
    CheckConstraint("total_cents >= 0", name="total_non_negative"),
    CheckConstraint("cleared_cents >= 0 AND cleared_cents <= total_cents", name="cleared"),
    CheckConstraint("bilateral_cents IS NULL OR bilateral_cents >= 0", name="bilateral"),
    Index("ix_ledger_clearing_rounds_applied", "applied_us", "id"),
)
