"""The routing schema (issue 11): signal configs, proposals and ballots, cached peer signals,
demand listings and the overflow state of local materials.

Same conventions as `tables.py` (integer microseconds, JSON as text, decimals as strings so they
stay exact); migration `0006` creates exactly these tables. One voter, one ballot per proposal is
a UNIQUE constraint, so it holds for every worker and process at once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loopnode.adapters.storage.tables.core import SERIAL, metadata

PROPOSAL_STATES = "state IN ('open', 'passed', 'failed')"
CHOICES = "choice IN ('for', 'against')"
DEMAND_STATES = "status IN ('open', 'matched', 'withdrawn')"
OVERFLOW_STATES = "state IN ('local', 'announced', 'proposed', 'routed', 'absorbed')"

# Every LoopSignalConfig this node has published; the highest version is in force.
signal_configs = Table(
    "signal_configs",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("node", String(128), nullable=False),
    Column("signals", Text, nullable=False),
    Column("valid_from_us", BigInteger, nullable=False),
    Column("valid_until_us", BigInteger, nullable=False),
    Column("vote_id", String(64)),
    Column("turnout", String(32)),
    Column("approval", String(32)),
    Column("published_us", BigInteger, nullable=False),
)

signal_proposals = Table(
    "signal_proposals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("period", String(7), nullable=False),
    Column("state", String(8), nullable=False),
    Column("document", Text, nullable=False),
    Column("changes", Text, nullable=False),
    Column("voting_opens_us", BigInteger, nullable=False),
    Column("voting_closes_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("closed_us", BigInteger),
    Column("result", Text),
    CheckConstraint(PROPOSAL_STATES, name="state"),
    CheckConstraint("voting_closes_us > voting_opens_us", name="window"),
    Index("ix_signal_proposals_period_state", "period", "state"),
    Index("ix_signal_proposals_created_us", "created_us"),
)

signal_ballots = Table(
    "signal_ballots",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column(
        "proposal_id",
        String(64),
        ForeignKey("signal_proposals.id", name="fk_signal_ballots_proposal_id"),
        nullable=False,
    ),
    Column("voter", String(200), nullable=False),
    Column("choice", String(8), nullable=False),
    Column("cast_us", BigInteger, nullable=False),
    UniqueConstraint("proposal_id", "voter"),
    CheckConstraint(CHOICES, name="choice"),
)

# Peers' published signal tables, fetched from GET {peer}/signals and refreshed after a TTL.
peer_signals = Table(
    "routing_peer_signals",
    metadata,
    Column("node_id", String(128), primary_key=True),
    Column("signals", Text, nullable=False),
    Column("fetched_us", BigInteger, nullable=False),
)

# Wanted listings: what local (or, relayed, remote) requesters would take.
demand = Table(
    "routing_demand",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("node", String(128), nullable=False),
    Column("category", String(64), nullable=False),
    Column("quantity_value", String(40), nullable=False),
    Column("quantity_unit", String(16), nullable=False),
    Column("quantity_micro", BigInteger, nullable=False),
    Column("max_price_cents", BigInteger),
    Column("lat", Float),
    Column("lon", Float),
    Column("valid_until_us", BigInteger, nullable=False),
    Column("requester", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("match_id", String(64)),
    Column("document", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    CheckConstraint(DEMAND_STATES, name="status"),
    CheckConstraint("quantity_micro > 0", name="quantity_positive"),
    Index("ix_routing_demand_category_status", "category", "status"),
    Index("ix_routing_demand_created_us", "created_us"),
)

# The overflow policy's progress per local material (issue 11 item 5).
overflow = Table(
    "routing_overflow",
    metadata,
    Column("material_id", String(160), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("local_until_us", BigInteger, nullable=False),
    Column("bids_until_us", BigInteger),
    Column("decision", Text),
    Column("updated_us", BigInteger, nullable=False),
    CheckConstraint(OVERFLOW_STATES, name="state"),
    Index("ix_routing_overflow_state", "state", "local_until_us"),
)

# The bids this node sent for remote materials, one per (material, listing) (item 5).
bids_sent = Table(
    "routing_bids_sent",
    metadata,
    Column("material_id", String(160), primary_key=True),
    Column("demand_id", String(64), primary_key=True),
    Column("to_node", String(128), nullable=False),
    Column("sent_us", BigInteger, nullable=False),
)
