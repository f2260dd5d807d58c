"""The federation schema (DECISIONS 18-21): keys, peers, replay cache, flooding, bids, outbox.

Same conventions as `tables.py` (integer microseconds, raw keys as lowercase hex, JSON as text);
migration `0003` creates exactly these tables. Every table is prefixed `fed_` so that the other
feature branches of the schema cannot collide with it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loopnode.adapters.storage.tables.core import SERIAL, metadata

KEY_STATUSES = "status IN ('active', 'rotated', 'revoked')"

# This node's own signing keys, newest last; exactly the current one is `active` (DECISIONS 18).
node_keys = Table(
    "fed_node_keys",
    metadata,
    Column("key_id", String(128), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from_us", BigInteger, nullable=False),
    Column("valid_until_us", BigInteger),
    Column("rotated_at_us", BigInteger),
    Column("rotated_to_key_id", String(128)),
    Column("revoked_at_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    CheckConstraint(KEY_STATUSES, name="status"),
)

# Known peer nodes. `pending` until an operator (or `peer_allowlist`) approves them.
peers = Table(
    "fed_peers",
    metadata,
    Column("node_id", String(128), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("endpoint", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("capabilities", Text, nullable=False),
    Column("tls_fingerprint", String(64)),
    Column("tls_cert_pem", Text),
    Column("pending_key_id", String(128)),
    Column("pending_public_key", String(64)),
    Column("last_seen_us", BigInteger),
    Column("approved_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint("status IN ('pending', 'approved')", name="status"),
)

# The trust store: peers' public keys with their lifecycle (protocol/trust.py rules).
peer_keys = Table(
    "fed_peer_keys",
    metadata,
    Column("node_id", String(128), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from_us", BigInteger),
    Column("valid_until_us", BigInteger),
    Column("rotated_at_us", BigInteger),
    Column("rotated_to_key_id", String(128)),
    Column("revoked_at_us", BigInteger),
    Column("source", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("node_id", "key_id"),
    CheckConstraint(KEY_STATUSES, name="status"),
)

# Announcements received (DECISIONS 21): the duplicate filter and the accepted event id.
announcements = Table(
    "fed_announcements",
    metadata,
    Column("dedupe_key", String(64), primary_key=True),
    Column("origin", String(128), nullable=False),
    Column("material", String(160), nullable=False),
    Column("announcement_id", String(100)),
    Column("received_from", String(128), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Index("ix_fed_announcements_expires_us", "expires_us"),
)

# What peers announced: materials held elsewhere, newest state per (origin, material).
remote_materials = Table(
    "fed_remote_materials",
    metadata,
    Column("origin", String(128), nullable=False),
    Column("material", String(160), nullable=False),
    Column("received_from", String(128), nullable=False),
    Column("available", Boolean, nullable=False),
    Column("category", String(64)),
    Column("announcement_id", String(100)),
    Column("origin_verified", Boolean, nullable=False),
    # An unverified entry's origin signature, checked when the origin's key arrives (0016).
    Column("origin_signature", String(200)),
    Column("hop_count", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("origin", "material"),
    Index("ix_fed_remote_materials_updated", "updated_us", "material", "origin"),
)

# MaterialOffers from peers: bids for our materials.
bids = Table(
    "fed_bids",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("material_id", String(160), nullable=False),
    Column("bidder_node", String(128), nullable=False),
    Column("document", Text, nullable=False),
    Column("doc_hash", String(64), nullable=False),
    Column("valid_until_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("match_id", String(160)),
    Column("received_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("bidder_node", "doc_hash"),
    CheckConstraint("status IN ('open', 'accepted', 'rejected', 'expired')", name="status"),
    Index("ix_fed_bids_material_id", "material_id"),
)

# Per-peer circuit breakers, shared by every worker and process.
circuits = Table(
    "fed_circuits",
    metadata,
    Column("peer_id", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("open_until_us", BigInteger),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint("state IN ('closed', 'open', 'half_open')", name="state"),
)

# One row: how far the relay has read the registry for local materials to announce.
relay_state = Table(
    "fed_relay_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("cursor_us", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# The last announced version of each local material (so a version is announced once).
announced = Table(
    "fed_announced",
    metadata,
    Column("material_id", String(160), primary_key=True),
    Column("version", String(96), nullable=False),
    Column("announcement_id", String(100), nullable=False),
    Column("announced_us", BigInteger, nullable=False),
)
