"""The relational schema, as SQLAlchemy Core tables (queries are written against these).

The Alembic migrations create exactly this schema on SQLite and PostgreSQL alike; a test
compares the two. Times are integer microseconds since the epoch (UTC): exact, portable and
cheap to index and order on both databases. Quantities are kept in integer micro-units of the
unit's base (mg for mass, µl for volume, millionths of a piece) so sums are exact and the
"offers never exceed the subject" rule (DECISIONS 10) can be a CHECK constraint.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Autoincrementing 64-bit ids: SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
SERIAL = BigInteger().with_variant(Integer(), "sqlite")

# MaterialDNA and ProductDNA passports: `kind` tells them apart, `document` is the record as
# received (unknown fields included), and the other columns are the indexed projections.
records = Table(
    "dna_records",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("condition", String(32)),
    Column("origin_city", String(80), nullable=False),
    Column("current_city", String(80), nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("ux", Float),
    Column("uy", Float),
    Column("uz", Float),
    Column("quantity_unit", String(16), nullable=False),
    Column("quantity_micro", BigInteger, nullable=False),
    Column("offered_micro", BigInteger, nullable=False, server_default="0"),
    Column("available_from_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger),
    Column("availability", String(16), nullable=False, server_default="available"),
    Column("source_node", String(128), nullable=False),
    Column("parent_id", String(160)),
    Column("document", Text, nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint("kind IN ('material', 'product')", name="kind"),
    CheckConstraint("availability IN ('available', 'reserved', 'withdrawn')", name="availability"),
    CheckConstraint("quantity_micro >= 0", name="quantity_non_negative"),
    CheckConstraint(
        "offered_micro >= 0 AND offered_micro <= quantity_micro", name="offers_bounded"
    ),
    # The search's covering index (migrations 0013 and 0017, docs/performance.md): every column
    # the search's filter and order read, so that SQLite answers count and page ids from it.
    Index(
        "ix_dna_records_search",
        *("kind", "category", "lat", "ux", "uy", "uz", "availability", "updated_us", "id"),
    ),
    Index("ix_dna_records_kind_lat", "kind", "lat"),
    Index("ix_dna_records_kind_availability", "kind", "availability"),
    Index("ix_dna_records_kind_updated", "kind", "updated_us", "id"),
    Index("ix_dna_records_kind_current_city", "kind", "current_city"),
)

# The append-only audit log (DECISIONS 22). Triggers refuse UPDATE and DELETE (see migrations).
evidence = Table(
    "evidence",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(96), nullable=False, unique=True),
    Column("node_id", String(128), nullable=False),
    Column("event_type", String(48), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(160), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("summary", Text),
    # Hash version 3 (migration 0014_evidence): the salted content commitment, the subject row's
    # state after the entry, and the tombstone columns; version-2 rows leave them null.
    Column("hash_version", Integer, nullable=False, server_default="2"),
    Column("content_salt", String(32)),
    Column("content_hash", String(64)),
    Column("record_hash", String(64)),
    Column("redacted_by", BigInteger),
    Column("redaction_reason", Text),
    Index("ix_evidence_subject", "subject_type", "subject_id"),
)

# One row: the head of the evidence chain. Locking it serialises appends, which is what makes
# the per-node sequence and the predecessor hash well defined under concurrent writers.
evidence_head = Table(
    "evidence_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sequence", BigInteger, nullable=False),
    Column("entry_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# Peers' signed checkpoints of their evidence heads, as this node received them (append-only:
# they are what convicts a peer that rewrites its past; services/evidence/witness.py).
evidence_witnessed = Table(
    "evidence_witnessed",
    metadata,
    Column("id", SERIAL, primary_key=True),
    Column("peer_node_id", String(128), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("issued_us", BigInteger, nullable=False),
    Column("key_id", String(160), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Index("ix_evidence_witnessed_peer_node_id_sequence", "peer_node_id", "sequence"),
)

# What checking those checkpoints against each other found (append-only).
evidence_witness_findings = Table(
    "evidence_witness_findings",
    metadata,
    Column("id", SERIAL, primary_key=True),
    Column("peer_node_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("held_hash", String(64), nullable=False),
    Column("answered_hash", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("found_us", BigInteger, nullable=False),
    CheckConstraint("kind IN ('equivocation', 'rewritten', 'rolled_back')", name="kind"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("roles", String(200), nullable=False, server_default="writer"),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
)
