"""Which organisation registered a record (issue 15: a registrar changes only its own)."""

from __future__ import annotations

from sqlalchemy import Column, PrimaryKeyConstraint, String, Table, select
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.tables.core import metadata

record_organisations = Table(
    "record_organisations",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("record_id", String(160), nullable=False),
    Column("organisation", String(50), nullable=False),
    PrimaryKeyConstraint("kind", "record_id", name="pk_record_organisations"),
)


class SqlOrganisationStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def set(self, kind: str, record_id: str, organisation: str) -> None:
        self._c.execute(
            record_organisations.insert().values(
                kind=kind, record_id=record_id, organisation=organisation
            )
        )

    def get(self, kind: str, record_id: str) -> str | None:
        query = select(record_organisations.c.organisation).where(
            record_organisations.c.kind == kind, record_organisations.c.record_id == record_id
        )
        found = self._c.execute(query).scalar_one_or_none()
        return None if found is None else str(found)
