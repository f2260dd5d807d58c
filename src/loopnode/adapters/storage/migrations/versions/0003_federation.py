"""Federation: node keys, peers and their keys, replay cache, announcements, bids, outbox.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26

A branch of its own from 0001 (the lifecycle branch is 0002); `upgrade heads` runs both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loopnode.adapters.storage.tables.retired import create_fed_outbox, create_seen_table

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY_STATUSES = "status IN ('active', 'rotated', 'revoked')"


def upgrade() -> None:
    _keys_and_peers()
    _inbound()
    _outbound()


def _keys_and_peers() -> None:
    op.create_table(
        "fed_node_keys",
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("valid_until_us", sa.BigInteger),
        sa.Column("rotated_at_us", sa.BigInteger),
        sa.Column("rotated_to_key_id", sa.String(128)),
        sa.Column("revoked_at_us", sa.BigInteger),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_fed_node_keys"),
        sa.CheckConstraint(KEY_STATUSES, name="ck_fed_node_keys_status"),
    )
    op.create_table(
        "fed_peers",
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("endpoint", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("capabilities", sa.Text, nullable=False),
        sa.Column("tls_fingerprint", sa.String(64)),
        sa.Column("tls_cert_pem", sa.Text),
        sa.Column("pending_key_id", sa.String(128)),
        sa.Column("pending_public_key", sa.String(64)),
        sa.Column("last_seen_us", sa.BigInteger),
        sa.Column("approved_us", sa.BigInteger),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_fed_peers"),
        sa.CheckConstraint("status IN ('pending', 'approved')", name="ck_fed_peers_status"),
    )
    op.create_table(
        "fed_peer_keys",
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from_us", sa.BigInteger),
        sa.Column("valid_until_us", sa.BigInteger),
        sa.Column("rotated_at_us", sa.BigInteger),
        sa.Column("rotated_to_key_id", sa.String(128)),
        sa.Column("revoked_at_us", sa.BigInteger),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("node_id", "key_id", name="pk_fed_peer_keys"),
        sa.CheckConstraint(KEY_STATUSES, name="ck_fed_peer_keys_status"),
    )


def _inbound() -> None:
    create_seen_table("fed_seen_signatures")
    op.create_table(
        "fed_announcements",
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(128), nullable=False),
        sa.Column("material", sa.String(160), nullable=False),
        sa.Column("announcement_id", sa.String(100)),
        sa.Column("received_from", sa.String(128), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key", name="pk_fed_announcements"),
    )
    op.create_index("ix_fed_announcements_expires_us", "fed_announcements", ["expires_us"])
    op.create_table(
        "fed_remote_materials",
        sa.Column("origin", sa.String(128), nullable=False),
        sa.Column("material", sa.String(160), nullable=False),
        sa.Column("received_from", sa.String(128), nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("announcement_id", sa.String(100)),
        sa.Column("origin_verified", sa.Boolean, nullable=False),
        sa.Column("hop_count", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("origin", "material", name="pk_fed_remote_materials"),
    )
    op.create_index(
        "ix_fed_remote_materials_updated",
        "fed_remote_materials",
        ["updated_us", "material", "origin"],
    )
    op.create_table(
        "fed_bids",
        sa.Column("id", SERIAL, nullable=False, autoincrement=True),
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("bidder_node", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("doc_hash", sa.String(64), nullable=False),
        sa.Column("valid_until_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("match_id", sa.String(160)),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fed_bids"),
        sa.UniqueConstraint("bidder_node", "doc_hash", name="uq_fed_bids_bidder_node_doc_hash"),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'rejected', 'expired')", name="ck_fed_bids_status"
        ),
    )
    op.create_index("ix_fed_bids_material_id", "fed_bids", ["material_id"])


def _outbound() -> None:
    create_fed_outbox()
    op.create_table(
        "fed_circuits",
        sa.Column("peer_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("open_until_us", sa.BigInteger),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("peer_id", name="pk_fed_circuits"),
        sa.CheckConstraint(
            "state IN ('closed', 'open', 'half_open')", name="ck_fed_circuits_state"
        ),
    )
    op.create_table(
        "fed_relay_state",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("cursor_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fed_relay_state"),
        sa.CheckConstraint("id = 1", name="ck_fed_relay_state_single_row"),
    )
    op.execute("INSERT INTO fed_relay_state (id, cursor_us) VALUES (1, 0)")
    op.create_table(
        "fed_announced",
        sa.Column("material_id", sa.String(160), nullable=False),
        sa.Column("version", sa.String(96), nullable=False),
        sa.Column("announcement_id", sa.String(100), nullable=False),
        sa.Column("announced_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("material_id", name="pk_fed_announced"),
    )


def downgrade() -> None:
    for table in (
        "fed_announced",
        "fed_relay_state",
        "fed_circuits",
        "fed_outbox",
        "fed_bids",
        "fed_remote_materials",
        "fed_announcements",
        "fed_seen_signatures",
        "fed_peer_keys",
        "fed_peers",
        "fed_node_keys",
    ):
        op.drop_table(table)
