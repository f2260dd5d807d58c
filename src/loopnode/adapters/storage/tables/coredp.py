"""The core-dp exchange schema (DECISIONS 20; SPEC-DIGEST §4.1, §4.6): conversations, the
stored results per idempotency key (the seen-message cache and the outbox are the messaging
stack's: messaging_tables).

Same conventions as `tables.py` (integer microseconds, JSON as text); migration `0004` creates
exactly these tables. Every table is prefixed `coredp_` so that the other feature branches of
the schema cannot collide with it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from loopnode.adapters.storage.tables.core import metadata

ROLES = "role IN ('origin', 'counterparty')"

# One row per choreography conversation with one peer: the state this node knows last.
conversations = Table(
    "coredp_conversations",
    metadata,
    Column("conversation_id", String(96), primary_key=True),
    Column("peer_node", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("subject_type", String(16), nullable=False),
    Column("subject_id", String(160), nullable=False),
    Column("state", String(32), nullable=False),
    Column("previous_state", String(32)),
    Column("authoritative_role", String(16), nullable=False),
    Column("last_message_id", String(96)),
    Column("last_message_type", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("timeout_at_us", BigInteger, nullable=False),
    Column("local_evidence_hash", String(64)),
    Column("peer_evidence_hash", String(64)),
    Column("convergence_hash", String(64)),
    Column("accepted_profile_version", String(32)),
    Column("peer_key_id", String(128)),
    Column("partitioned_us", BigInteger),
    Column("partitions", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint(ROLES, name="role"),
    Index("ix_coredp_conversations_state_timeout", "state", "timeout_at_us"),
    Index("ix_coredp_conversations_subject", "subject_type", "subject_id"),
    Index("ix_coredp_conversations_peer", "peer_node", "created_us"),
)

# The first outcome per (sender, idempotency key): its fingerprint and the stored answer.
results = Table(
    "coredp_results",
    metadata,
    Column("sender_node", String(128), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("message_type", String(32), nullable=False),
    Column("message_id", String(96), nullable=False),
    Column("conversation_id", String(96)),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("sender_node", "idempotency_key"),
    Index("ix_coredp_results_expires_us", "expires_us"),
)
