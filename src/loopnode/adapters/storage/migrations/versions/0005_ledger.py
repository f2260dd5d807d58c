"""LoopCoin ledger: accounts, lots, entries and postings, totals, inter-node obligations,
the clearing rounds applied
(issue 10; adapters/storage/tables/ledger.py says which constraint guards what).

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

ENTRY_KINDS = "kind IN ('issue', 'redeem', 'transfer', 'decay', 'settlement', 'clearing')"


def upgrade() -> None:
    _accounts()
    _entries()
    _totals_and_obligations()
    _clearing_rounds()


def _accounts() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.CheckConstraint("balance_cents >= 0", name="ck_ledger_accounts_balance_non_negative"),
        sa.CheckConstraint("kind IN ('user', 'business', 'node')", name="ck_ledger_accounts_kind"),
    )
    op.create_table(
        "ledger_lots",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("cents", sa.BigInteger, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_lots"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name="fk_ledger_lots_account"
        ),
        sa.CheckConstraint("cents >= 0", name="ck_ledger_lots_cents_non_negative"),
        sa.CheckConstraint("steps >= 0", name="ck_ledger_lots_steps_non_negative"),
    )
    op.create_index("ix_ledger_lots_account", "ledger_lots", ["account_id", "received_us", "id"])


def _entries() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("minted_cents", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.CheckConstraint(ENTRY_KINDS, name="ck_ledger_entries_kind"),
    )
    op.create_index("ix_ledger_entries_created", "ledger_entries", ["created_us", "id"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(160), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("cents", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_postings"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name="fk_ledger_postings_entry"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name="fk_ledger_postings_account"
        ),
        sa.UniqueConstraint(
            "entry_id", "account_id", name="uq_ledger_postings_entry_id_account_id"
        ),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account_id", "id"])


def _totals_and_obligations() -> None:
    totals = op.create_table(
        "ledger_totals",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("issued_cents", sa.BigInteger, nullable=False),
        sa.Column("redeemed_cents", sa.BigInteger, nullable=False),
        sa.Column("reserve_cents", sa.BigInteger, nullable=False),
        sa.Column("last_round_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_totals"),
        sa.CheckConstraint("id = 1", name="ck_ledger_totals_single_row"),
        sa.CheckConstraint("issued_cents >= 0", name="ck_ledger_totals_issued_non_negative"),
        sa.CheckConstraint(
            "redeemed_cents >= 0 AND redeemed_cents <= issued_cents",
            name="ck_ledger_totals_redeemed",
        ),
        sa.CheckConstraint("reserve_cents >= 0", name="ck_ledger_totals_reserve_non_negative"),
    )
    op.bulk_insert(totals, [{"id": 1, "issued_cents": 0, "redeemed_cents": 0, "reserve_cents": 0}])
    op.create_table(
        "ledger_obligations",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("debtor", sa.String(120), nullable=False),
        sa.Column("creditor", sa.String(120), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_obligations"),
        sa.CheckConstraint("amount_cents >= 0", name="ck_ledger_obligations_amount_non_negative"),
        sa.CheckConstraint("debtor <> creditor", name="ck_ledger_obligations_two_parties"),
        sa.CheckConstraint(
            "origin IN ('created', 'received')", name="ck_ledger_obligations_origin"
        ),
        sa.CheckConstraint("status IN ('open', 'cleared')", name="ck_ledger_obligations_status"),
    )
    op.create_index("ix_ledger_obligations_pair", "ledger_obligations", ["debtor", "creditor"])


def _clearing_rounds() -> None:
    op.create_table(
        "ledger_clearing_rounds",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("coordinator", sa.String(120), nullable=False),
        sa.Column("applied_us", sa.BigInteger, nullable=False),
        sa.Column("participants", sa.Text, nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("cleared_cents", sa.BigInteger, nullable=False),
        sa.Column("bilateral_cents", sa.BigInteger),
        sa.Column("part", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_clearing_rounds"),
        sa.CheckConstraint("total_cents >= 0", name="ck_ledger_clearing_rounds_total_non_negative"),
        sa.CheckConstraint(
            "cleared_cents >= 0 AND cleared_cents <= total_cents",
            name="ck_ledger_clearing_rounds_cleared",
        ),
        sa.CheckConstraint(
            "bilateral_cents IS NULL OR bilateral_cents >= 0",
            name="ck_ledger_clearing_rounds_bilateral",
        ),
    )
    op.create_index(
        "ix_ledger_clearing_rounds_applied", "ledger_clearing_rounds", ["applied_us", "id"]
    )


def downgrade() -> None:
    for table in (
        "ledger_clearing_rounds",
        "ledger_obligations",
        "ledger_totals",
        "ledger_postings",
        "ledger_entries",
        "ledger_lots",
        "ledger_accounts",
    ):
        op.drop_table(table)
