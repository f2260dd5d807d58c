"""Messaging: one outbox and one replay store for federation and core-dp.

Revision ID: 0009
Revises: 0003 (federation), 0004 (core-dp)
Create Date: 2026-12-06

It moves the rows of both branches, so it merges them (`down_revision = ("0003", "0004")`):
a revision from 0001 that only `depends_on` them is refused by Alembic when both are applied
in one `upgrade heads` (it tries to replace 0001 in the version table a second time).

Creates `msg_outbox` and `msg_seen`, moves every row of `fed_outbox`, `coredp_outbox`,
`fed_seen_signatures` and `coredp_seen_messages` into them (in id order, so a core-dp peer's
messages keep their order; in-flight rows keep their attempts, message ids and next-attempt
times, so nothing in flight is lost), then drops the four tables. Core-dp `failed` rows become
the outbox's `dead` letters; core-dp rows form the `core-dp` lane (one peer's go in order).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loopnode.adapters.storage.tables.retired import (
    create_coredp_outbox,
    create_fed_outbox,
    create_seen_table,
)

revision = "0009"
down_revision = ("0003", "0004")
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CORE_DP_PATH = "/core-dp/messages"


def upgrade() -> None:
    _create()
    _move_outboxes()
    _move_seen()
    op.drop_table("fed_outbox")
    op.drop_table("coredp_outbox")
    op.drop_table("fed_seen_signatures")
    op.drop_table("coredp_seen_messages")


def _create() -> None:
    op.create_table(
        "msg_outbox",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("peer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.String(128)),
        sa.Column("lane", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("unreached", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("deadline_us", sa.BigInteger),
        sa.Column("correlation_id", sa.String(96)),
        sa.Column("attachment", sa.Text),
        sa.Column("first_message_id", sa.String(96)),
        sa.Column("last_message_id", sa.String(96)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_msg_outbox"),
        sa.UniqueConstraint(
            "channel", "peer_id", "dedupe_key", name="uq_msg_outbox_channel_peer_id_dedupe_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="ck_msg_outbox_status"
        ),
    )
    op.create_index("ix_msg_outbox_status_next", "msg_outbox", ["status", "next_attempt_us"])
    op.create_index("ix_msg_outbox_lane", "msg_outbox", ["peer_id", "lane", "status", "id"])
    op.create_index("ix_msg_outbox_correlation", "msg_outbox", ["correlation_id"])
    op.create_table(
        "msg_seen",
        sa.Column("replay_key", sa.String(300), nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("replay_key", name="pk_msg_seen"),
    )
    op.create_index("ix_msg_seen_expires_us", "msg_seen", ["expires_us"])


COLUMNS = (
    "channel, peer_id, kind, method, path, body, dedupe_key, lane, status, attempts, "
    "unreached, next_attempt_us, deadline_us, correlation_id, attachment, first_message_id, "
    "last_message_id, last_error, created_us, updated_us, delivered_us"
)


def _move_outboxes() -> None:
    op.execute(
        f"INSERT INTO msg_outbox ({COLUMNS}) "
        "SELECT 'federation', peer_id, kind, method, path, body, dedupe_key, NULL, status, "
        "attempts, 0, next_attempt_us, NULL, NULL, NULL, NULL, NULL, last_error, created_us, "
        "updated_us, delivered_us FROM fed_outbox ORDER BY id"
    )
    op.execute(
        f"INSERT INTO msg_outbox ({COLUMNS}) "
        "SELECT 'core-dp', peer_node, message_type, 'POST', "
        f"'{CORE_DP_PATH}', body, idempotency_key, 'core-dp', "
        "CASE status WHEN 'failed' THEN 'dead' ELSE status END, attempt, unreached, "
        "next_attempt_us, deadline_us, conversation_id, subject_document, first_message_id, "
        "last_message_id, last_error, created_us, updated_us, delivered_us "
        "FROM coredp_outbox ORDER BY id"
    )


def _move_seen() -> None:
    for table in ("fed_seen_signatures", "coredp_seen_messages"):
        op.execute(
            "INSERT INTO msg_seen (replay_key, expires_us) "
            f"SELECT replay_key, expires_us FROM {table} "
            "WHERE replay_key NOT IN (SELECT replay_key FROM msg_seen)"
        )


def downgrade() -> None:
    """Split the tables back (refused while rows of a newer channel are queued)."""
    bind = op.get_bind()
    others = bind.execute(
        sa.text("SELECT COUNT(*) FROM msg_outbox WHERE channel NOT IN ('federation', 'core-dp')")
    ).scalar_one()
    if others:
        raise RuntimeError(f"{others} outbox rows belong to channels older schemas cannot hold")
    _recreate_old_tables()
    op.execute(
        "INSERT INTO fed_outbox (peer_id, kind, method, path, body, dedupe_key, status, "
        "attempts, next_attempt_us, last_error, created_us, updated_us, delivered_us) "
        "SELECT peer_id, kind, method, path, body, dedupe_key, status, attempts, "
        "next_attempt_us, last_error, created_us, updated_us, delivered_us FROM msg_outbox "
        "WHERE channel = 'federation' ORDER BY id"
    )
    op.execute(
        "INSERT INTO coredp_outbox (peer_node, message_type, conversation_id, idempotency_key, "
        "body, subject_document, status, attempt, first_message_id, last_message_id, "
        "unreached, next_attempt_us, deadline_us, last_error, created_us, updated_us, "
        "delivered_us) SELECT peer_id, kind, correlation_id, COALESCE(dedupe_key, ''), body, "
        "attachment, CASE status WHEN 'dead' THEN 'failed' ELSE status END, attempts, "
        "first_message_id, last_message_id, unreached, next_attempt_us, "
        "COALESCE(deadline_us, 0), last_error, created_us, updated_us, delivered_us "
        "FROM msg_outbox WHERE channel = 'core-dp' ORDER BY id"
    )
    for table, prefix in (
        ("fed_seen_signatures", "node-sig:"),
        ("coredp_seen_messages", "core-dp:"),
    ):
        op.execute(
            f"INSERT INTO {table} (replay_key, expires_us) SELECT replay_key, expires_us "
            f"FROM msg_seen WHERE replay_key LIKE '{prefix}%'"
        )
    op.drop_table("msg_seen")
    op.drop_table("msg_outbox")


def _recreate_old_tables() -> None:
    """The four tables exactly as 0003 and 0004 created them."""
    create_fed_outbox()
    create_coredp_outbox()
    for table in ("fed_seen_signatures", "coredp_seen_messages"):
        create_seen_table(table)
