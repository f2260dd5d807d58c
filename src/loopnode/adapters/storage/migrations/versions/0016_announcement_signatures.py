"""Keep an unverified announcement's origin signature, to verify it later (issue 15).

Revision ID: 0016
Revises: 0003
Create Date: 2026-12-06

A branch of its own from 0003 (which made `fed_remote_materials`); `upgrade heads` runs all
branches. An announcement whose origin key this node did not hold is stored unverified; with
its signature kept, it is checked once the origin's key arrives through a trusted path
(services/federation/announcements.py: `reverify`). Verified rows keep none (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fed_remote_materials") as batch:
        batch.add_column(sa.Column("origin_signature", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fed_remote_materials") as batch:
        batch.drop_column("origin_signature")
