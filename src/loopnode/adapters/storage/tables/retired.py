"""Tables that revision 0009 retired, as revisions 0003 and 0004 created them.

One definition for both directions: 0003 and 0004 create them on the way up, 0009's downgrade
creates them again on the way down. A frozen snapshot: it must never follow later changes to
the live schema (tables.py), or old revisions would build different tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["create_coredp_outbox", "create_fed_outbox", "create_seen_table"]

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_fed_outbox() -> None:
    op.create_table(
        "fed_outbox",
        sa.Column("id", SERIAL, nullable=False, autoincrement=True),
        sa.Column("peer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_fed_outbox"),
        sa.UniqueConstraint("peer_id", "dedupe_key", name="uq_fed_outbox_peer_id_dedupe_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="ck_fed_outbox_status"
        ),
    )
    op.create_index("ix_fed_outbox_status_next", "fed_outbox", ["status", "next_attempt_us"])


def create_coredp_outbox() -> None:
    op.create_table(
        "coredp_outbox",
        sa.Column("id", SERIAL, nullable=False, autoincrement=True),
        sa.Column("peer_node", sa.String(128), nullable=False),
        sa.Column("message_type", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(96)),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("subject_document", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("first_message_id", sa.String(96)),
        sa.Column("last_message_id", sa.String(96)),
        sa.Column("unreached", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("deadline_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_coredp_outbox"),
        sa.UniqueConstraint(
            "peer_node", "idempotency_key", name="uq_coredp_outbox_peer_node_idempotency_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_coredp_outbox_status"
        ),
    )
    op.create_index("ix_coredp_outbox_peer_status", "coredp_outbox", ["peer_node", "status", "id"])
    op.create_index("ix_coredp_outbox_status_next", "coredp_outbox", ["status", "next_attempt_us"])


def create_seen_table(table: str) -> None:
    """`fed_seen_signatures` (0003) or `coredp_seen_messages` (0004): replay keys to expiry."""
    op.create_table(
        table,
        sa.Column("replay_key", sa.String(255), nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("replay_key", name=f"pk_{table}"),
    )
    op.create_index(f"ix_{table}_expires_us", table, ["expires_us"])
