"""Which organisation registered a record (issue 15: a registrar changes only its own)."""

from __future__ import annotations

from sqlalchemy import Column, PrimaryKeyConstraint, String, Table

from loopnode.adapters.storage.tables.core import metadata

record_organisations = Table(
    "record_organisations",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("record_id", String(160), nullable=False),
    Column("organisation", String(50), nullable=False),
    PrimaryKeyConstraint("kind", "record_id", name="pk_record_organisations"),
)
