"""Registry of MaterialDNA/ProductDNA passports, the append-only evidence log, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64

SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
    "BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END",
    "CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence "
    "BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END",
]
POSTGRES_APPEND_ONLY = [
    "CREATE FUNCTION loopnode_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'evidence is append-only'; END $$",
    "CREATE TRIGGER evidence_no_update BEFORE UPDATE OR DELETE ON evidence "
    "FOR EACH ROW EXECUTE FUNCTION loopnode_append_only()",
    "CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence "
    "FOR EACH STATEMENT EXECUTE FUNCTION loopnode_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "dna_records",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("condition", sa.String(32)),
        sa.Column("origin_city", sa.String(80), nullable=False),
        sa.Column("current_city", sa.String(80), nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("ux", sa.Float),
        sa.Column("uy", sa.Float),
        sa.Column("uz", sa.Float),
        sa.Column("quantity_unit", sa.String(16), nullable=False),
        sa.Column("quantity_micro", sa.BigInteger, nullable=False),
        sa.Column("offered_micro", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("available_from_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger),
        sa.Column("availability", sa.String(16), nullable=False, server_default="available"),
        sa.Column("source_node", sa.String(128), nullable=False),
        sa.Column("parent_id", sa.String(160)),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dna_records"),
        sa.CheckConstraint("kind IN ('material', 'product')", name="ck_dna_records_kind"),
        sa.CheckConstraint(
            "availability IN ('available', 'reserved', 'withdrawn')",
            name="ck_dna_records_availability",
        ),
        sa.CheckConstraint("quantity_micro >= 0", name="ck_dna_records_quantity_non_negative"),
        sa.CheckConstraint(
            "offered_micro >= 0 AND offered_micro <= quantity_micro",
            name="ck_dna_records_offers_bounded",
        ),
    )
    op.create_index("ix_dna_records_kind_category_lat", "dna_records", ["kind", "category", "lat"])
    op.create_index("ix_dna_records_kind_lat", "dna_records", ["kind", "lat"])
    op.create_index("ix_dna_records_kind_availability", "dna_records", ["kind", "availability"])
    op.create_index("ix_dna_records_kind_updated", "dna_records", ["kind", "updated_us", "id"])
    op.create_index("ix_dna_records_kind_current_city", "dna_records", ["kind", "current_city"])

    op.create_table(
        "evidence",
        sa.Column("sequence", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("event_id", sa.String(96), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(48), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(160), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("summary", sa.Text),
        sa.PrimaryKeyConstraint("sequence", name="pk_evidence"),
        sa.UniqueConstraint("event_id", name="uq_evidence_event_id"),
    )
    op.create_index("ix_evidence_subject", "evidence", ["subject_type", "subject_id"])

    op.create_table(
        "evidence_head",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_head"),
        sa.CheckConstraint("id = 1", name="ck_evidence_head_single_row"),
    )
    op.execute(f"INSERT INTO evidence_head (id, sequence, entry_hash) VALUES (1, 0, '{GENESIS}')")

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False, server_default="writer"),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )

    statements = (
        SQLITE_APPEND_ONLY if op.get_bind().dialect.name == "sqlite" else POSTGRES_APPEND_ONLY
    )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS evidence_no_truncate ON evidence")
        op.execute("DROP TRIGGER IF EXISTS evidence_no_update ON evidence")
        op.execute("DROP FUNCTION IF EXISTS loopnode_append_only()")
    op.drop_table("api_keys")
    op.drop_table("evidence_head")
    op.drop_table("evidence")
    op.drop_table("dna_records")
