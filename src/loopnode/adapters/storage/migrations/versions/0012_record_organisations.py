"""Record organisations (issue 15 item 2: a registrar changes only its own organisation's records).

Revision ID: 0012
Revises: 0001
Create Date: 2026-12-06

A branch of its own from 0001; `upgrade heads` runs all branches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_organisations",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(160), nullable=False),
        sa.Column("organisation", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("kind", "record_id", name="pk_record_organisations"),
    )


def downgrade() -> None:
    op.drop_table("record_organisations")
