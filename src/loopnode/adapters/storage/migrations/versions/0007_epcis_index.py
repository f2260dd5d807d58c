"""EPCIS event-id index (issue 13: EPCIS 2.0 events from the evidence log).

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-06

A branch of its own from 0001; `upgrade heads` runs all branches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epcis_event_index",
        sa.Column("event_id", sa.String(96), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_epcis_event_index"),
        sa.UniqueConstraint("sequence", name="uq_epcis_event_index_sequence"),
    )


def downgrade() -> None:
    op.drop_table("epcis_event_index")
