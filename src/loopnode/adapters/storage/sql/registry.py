"""The passport registry's storage: records (MaterialDNA, ProductDNA), search statements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    bindparam,
    func,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from loopnode.adapters.storage.sql import json_text
from loopnode.adapters.storage.sql.driver import Prebuilt, insert_rows
from loopnode.adapters.storage.tables.core import records
from loopnode.domain.errors import Conflict
from loopnode.services.ports import (
    RecordQuery,
    RecordRow,
    StoredDocument,
)

# The statements every registration or read runs, built once: building a Core statement costs
# about as much as executing it on SQLite (docs/performance.md).
_GET_RECORD = select(records).where(
    records.c.id == bindparam("record_id"), records.c.kind == bindparam("record_kind")
)
# A passport by id at the driver (sql/driver.Prebuilt): the lifecycle reads one per change.
_GET_RECORD_FAST = Prebuilt(_GET_RECORD)
_GET_RECORD_LOCKED = Prebuilt(_GET_RECORD.with_for_update())
_GET_DOCUMENT = select(records.c.document).where(
    records.c.id == bindparam("record_id"), records.c.kind == bindparam("record_kind")
)
_INSERT_COLUMNS = (
    *("id", "kind", "category", "condition", "origin_city", "current_city", "lat", "lon"),
    *("ux", "uy", "uz", "quantity_unit", "quantity_micro", "offered_micro"),
    *("available_from_us", "expires_us", "availability", "source_node", "parent_id"),
    *("document", "record_hash", "created_us", "updated_us"),
)
_KIND_BY_IDS = select(records.c.id, records.c.kind).where(
    records.c.id.in_(bindparam("ids", expanding=True))
)


# The registry search's common shape (kind, category, radius: what `POST …/search` with a
# category and `radius_km` asks), prebuilt: building the conditions and two statements per
# request costs more than running them (docs/performance.md). Same SQL as `_conditions`.
def _near_filter() -> ColumnElement[bool]:
    c = records.c
    dot = c.ux * bindparam("q_x") + c.uy * bindparam("q_y") + c.uz * bindparam("q_z")
    return and_(
        c.kind == bindparam("q_kind"),
        c.category == bindparam("q_category"),
        dot >= bindparam("q_min_dot"),
        and_(c.lat >= bindparam("q_lat_low"), c.lat <= bindparam("q_lat_high")),
        c.availability != "withdrawn",  # searches never list withdrawn passports (issue 15)
    )


def _near_page(after: bool, columns: Sequence[Any] = (records,)) -> Any:
    c = records.c
    conditions = [_near_filter()]
    if after:
        position = tuple_(
            bindparam("q_after_us", type_=BigInteger), bindparam("q_after_id", type_=String)
        )
        conditions.append(tuple_(c.updated_us, c.id) > position)
    ids = (
        select(c.id)
        .where(*conditions)
        .order_by(c.updated_us, c.id)
        .limit(bindparam("q_limit", type_=BigInteger))
    )
    return select(*columns).where(c.id.in_(ids.scalar_subquery())).order_by(c.updated_us, c.id)


# What a page of stored documents reads: position and text, no other column, no parsing.
_DOCUMENT_COLUMNS = (records.c.updated_us, records.c.id, records.c.document)
_NEAR_COUNT = select(func.count()).select_from(records).where(_near_filter())
_NEAR_PAGE, _NEAR_PAGE_AFTER = _near_page(False), _near_page(True)
_NEAR_DOCUMENTS = _near_page(False, _DOCUMENT_COLUMNS)
_NEAR_DOCUMENTS_AFTER = _near_page(True, _DOCUMENT_COLUMNS)
_NEAR_SHAPE = frozenset(
    {
        "kind",
        "category",
        "near",
        "near_lat_bounds",
        "near_min_dot",
        "after",
        "limit",
        "exclude_withdrawn",
    }
)


def _near_params(query: RecordQuery) -> dict[str, Any] | None:
    """The bound parameters of the prebuilt search, or None when `query` has another shape
    (any other filter set, including filters added to `RecordQuery` later)."""
    if (
        query.category is None
        or not query.exclude_withdrawn
        or query.near is None
        or query.near_min_dot is None
        or query.near_lat_bounds is None
    ):
        return None
    for spec in fields(query):
        if spec.name not in _NEAR_SHAPE and getattr(query, spec.name) != spec.default:
            return None
    x, y, z = query.near
    low, high = query.near_lat_bounds
    params: dict[str, Any] = {
        "q_kind": query.kind,
        "q_category": query.category,
        "q_x": x,
        "q_y": y,
        "q_z": z,
        "q_min_dot": query.near_min_dot,
        "q_lat_low": low,
        "q_lat_high": high,
        "q_limit": query.limit,
    }
    if query.after is not None:
        params["q_after_us"], params["q_after_id"] = query.after
    return params


class SqlRecordStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        # A search runs `page` and `count` with the same filters: their conditions are built
        # once (building SQLAlchemy expressions costs more than running the query).
        self._built: tuple[RecordQuery, list[ColumnElement[bool]]] | None = None

    def _filters(self, query: RecordQuery) -> list[ColumnElement[bool]]:
        same = replace(query, after=None, limit=0)
        if self._built is None or self._built[0] != same:
            self._built = (same, _conditions(query))
        return list(self._built[1])

    def insert(self, row: RecordRow) -> None:
        try:
            self.insert_many([row])
        except IntegrityError as exc:
            # The whole unit of work rolls back on this error, so no savepoint is needed.
            if _is_unique_violation(exc):
                raise Conflict(f"a record with id {row.id} already exists", {"id": row.id}) from exc
            raise

    def insert_many(self, rows: Sequence[RecordRow]) -> None:
        # At the driver, one multi-row statement: a registration's hottest (sql/driver.py). On
        # an error group commit runs each insert alone to find whose id was taken.
        insert_rows(self._c, "dna_records", _INSERT_COLUMNS, [_row_values(row) for row in rows])

    def get(self, kind: str, record_id: str, *, lock: bool = False) -> RecordRow | None:
        statement = _GET_RECORD_LOCKED if lock else _GET_RECORD_FAST
        found = statement.first(self._c, {"record_id": record_id, "record_kind": kind})
        return _record(found) if found is not None else None

    def document_json(self, kind: str, record_id: str) -> bytes | None:
        # Stored as `orjson.dumps(document)`: the bytes a response would render from the parsed
        # document (orjson round-trips its own output byte for byte).
        found = self._c.execute(
            _GET_DOCUMENT, {"record_id": record_id, "record_kind": kind}
        ).scalar()
        return found.encode() if found is not None else None

    def existing_ids(self, kind: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        # By id alone (the kind checked here): see evidence_binding._BY_IDS for why.
        rows = self._c.execute(_KIND_BY_IDS, {"ids": list(ids)})
        return {r.id for r in rows if r.kind == kind}

    def page(self, query: RecordQuery) -> list[RecordRow]:
        params = _near_params(query)
        if params is not None:
            prebuilt = _NEAR_PAGE if query.after is None else _NEAR_PAGE_AFTER
            return [_record(r._mapping) for r in self._c.execute(prebuilt, params)]
        return [
            _record(r._mapping) for r in self._c.execute(self._page_statement(query, (records,)))
        ]

    def page_documents(self, query: RecordQuery) -> list[StoredDocument]:
        params = _near_params(query)
        if params is not None:
            prebuilt = _NEAR_DOCUMENTS if query.after is None else _NEAR_DOCUMENTS_AFTER
            found = self._c.execute(prebuilt, params)
        else:
            found = self._c.execute(self._page_statement(query, _DOCUMENT_COLUMNS))
        return [StoredDocument(r[0], r[1], r[2]) for r in found]

    def _page_statement(self, query: RecordQuery, columns: Sequence[Any]) -> Any:
        conditions = self._filters(query)
        if query.after is not None:
            conditions.append(tuple_(records.c.updated_us, records.c.id) > tuple_(*query.after))
        # A deferred join: the page's ids come from the (covering) index alone, then only those
        # rows are read from the table, instead of every match's row being read to sort them.
        ids = (
            select(records.c.id)
            .where(*conditions)
            .order_by(records.c.updated_us, records.c.id)
            .limit(query.limit)
        )
        return (
            select(*columns)
            .where(records.c.id.in_(ids.scalar_subquery()))
            .order_by(records.c.updated_us, records.c.id)
        )

    def count(self, query: RecordQuery) -> int:
        params = _near_params(query)
        if params is not None:
            return int(self._c.execute(_NEAR_COUNT, params).scalar_one())
        statement = select(func.count()).select_from(records).where(*self._filters(query))
        return int(self._c.execute(statement).scalar_one())

    def count_active(self, kind: str) -> int:
        statement = (
            select(func.count())
            .select_from(records)
            .where(records.c.kind == kind, records.c.availability != "withdrawn")
        )
        return int(self._c.execute(statement).scalar_one())


def _is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


def _conditions(query: RecordQuery) -> list[ColumnElement[bool]]:
    c = records.c
    conditions: list[ColumnElement[bool]] = [c.kind == query.kind]
    simple = {
        c.category: query.category,
        c.origin_city: query.origin_city,
        c.current_city: query.current_city,
        c.availability: query.availability,
        c.source_node: query.source_node,
        c.condition: query.condition,
    }
    conditions.extend(column == value for column, value in simple.items() if value is not None)
    if query.exclude_withdrawn:
        conditions.append(c.availability != "withdrawn")
    if query.category_prefix is not None:
        conditions.append(c.category.startswith(query.category_prefix, autoescape=True))
    if query.id_prefix is not None:
        conditions.append(c.id.startswith(query.id_prefix, autoescape=True))
    if query.min_quantity_micro is not None:
        conditions.append(c.quantity_micro >= query.min_quantity_micro)
    if query.available_from_gte_us is not None:
        conditions.append(c.available_from_us >= query.available_from_gte_us)
    if query.available_from_lt_us is not None:
        conditions.append(c.available_from_us < query.available_from_lt_us)
    if query.updated_since_us is not None:
        conditions.append(c.updated_us >= query.updated_since_us)
    if query.updated_until_us is not None:
        conditions.append(c.updated_us <= query.updated_until_us)
    conditions.extend(_near(query))
    return conditions


def _near(query: RecordQuery) -> list[ColumnElement[bool]]:
    if query.near is None or query.near_min_dot is None:
        return []
    c = records.c
    x, y, z = query.near
    # The great-circle test as a dot product of unit vectors: no trigonometry in SQL, so it
    # runs the same on SQLite and PostgreSQL; the latitude band lets the index do the rest.
    found: list[ColumnElement[bool]] = [c.ux * x + c.uy * y + c.uz * z >= query.near_min_dot]
    if query.near_lat_bounds is not None:
        low, high = query.near_lat_bounds
        found.append(and_(c.lat >= low, c.lat <= high))
    return found


def _row_values(row: RecordRow) -> tuple[Any, ...]:
    ux, uy, uz = row.unit_vector or (None, None, None)
    return (
        *(row.id, row.kind, row.category, row.condition, row.origin_city, row.current_city),
        *(row.lat, row.lon, ux, uy, uz, row.quantity_unit, row.quantity_micro),
        *(row.offered_micro, row.available_from_us, row.expires_us, row.availability),
        *(row.source_node, row.parent_id, json_text(row.document), row.record_hash),
        *(row.created_us, row.updated_us),
    )


def _record(m: Mapping[Any, Any]) -> RecordRow:
    vector = (m["ux"], m["uy"], m["uz"]) if m["ux"] is not None else None
    return RecordRow(
        id=m["id"],
        kind=m["kind"],
        category=m["category"],
        condition=m["condition"],
        origin_city=m["origin_city"],
        current_city=m["current_city"],
        lat=m["lat"],
        lon=m["lon"],
        unit_vector=vector,
        quantity_unit=m["quantity_unit"],
        quantity_micro=m["quantity_micro"],
        available_from_us=m["available_from_us"],
        expires_us=m["expires_us"],
        source_node=m["source_node"],
        document=orjson.loads(m["document"]),
        record_hash=m["record_hash"],
        created_us=m["created_us"],
        updated_us=m["updated_us"],
        availability=m["availability"],
        offered_micro=m["offered_micro"],
        parent_id=m["parent_id"],
    )
