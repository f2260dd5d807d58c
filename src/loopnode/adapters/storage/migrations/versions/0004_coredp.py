"""Core-dp exchange: conversations, seen message ids, stored results, the core-dp outbox.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26

A branch of its own from 0001 (lifecycle is 0002, federation 0003); `upgrade heads` runs all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loopnode.adapters.storage.tables.retired import create_coredp_outbox, create_seen_table

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _conversations()
    _inbound()
    create_coredp_outbox()


def _conversations() -> None:
    op.create_table(
        "coredp_conversations",
        sa.Column("conversation_id", sa.String(96), nullable=False),
        sa.Column("peer_node", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(160), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("previous_state", sa.String(32)),
        sa.Column("authoritative_role", sa.String(16), nullable=False),
        sa.Column("last_message_id", sa.String(96)),
        sa.Column("last_message_type", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("timeout_at_us", sa.BigInteger, nullable=False),
        sa.Column("local_evidence_hash", sa.String(64)),
        sa.Column("peer_evidence_hash", sa.String(64)),
        sa.Column("convergence_hash", sa.String(64)),
        sa.Column("accepted_profile_version", sa.String(32)),
        sa.Column("peer_key_id", sa.String(128)),
        sa.Column("partitioned_us", sa.BigInteger),
        sa.Column("partitions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_coredp_conversations"),
        sa.CheckConstraint(
            "role IN ('origin', 'counterparty')", name="ck_coredp_conversations_role"
        ),
    )
    op.create_index(
        "ix_coredp_conversations_state_timeout",
        "coredp_conversations",
        ["state", "timeout_at_us"],
    )
    op.create_index(
        "ix_coredp_conversations_subject", "coredp_conversations", ["subject_type", "subject_id"]
    )
    op.create_index(
        "ix_coredp_conversations_peer", "coredp_conversations", ["peer_node", "created_us"]
    )


def _inbound() -> None:
    create_seen_table("coredp_seen_messages")
    op.create_table(
        "coredp_results",
        sa.Column("sender_node", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("message_type", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(96), nullable=False),
        sa.Column("conversation_id", sa.String(96)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("sender_node", "idempotency_key", name="pk_coredp_results"),
    )
    op.create_index("ix_coredp_results_expires_us", "coredp_results", ["expires_us"])


def downgrade() -> None:
    for index, table in (
        ("ix_coredp_outbox_status_next", "coredp_outbox"),
        ("ix_coredp_outbox_peer_status", "coredp_outbox"),
        ("ix_coredp_results_expires_us", "coredp_results"),
        ("ix_coredp_seen_messages_expires_us", "coredp_seen_messages"),
        ("ix_coredp_conversations_peer", "coredp_conversations"),
        ("ix_coredp_conversations_subject", "coredp_conversations"),
        ("ix_coredp_conversations_state_timeout", "coredp_conversations"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("coredp_outbox", "coredp_results", "coredp_seen_messages"):
        op.drop_table(table)
    op.drop_table("coredp_conversations")
