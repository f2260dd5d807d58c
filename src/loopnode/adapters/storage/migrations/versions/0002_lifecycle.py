"""Exchange lifecycle: offers, matches, transfers, material status updates, transactions,
custody, status history, idempotency keys (DECISIONS 7-11).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE_MATCH = "status IN ('proposed', 'accepted')"
LIVE_TRANSFER = "status <> 'cancelled'"


def _times() -> list[sa.Column[int]]:
    return [
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    ]


def _subject() -> list[sa.Column[str]]:
    return [
        sa.Column("subject_id", sa.String(160), nullable=False),
        sa.Column("material_id", sa.String(160)),
        sa.Column("product_id", sa.String(160)),
    ]


def upgrade() -> None:
    _exchange()
    _records_of_change()


def _exchange() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.String(160), nullable=False),
        *_subject(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("quantity_micro", sa.BigInteger, nullable=False),
        sa.Column("available_until_us", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
        sa.ForeignKeyConstraint(["subject_id"], ["dna_records.id"], name="fk_offers_subject"),
        sa.CheckConstraint("status IN ('open', 'reserved', 'withdrawn')", name="ck_offers_status"),
        sa.CheckConstraint("quantity_micro >= 0", name="ck_offers_quantity_non_negative"),
        sa.UniqueConstraint("id", "subject_id", name="uq_offers_id_subject_id"),
    )
    op.create_index("ix_offers_subject_id", "offers", ["subject_id"])
    op.create_index("ix_offers_created", "offers", ["created_us", "id"])

    op.create_table(
        "matches",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("offer_id", sa.String(160), nullable=False),
        *_subject(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_matches"),
        sa.ForeignKeyConstraint(
            ["offer_id", "subject_id"],
            ["offers.id", "offers.subject_id"],
            name="fk_matches_offer_subject",
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'accepted', 'rejected', 'expired')",
            name="ck_matches_status",
        ),
        sa.UniqueConstraint("id", "subject_id", name="uq_matches_id_subject_id"),
    )
    op.create_index(
        "uq_matches_active_offer",
        "matches",
        ["offer_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_MATCH),
        postgresql_where=sa.text(ACTIVE_MATCH),
    )
    op.create_index("ix_matches_offer_id", "matches", ["offer_id"])
    op.create_index("ix_matches_created", "matches", ["created_us", "id"])

    op.create_table(
        "transfers",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("match_id", sa.String(160), nullable=False),
        sa.Column("offer_id", sa.String(160), nullable=False),
        *_subject(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.ForeignKeyConstraint(
            ["match_id", "subject_id"],
            ["matches.id", "matches.subject_id"],
            name="fk_transfers_match_subject",
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'in_transit', 'completed', 'cancelled')",
            name="ck_transfers_status",
        ),
    )
    op.create_index(
        "uq_transfers_live_match",
        "transfers",
        ["match_id"],
        unique=True,
        sqlite_where=sa.text(LIVE_TRANSFER),
        postgresql_where=sa.text(LIVE_TRANSFER),
    )
    op.create_index("ix_transfers_match_id", "transfers", ["match_id"])
    op.create_index("ix_transfers_created", "transfers", ["created_us", "id"])


def _records_of_change() -> None:
    op.create_table(
        "material_status_updates",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_material_status_updates"),
        sa.ForeignKeyConstraint(
            ["material_id"], ["dna_records.id"], name="fk_material_status_updates_material"
        ),
        sa.CheckConstraint(
            "status IN ('available', 'reserved', 'withdrawn')",
            name="ck_material_status_updates_status",
        ),
    )
    op.create_index(
        "ix_material_status_updates_material_id", "material_status_updates", ["material_id"]
    )
    op.create_index(
        "ix_material_status_updates_created", "material_status_updates", ["created_us", "id"]
    )

    op.create_table(
        "transactions",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("seller", sa.String(128), nullable=False),
        sa.Column("buyer", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("settlement", sa.Text),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'in_transit', 'delivered', 'completed', "
            "'cancelled', 'disputed')",
            name="ck_transactions_status",
        ),
    )
    op.create_index("ix_transactions_material_id", "transactions", ["material_id"])
    op.create_index("ix_transactions_created", "transactions", ["created_us", "id"])

    op.create_table(
        "custody",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("record_id", sa.String(160), nullable=False),
        sa.Column("child_id", sa.String(160)),
        sa.Column("transfer_id", sa.String(160), nullable=False),
        sa.Column("offer_id", sa.String(160), nullable=False),
        sa.Column("match_id", sa.String(160), nullable=False),
        sa.Column("from_city", sa.String(80), nullable=False),
        sa.Column("to_city", sa.String(80), nullable=False),
        sa.Column("quantity_micro", sa.BigInteger, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custody"),
        sa.ForeignKeyConstraint(["record_id"], ["dna_records.id"], name="fk_custody_record"),
        sa.ForeignKeyConstraint(["child_id"], ["dna_records.id"], name="fk_custody_child"),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfers.id"], name="fk_custody_transfer"),
        sa.CheckConstraint("mode IN ('move', 'split')", name="ck_custody_mode"),
        sa.UniqueConstraint("transfer_id", name="uq_custody_transfer_id"),
    )
    op.create_index("ix_custody_record_id", "custody", ["record_id"])
    op.create_index("ix_custody_child_id", "custody", ["child_id"])

    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("entity_type", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16)),
        sa.Column("reason", sa.String(200)),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_history"),
    )
    op.create_index(
        "ix_status_history_entity", "status_history", ["entity_type", "entity_id", "id"]
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(160), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("body", sa.Text),
        sa.Column("headers", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
        sa.CheckConstraint("state IN ('pending', 'done')", name="ck_idempotency_keys_state"),
    )
    op.create_index("ix_idempotency_keys_expires_us", "idempotency_keys", ["expires_us"])


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "status_history",
        "custody",
        "transactions",
        "material_status_updates",
        "transfers",
        "matches",
        "offers",
    ):
        op.drop_table(table)
