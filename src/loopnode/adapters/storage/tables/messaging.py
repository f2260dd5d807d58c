"""The messaging schema: the one durable outbox and the one inbound replay/dedup store.

Same conventions as `tables.py` (integer microseconds, JSON as text). Migration `0009` creates
exactly these tables and moves the rows of the former `fed_outbox`, `coredp_outbox`,
`fed_seen_signatures` and `coredp_seen_messages` into them. Per-peer circuit breakers stay in
`fed_circuits` (federation_tables), which the delivery worker shares.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loopnode.adapters.storage.tables.core import SERIAL, metadata

OUTBOX_STATUSES = "status IN ('pending', 'delivered', 'dead')"

# Every message this node must deliver to a peer, whoever authored it (see services/messaging).
outbox = Table(
    "msg_outbox",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("peer_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("dedupe_key", String(128)),
    Column("lane", String(32)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("unreached", Integer, nullable=False, server_default="0"),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("deadline_us", BigInteger),
    Column("correlation_id", String(96)),
    Column("attachment", Text),
    Column("first_message_id", String(96)),
    Column("last_message_id", String(96)),
    Column("last_error", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("delivered_us", BigInteger),
    UniqueConstraint("channel", "peer_id", "dedupe_key"),
    CheckConstraint(OUTBOX_STATUSES, name="status"),
    Index("ix_msg_outbox_status_next", "status", "next_attempt_us"),
    Index("ix_msg_outbox_lane", "peer_id", "lane", "status", "id"),
    Index("ix_msg_outbox_correlation", "correlation_id"),
)

# Inbound keys seen (request signatures, envelope ids): a primary key makes "check and insert"
# one statement for every worker and process; rows may go once they expire.
seen = Table(
    "msg_seen",
    metadata,
    Column("replay_key", String(300), primary_key=True),
    Column("expires_us", BigInteger, nullable=False),
    Index("ix_msg_seen_expires_us", "expires_us"),
)
