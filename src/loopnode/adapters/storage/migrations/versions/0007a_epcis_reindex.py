"""Forget the EPCIS event-id index: the event mapping changed (issue 13, core-dp subset).

Revision ID: 0007a
Revises: 0007
Create Date: 2026-12-06

An event id is the hash of the event, and an offer's publication is now an `ADD` +
`commissioning` naming only the offer, so ids computed before no longer name any event and
the new ones lie below the index's watermark, where the on-demand fill never looks. The index
is a cache of the evidence log: emptying it makes the next lookup rebuild it with today's ids.
"""

from __future__ import annotations

from alembic import op

revision = "0007a"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM epcis_event_index")


def downgrade() -> None:
    # The older code rebuilds its own ids the same way from an empty index.
    op.execute("DELETE FROM epcis_event_index")
