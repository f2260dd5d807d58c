"""Tables of the exchange lifecycle: offers, matches, transfers, status updates, transactions,
custody, status history and idempotency keys (DECISIONS 7-11).

The §3.6.1 invariants live here as constraints, so they hold whatever code writes the rows and
identically on SQLite and PostgreSQL:
- one active match per offer: a partial unique index on matches(offer_id) over the active states;
- one live transfer per match: a partial unique index on transfers(match_id) over non-cancelled;
- a match's and a transfer's subject equal their offer's: composite foreign keys
  (offer_id, subject_id) → offers(id, subject_id) and (match_id, subject_id) → matches;
- the open and reserved offers of a subject never exceed it: `dna_records.offered_micro` with its
  CHECK (0001), which the lifecycle store raises and lowers with each offer.
State checks that need the current row (an open offer, an accepted match) are made under row
locks by the store; the constraints are the backstop that turns a missed race into an error.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from loopnode.adapters.storage.tables.core import metadata

ACTIVE_MATCH = "status IN ('proposed', 'accepted')"
LIVE_TRANSFER = "status <> 'cancelled'"

offers = Table(
    "offers",
    metadata,
    Column("id", String(160), primary_key=True),
    Column(
        "subject_id",
        String(160),
        ForeignKey("dna_records.id", name="fk_offers_subject"),
        nullable=False,
    ),
    Column("material_id", String(160)),
    Column("product_id", String(160)),
    Column("status", String(16), nullable=False),
    # In micro-units of the subject's base unit, like dna_records.quantity_micro.
    Column("quantity_micro", BigInteger, nullable=False),
    Column("available_until_us", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint("status IN ('open', 'reserved', 'withdrawn')", name="status"),
    CheckConstraint("quantity_micro >= 0", name="quantity_non_negative"),
    # The target of the matches' composite foreign key.
    UniqueConstraint("id", "subject_id"),
    Index("ix_offers_subject_id", "subject_id"),
    Index("ix_offers_created", "created_us", "id"),
)

matches = Table(
    "matches",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("offer_id", String(160), nullable=False),
    Column("subject_id", String(160), nullable=False),
    Column("material_id", String(160)),
    Column("product_id", String(160)),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint("status IN ('proposed', 'accepted', 'rejected', 'expired')", name="status"),
    ForeignKeyConstraint(
        ["offer_id", "subject_id"],
        ["offers.id", "offers.subject_id"],
        name="fk_matches_offer_subject",
    ),
    UniqueConstraint("id", "subject_id"),
    Index(
        "uq_matches_active_offer",
        "offer_id",
        unique=True,
        sqlite_where=text(ACTIVE_MATCH),
        postgresql_where=text(ACTIVE_MATCH),
    ),
    Index("ix_matches_offer_id", "offer_id"),
    Index("ix_matches_created", "created_us", "id"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("match_id", String(160), nullable=False),
    Column("offer_id", String(160), nullable=False),
    Column("subject_id", String(160), nullable=False),
    Column("material_id", String(160)),
    Column("product_id", String(160)),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint(
        "status IN ('scheduled', 'in_transit', 'completed', 'cancelled')", name="status"
    ),
    ForeignKeyConstraint(
        ["match_id", "subject_id"],
        ["matches.id", "matches.subject_id"],
        name="fk_transfers_match_subject",
    ),
    Index(
        "uq_transfers_live_match",
        "match_id",
        unique=True,
        sqlite_where=text(LIVE_TRANSFER),
        postgresql_where=text(LIVE_TRANSFER),
    ),
    Index("ix_transfers_match_id", "match_id"),
    Index("ix_transfers_created", "created_us", "id"),
)

material_status_updates = Table(
    "material_status_updates",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "material_id",
        String(160),
        ForeignKey("dna_records.id", name="fk_material_status_updates_material"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    CheckConstraint("status IN ('available', 'reserved', 'withdrawn')", name="status"),
    Index("ix_material_status_updates_material_id", "material_id"),
    Index("ix_material_status_updates_created", "created_us", "id"),
)

# MaterialTransaction (the document), its optional Settlement, and the 7-value status.
transactions = Table(
    "transactions",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("material_id", String(160), nullable=False),
    Column("seller", String(128), nullable=False),
    Column("buyer", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("settlement", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint(
        "status IN ('pending', 'confirmed', 'in_transit', 'delivered', 'completed', "
        "'cancelled', 'disputed')",
        name="status",
    ),
    Index("ix_transactions_material_id", "material_id"),
    Index("ix_transactions_created", "created_us", "id"),
)

# Chain of custody (DECISIONS 11): one row per completed transfer. `child_id` is the record a
# split created; a whole move has none.
custody = Table(
    "custody",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "record_id",
        String(160),
        ForeignKey("dna_records.id", name="fk_custody_record"),
        nullable=False,
    ),
    Column("child_id", String(160), ForeignKey("dna_records.id", name="fk_custody_child")),
    Column(
        "transfer_id",
        String(160),
        ForeignKey("transfers.id", name="fk_custody_transfer"),
        nullable=False,
    ),
    Column("offer_id", String(160), nullable=False),
    Column("match_id", String(160), nullable=False),
    Column("from_city", String(80), nullable=False),
    Column("to_city", String(80), nullable=False),
    Column("quantity_micro", BigInteger, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    CheckConstraint("mode IN ('move', 'split')", name="mode"),
    UniqueConstraint("transfer_id"),
    Index("ix_custody_record_id", "record_id"),
    Index("ix_custody_child_id", "child_id"),
)

# Every state an entity entered, with the evidence entry that recorded it.
status_history = Table(
    "status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_type", String(16), nullable=False),
    Column("entity_id", String(160), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous", String(16)),
    Column("reason", String(200)),
    Column("actor", String(160), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Index("ix_status_history_entity", "entity_type", "entity_id", "id"),
)

# Idempotency-Key (SPEC-DIGEST §4.12): one row per (principal, key). The primary key is what makes
# a concurrent first use run the action once; `state` is `pending` only on the path where the
# action cannot share the row's transaction.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(160), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("status_code", Integer),
    Column("body", Text),
    Column("headers", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("principal", "key"),
    CheckConstraint("state IN ('pending', 'done')", name="state"),
    Index("ix_idempotency_keys_expires_us", "expires_us"),
)
