"""Covering index for the registry search (issue 12: performance).

Revision ID: 0013
Revises: 0001
Create Date: 2026-12-06

A branch of its own from 0001; `upgrade heads` runs all branches. The search filters by kind,
category and a latitude band, tests the distance on the unit vector and pages by
(updated_us, id): with all of those in one index, the count and the page's id list are read
from the index alone, and only the page's rows are fetched from the table (docs/performance.md).
The index replaces `ix_dna_records_kind_category_lat`, which is its prefix.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ["kind", "category", "lat", "ux", "uy", "uz", "updated_us", "id"]


def upgrade() -> None:
    op.create_index("ix_dna_records_search", "dna_records", COLUMNS)
    op.drop_index("ix_dna_records_kind_category_lat", table_name="dna_records")


def downgrade() -> None:
    op.create_index("ix_dna_records_kind_category_lat", "dna_records", ["kind", "category", "lat"])
    op.drop_index("ix_dna_records_search", table_name="dna_records")
