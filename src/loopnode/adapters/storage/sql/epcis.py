"""Evidence entries as EPCIS facts, and the EPCIS event-id index, in SQL (both databases).

Reads join the evidence log with the lifecycle tables: a trade event (offer, match, transfer)
carries the passports it is about, and a subject filter on a passport also finds the trades
about it. Index writes ignore rows another writer inserted first, so concurrent lookups that
fill the index race harmlessly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Engine, Select, and_, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from loopnode.adapters.storage.tables.core import evidence
from loopnode.adapters.storage.tables.epcis import epcis_event_index
from loopnode.adapters.storage.tables.lifecycle import matches, offers, transfers
from loopnode.domain.times import from_us
from loopnode.protocol.epcis import EvidenceFact
from loopnode.services.dpp.epcis import FactQuery

TRADE_TABLES = {"offer": offers, "match": matches, "transfer": transfers}


class SqlEpcisStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def facts(self, query: FactQuery) -> list[EvidenceFact]:
        stmt = select(evidence).where(
            evidence.c.event_type.in_(query.event_types),
            evidence.c.sequence > query.after,
        )
        if query.subject is not None:
            stmt = stmt.where(_about(query.subject))
        if query.from_us is not None:
            stmt = stmt.where(evidence.c.recorded_us >= query.from_us)
        if query.until_us is not None:
            stmt = stmt.where(evidence.c.recorded_us <= query.until_us)
        return self._load(stmt.order_by(evidence.c.sequence).limit(query.limit))

    def fact(self, sequence: int) -> EvidenceFact | None:
        found = self._load(select(evidence).where(evidence.c.sequence == sequence))
        return found[0] if found else None

    def indexed(self, event_id: str) -> int | None:
        with self._engine.connect() as connection:
            value = connection.execute(
                select(epcis_event_index.c.sequence).where(epcis_event_index.c.event_id == event_id)
            ).scalar()
        return int(value) if value is not None else None

    def index_watermark(self) -> int:
        with self._engine.connect() as connection:
            value = connection.execute(select(func.max(epcis_event_index.c.sequence))).scalar()
        return int(value or 0)

    def remember(self, pairs: Iterable[tuple[str, int]]) -> None:
        rows = [{"event_id": event_id, "sequence": sequence} for event_id, sequence in pairs]
        if not rows:
            return
        with self._engine.begin() as connection:
            connection.execute(self._insert_ignoring_conflicts(), rows)

    def _insert_ignoring_conflicts(self) -> Any:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(epcis_event_index).on_conflict_do_nothing()
        if self._engine.dialect.name == "sqlite":
            return sqlite.insert(epcis_event_index).on_conflict_do_nothing()
        return insert(epcis_event_index)  # pragma: no cover - only the two databases exist

    def _load(self, stmt: Select[Any]) -> list[EvidenceFact]:
        with self._engine.connect() as connection:
            rows = connection.execute(stmt).mappings().all()
            passports = _passports(connection, rows)
        return [
            EvidenceFact(
                sequence=int(row["sequence"]),
                event_type=row["event_type"],
                subject_type=row["subject_type"],
                subject_id=row["subject_id"],
                recorded_at=from_us(int(row["recorded_us"])),
                node_id=row["node_id"],
                summary=_summary(row["summary"]),
                passports=passports.get((row["subject_type"], row["subject_id"]), ()),
            )
            for row in rows
        ]


def _about(subject: str) -> Any:
    """Evidence about `subject` itself or about a trade of it (when it is a passport)."""
    conditions = [evidence.c.subject_id == subject]
    for kind, table in TRADE_TABLES.items():
        trades = select(table.c.id).where(
            or_(table.c.material_id == subject, table.c.product_id == subject)
        )
        conditions.append(and_(evidence.c.subject_type == kind, evidence.c.subject_id.in_(trades)))
    return or_(*conditions)


def _passports(connection: Any, rows: Any) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if row["subject_type"] in TRADE_TABLES:
            wanted.setdefault(row["subject_type"], set()).add(row["subject_id"])
    found: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for kind, ids in wanted.items():
        table = TRADE_TABLES[kind]
        stmt = select(table.c.id, table.c.material_id, table.c.product_id).where(
            table.c.id.in_(sorted(ids))
        )
        for trade in connection.execute(stmt).mappings():
            linked = [("material", trade["material_id"]), ("product", trade["product_id"])]
            found[(kind, trade["id"])] = tuple((k, v) for k, v in linked if v)
    return found


def _summary(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        loaded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
