"""The search index covers `availability` again (issue 12: performance).

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-07

Searches stopped listing withdrawn passports (issue 15), which made every search test
`availability` on each candidate row: with the column outside `ix_dna_records_search`, SQLite
read the table row of every candidate in the latitude band (1,415 rows for 392 matches with
100,000 stored materials) instead of answering from the index alone, and the count and the
page's id list took 0.70 and 0.98 ms instead of 0.20 and 0.28 ms (docs/performance.md).
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0013"
branch_labels = None
depends_on = None

BEFORE = ["kind", "category", "lat", "ux", "uy", "uz", "updated_us", "id"]
AFTER = ["kind", "category", "lat", "ux", "uy", "uz", "availability", "updated_us", "id"]


def upgrade() -> None:
    op.drop_index("ix_dna_records_search", table_name="dna_records")
    op.create_index("ix_dna_records_search", "dna_records", AFTER)


def downgrade() -> None:
    op.drop_index("ix_dna_records_search", table_name="dna_records")
    op.create_index("ix_dna_records_search", "dna_records", BEFORE)
