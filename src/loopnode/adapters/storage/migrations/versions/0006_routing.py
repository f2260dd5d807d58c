"""Routing: signal configs, proposals and ballots, peer signals, demand, overflow state.

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-06

A branch of its own from 0001 (issue 11); `upgrade heads` runs all. Mirrors
`adapters/storage/tables/routing.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _signals()
    _demand()
    _overflow()


def _signals() -> None:
    op.create_table(
        "signal_configs",
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("signals", sa.Text, nullable=False),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("valid_until_us", sa.BigInteger, nullable=False),
        sa.Column("vote_id", sa.String(64)),
        sa.Column("turnout", sa.String(32)),
        sa.Column("approval", sa.String(32)),
        sa.Column("published_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_signal_configs"),
    )
    op.create_table(
        "signal_proposals",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("voting_opens_us", sa.BigInteger, nullable=False),
        sa.Column("voting_closes_us", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("closed_us", sa.BigInteger),
        sa.Column("result", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_signal_proposals"),
        sa.CheckConstraint(
            "state IN ('open', 'passed', 'failed')", name="ck_signal_proposals_state"
        ),
        sa.CheckConstraint("voting_closes_us > voting_opens_us", name="ck_signal_proposals_window"),
    )
    op.create_index("ix_signal_proposals_period_state", "signal_proposals", ["period", "state"])
    op.create_index("ix_signal_proposals_created_us", "signal_proposals", ["created_us"])
    op.create_table(
        "signal_ballots",
        sa.Column("id", SERIAL, nullable=False, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("voter", sa.String(200), nullable=False),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("cast_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signal_ballots"),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["signal_proposals.id"], name="fk_signal_ballots_proposal_id"
        ),
        sa.UniqueConstraint("proposal_id", "voter", name="uq_signal_ballots_proposal_id_voter"),
        sa.CheckConstraint("choice IN ('for', 'against')", name="ck_signal_ballots_choice"),
    )
    op.create_table(
        "routing_peer_signals",
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("signals", sa.Text, nullable=False),
        sa.Column("fetched_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_routing_peer_signals"),
    )


def _demand() -> None:
    op.create_table(
        "routing_demand",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("quantity_value", sa.String(40), nullable=False),
        sa.Column("quantity_unit", sa.String(16), nullable=False),
        sa.Column("quantity_micro", sa.BigInteger, nullable=False),
        sa.Column("max_price_cents", sa.BigInteger),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("valid_until_us", sa.BigInteger, nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("match_id", sa.String(64)),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_routing_demand"),
        sa.CheckConstraint(
            "status IN ('open', 'matched', 'withdrawn')", name="ck_routing_demand_status"
        ),
        sa.CheckConstraint("quantity_micro > 0", name="ck_routing_demand_quantity_positive"),
    )
    op.create_index("ix_routing_demand_category_status", "routing_demand", ["category", "status"])
    op.create_index("ix_routing_demand_created_us", "routing_demand", ["created_us"])


def _overflow() -> None:
    op.create_table(
        "routing_overflow",
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("local_until_us", sa.BigInteger, nullable=False),
        sa.Column("bids_until_us", sa.BigInteger),
        sa.Column("decision", sa.Text),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("material_id", name="pk_routing_overflow"),
        sa.CheckConstraint(
            "state IN ('local', 'announced', 'proposed', 'routed', 'absorbed')",
            name="ck_routing_overflow_state",
        ),
    )
    op.create_index("ix_routing_overflow_state", "routing_overflow", ["state", "local_until_us"])
    op.create_table(
        "routing_bids_sent",
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("demand_id", sa.String(64), nullable=False),
        sa.Column("to_node", sa.String(128), nullable=False),
        sa.Column("sent_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("material_id", "demand_id", name="pk_routing_bids_sent"),
    )


def downgrade() -> None:
    op.drop_table("routing_bids_sent")
    op.drop_index("ix_routing_overflow_state", table_name="routing_overflow")
    op.drop_table("routing_overflow")
    op.drop_index("ix_routing_demand_created_us", table_name="routing_demand")
    op.drop_index("ix_routing_demand_category_status", table_name="routing_demand")
    op.drop_table("routing_demand")
    op.drop_table("routing_peer_signals")
    op.drop_table("signal_ballots")
    op.drop_index("ix_signal_proposals_created_us", table_name="signal_proposals")
    op.drop_index("ix_signal_proposals_period_state", table_name="signal_proposals")
    op.drop_table("signal_proposals")
    op.drop_table("signal_configs")
