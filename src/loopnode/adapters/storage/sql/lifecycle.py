"""SQLAlchemy Core implementations of the lifecycle ports, identical on SQLite and PostgreSQL.

Locks: `lock=True` reads take `SELECT … FOR UPDATE` (PostgreSQL); on SQLite the clause renders
to nothing, since a write unit of work already holds the database's write lock (BEGIN
IMMEDIATE). The constraints declared in `lifecycle_tables` are the backstop; their violations
are turned into the protocol's errors here (409 for the uniqueness rules, 400 for the offered
quantity and the subject), never a 500.

The statements a lifecycle change runs are built once, at import, with bound parameters:
building a Core `update().where().values()` costs about five times executing it on SQLite
(docs/performance.md, "Lifecycle"), and a full flow runs about thirty of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Delete,
    Row,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import BigInteger

from loopnode.adapters.storage.sql import json_text
from loopnode.adapters.storage.sql.driver import Prebuilt, insert_rows
from loopnode.adapters.storage.tables.core import records
from loopnode.adapters.storage.tables.lifecycle import (
    custody,
    idempotency_keys,
    matches,
    material_status_updates,
    offers,
    status_history,
    transactions,
    transfers,
)
from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.services.ports import (
    CustodyEntry,
    ExchangeRow,
    IdempotencyRow,
    KeyTaken,
    ListQuery,
    RecordRow,
    StatusChange,
    StatusUpdateRow,
    TransactionRow,
)

__all__ = [
    "SqlCustodyLog",
    "SqlExchangeStore",
    "SqlIdempotencyStore",
    "SqlStatusHistory",
    "SqlStatusUpdateStore",
    "SqlSubjectLedger",
    "SqlTransactionStore",
]

TABLES: dict[str, Table] = {"offer": offers, "match": matches, "transfer": transfers}


# -- statements built once (bound parameter names differ from column names, as SET needs) -----
def _by_id(table: Table) -> Select[Any]:
    return select(table).where(table.c.id == bindparam("wanted_id"))


def _set_status(table: Table) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            status=bindparam("new_status"),
            document=bindparam("new_document"),
            updated_us=bindparam("new_updated_us"),
        )
    )


# The lifecycle's reads and updates run at the driver (sql/driver.Prebuilt).
_GET = {entity: Prebuilt(_by_id(table)) for entity, table in TABLES.items()}
_GET_LOCKED = {
    entity: Prebuilt(_by_id(table).with_for_update()) for entity, table in TABLES.items()
}
_SET_STATUS = {entity: Prebuilt(_set_status(table)) for entity, table in TABLES.items()}
# A child's offer (or a transfer's match) found and locked in one statement, so that a change
# locks in the documented order (engine.py) without first reading the child unlocked.
_PARENT_LOCKED = {
    (child, parent): Prebuilt(
        select(TABLES[parent])
        .where(
            TABLES[parent].c.id
            == select(TABLES[child].c[f"{parent}_id"])
            .where(TABLES[child].c.id == bindparam("wanted_id"))
            .scalar_subquery()
        )
        .with_for_update(of=TABLES[parent])
    )
    for child, parent in (("match", "offer"), ("transfer", "offer"), ("transfer", "match"))
}
_ACTIVE_MATCH = Prebuilt(
    select(matches).where(
        matches.c.offer_id == bindparam("wanted_offer"),
        # Not `in_`: an expanding IN is rendered per call, which Prebuilt leaves to SQLAlchemy.
        or_(matches.c.status == "proposed", matches.c.status == "accepted"),
    )
)
_LIVE_TRANSFER = Prebuilt(
    select(transfers).where(
        transfers.c.match_id == bindparam("wanted_match"), transfers.c.status != "cancelled"
    )
)
_LOCK_SUBJECT = (
    select(records.c.kind).where(records.c.id == bindparam("wanted_id")).with_for_update()
)
_RESERVE = Prebuilt(
    update(records)
    .where(
        records.c.id == bindparam("wanted_id"),
        records.c.offered_micro + bindparam("micro", type_=BigInteger) <= records.c.quantity_micro,
    )
    .values(offered_micro=records.c.offered_micro + bindparam("micro", type_=BigInteger))
)
_RELEASE = Prebuilt(
    update(records)
    .where(records.c.id == bindparam("wanted_id"))
    .values(offered_micro=records.c.offered_micro - bindparam("micro", type_=BigInteger))
)
_SET_AVAILABILITY = Prebuilt(
    update(records)
    .where(records.c.id == bindparam("wanted_id"))
    .values(availability=bindparam("new_availability"), updated_us=bindparam("new_updated_us"))
)
_REWRITE = Prebuilt(
    update(records)
    .where(records.c.id == bindparam("wanted_id"))
    .values(
        document=bindparam("new_document"),
        current_city=bindparam("new_city"),
        lat=bindparam("new_lat"),
        lon=bindparam("new_lon"),
        ux=bindparam("new_ux"),
        uy=bindparam("new_uy"),
        uz=bindparam("new_uz"),
        quantity_micro=bindparam("new_quantity"),
        record_hash=bindparam("new_hash"),
        updated_us=bindparam("new_updated_us"),
    )
)
# Written at the driver (`insert_rows`); every value is a str, an int or None.
_CUSTODY_COLUMNS = (
    *("record_id", "child_id", "transfer_id", "offer_id", "match_id", "from_city", "to_city"),
    *("quantity_micro", "mode", "sequence", "recorded_us"),
)
_HISTORY_COLUMNS = (
    *("entity_type", "entity_id", "status", "previous", "reason", "actor", "sequence"),
    "recorded_us",
)
_IDEMPOTENCY_KEY = and_(
    idempotency_keys.c.principal == bindparam("wanted_principal"),
    idempotency_keys.c.key == bindparam("wanted_key"),
)
_GET_KEY = select(idempotency_keys).where(_IDEMPOTENCY_KEY)
_INSERT_KEY = insert(idempotency_keys)
_COMPLETE_KEY: Update = (
    update(idempotency_keys)
    .where(_IDEMPOTENCY_KEY)
    .values(
        state="done",
        status_code=bindparam("new_status_code"),
        body=bindparam("new_body"),
        headers=bindparam("new_headers"),
    )
)
_DELETE_KEY: Delete = delete(idempotency_keys).where(_IDEMPOTENCY_KEY)


def _violation(exc: IntegrityError) -> str:
    """The driver's message, lower-cased: SQLite names columns, PostgreSQL names constraints."""
    return str(exc.orig).lower()


def _page(table: Table, query: ListQuery) -> Select[Any]:
    conditions = [table.c[name] == value for name, value in query.filters]
    if query.after is not None:
        position = tuple_(table.c.created_us, table.c.id)
        conditions.append(position > tuple_(*query.after))
    return (
        select(table).where(*conditions).order_by(table.c.created_us, table.c.id).limit(query.limit)
    )


class SqlExchangeStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: ExchangeRow) -> None:
        values = {
            "id": row.id,
            "subject_id": row.subject_id,
            "material_id": row.material_id,
            "product_id": row.product_id,
            "status": row.status,
            "document": json_text(row.document),
            "created_us": row.created_us,
            "updated_us": row.updated_us,
        }
        if row.entity == "offer":
            values |= {
                "quantity_micro": row.quantity_micro,
                "available_until_us": row.available_until_us,
            }
        else:
            values["offer_id"] = row.offer_id
        if row.entity == "transfer":
            values["match_id"] = row.match_id
        try:
            # At the driver (no column of these tables has a Python-side default); a duplicate
            # id still comes out as SQLAlchemy's IntegrityError.
            insert_rows(self._c, TABLES[row.entity].name, tuple(values), [tuple(values.values())])
        except IntegrityError as exc:
            # The unit of work rolls back as a whole on these errors, so no savepoint is needed.
            raise _insert_error(row, exc) from exc

    def get(self, entity: str, entity_id: str, *, lock: bool = False) -> ExchangeRow | None:
        statement = (_GET_LOCKED if lock else _GET)[entity]
        found = statement.first(self._c, {"wanted_id": entity_id})
        return None if found is None else _exchange(entity, found)

    def parent(self, entity: str, entity_id: str, parent: str) -> ExchangeRow | None:
        found = _PARENT_LOCKED[(entity, parent)].first(self._c, {"wanted_id": entity_id})
        return None if found is None else _exchange(parent, found)

    def update(self, row: ExchangeRow) -> None:
        values = {
            "row_id": row.id,
            "new_status": row.status,
            "new_document": json_text(row.document),
            "new_updated_us": row.updated_us,
        }
        try:
            _SET_STATUS[row.entity].rowcount(self._c, values)
        except IntegrityError as exc:
            raise _insert_error(row, exc) from exc

    def active_match(self, offer_id: str) -> ExchangeRow | None:
        found = _ACTIVE_MATCH.first(self._c, {"wanted_offer": offer_id})
        return None if found is None else _exchange("match", found)

    def live_transfer(self, match_id: str) -> ExchangeRow | None:
        found = _LIVE_TRANSFER.first(self._c, {"wanted_match": match_id})
        return None if found is None else _exchange("transfer", found)

    def page(self, entity: str, query: ListQuery) -> list[ExchangeRow]:
        return [
            _exchange(entity, r._mapping) for r in self._c.execute(_page(TABLES[entity], query))
        ]


def _insert_error(row: ExchangeRow, exc: IntegrityError) -> Exception:
    text = _violation(exc)
    if "uq_matches_active_offer" in text or "unique constraint failed: matches.offer_id" in text:
        return Conflict(
            f"offer {row.offer_id} already has an active match",
            {"offer_id": row.offer_id, "rule": "one active match per offer"},
        )
    if "uq_transfers_live_match" in text or "unique constraint failed: transfers.match_id" in text:
        return Conflict(
            f"match {row.match_id} already has a live transfer",
            {"match_id": row.match_id, "rule": "one live transfer per match"},
        )
    if "foreign key" in text:
        return InvalidRequest(
            f"the {row.entity}'s subject differs from its offer's or is unknown",
            {"subject_id": row.subject_id},
        )
    if "unique" in text or "duplicate key" in text:
        return Conflict(f"a {row.entity} with id {row.id} already exists", {"id": row.id})
    return exc


def _exchange(entity: str, m: Mapping[Any, Any]) -> ExchangeRow:
    return ExchangeRow(
        entity=entity,
        id=m["id"],
        status=m["status"],
        subject_id=m["subject_id"],
        material_id=m["material_id"],
        product_id=m["product_id"],
        document=orjson.loads(m["document"]),
        created_us=int(m["created_us"]),
        updated_us=int(m["updated_us"]),
        offer_id=m.get("offer_id", m["id"] if entity == "offer" else None),
        match_id=m.get("match_id"),
        quantity_micro=int(m.get("quantity_micro", 0)),
        available_until_us=int(m.get("available_until_us", 0)),
    )


class SqlSubjectLedger:
    """The lifecycle's writes to `dna_records`; the CHECK `offered_micro <= quantity_micro`
    (0001) is what finally guarantees that offers never exceed their subject."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def lock(self, record_id: str) -> str | None:
        found = self._c.execute(_LOCK_SUBJECT, {"wanted_id": record_id}).first()
        return None if found is None else str(found[0])

    def reserve(self, record_id: str, micro: int) -> bool:
        # Conditional, so the row lock taken by the UPDATE is the only serialisation needed;
        # the CHECK would refuse the same row if this condition were ever wrong.
        try:
            matched = _RESERVE.rowcount(self._c, {"wanted_id": record_id, "micro": micro})
        except IntegrityError as exc:
            raise InvalidRequest(
                f"open and reserved offers of {record_id} would exceed its quantity",
                {"id": record_id, "rule": "offers never exceed the subject (DECISIONS 10)"},
            ) from exc
        return bool(matched)

    def release(self, record_id: str, micro: int) -> None:
        _RELEASE.rowcount(self._c, {"wanted_id": record_id, "micro": micro})

    def set_availability(self, record_id: str, availability: str, updated_us: int) -> None:
        values = {"wanted_id": record_id, "new_availability": availability}
        _SET_AVAILABILITY.rowcount(self._c, values | {"new_updated_us": updated_us})

    def rewrite(self, row: RecordRow) -> None:
        """Store the record's document and every projection a custody change can move: the
        city, the location (all five columns, null when the document has none), the quantity,
        the hash and the time."""
        ux, uy, uz = row.unit_vector or (None, None, None)
        values = {
            "wanted_id": row.id,
            "new_document": json_text(row.document),
            "new_city": row.current_city,
            "new_lat": row.lat,
            "new_lon": row.lon,
            "new_ux": ux,
            "new_uy": uy,
            "new_uz": uz,
            "new_quantity": row.quantity_micro,
            "new_hash": row.record_hash,
            "new_updated_us": row.updated_us,
        }
        try:
            _REWRITE.rowcount(self._c, values)
        except IntegrityError as exc:
            raise InvalidRequest(
                "the record's quantity would fall below what its offers hold", {"id": row.id}
            ) from exc


class SqlCustodyLog:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def append(self, entry: CustodyEntry) -> None:
        row = (
            entry.record_id,
            entry.child_id,
            entry.transfer_id,
            entry.offer_id,
            entry.match_id,
            entry.from_city,
            entry.to_city,
            entry.quantity_micro,
            entry.mode,
            entry.sequence,
            entry.recorded_us,
        )
        insert_rows(self._c, "custody", _CUSTODY_COLUMNS, [row])

    def of(self, record_id: str) -> list[CustodyEntry]:
        statement = (
            select(custody)
            .where(or_(custody.c.record_id == record_id, custody.c.child_id == record_id))
            .order_by(custody.c.sequence)
        )
        return [_custody(r) for r in self._c.execute(statement)]


def _custody(row: Row[Any]) -> CustodyEntry:
    m = row._mapping
    return CustodyEntry(
        record_id=m["record_id"],
        child_id=m["child_id"],
        transfer_id=m["transfer_id"],
        offer_id=m["offer_id"],
        match_id=m["match_id"],
        from_city=m["from_city"],
        to_city=m["to_city"],
        quantity_micro=int(m["quantity_micro"]),
        mode=m["mode"],
        sequence=int(m["sequence"]),
        recorded_us=int(m["recorded_us"]),
    )


class SqlStatusHistory:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def append(self, change: StatusChange) -> None:
        self.append_many([change])

    def append_many(self, changes: Sequence[StatusChange]) -> None:
        rows = [
            (
                change.entity_type,
                change.entity_id,
                change.status,
                change.previous,
                change.reason,
                change.actor,
                change.sequence,
                change.recorded_us,
            )
            for change in changes
        ]
        if rows:
            # A batch's rows as one multi-row statement at the driver, ids in this order.
            insert_rows(self._c, "status_history", _HISTORY_COLUMNS, rows)

    def of(self, entity_type: str, entity_id: str) -> list[StatusChange]:
        statement = (
            select(status_history)
            .where(
                and_(
                    status_history.c.entity_type == entity_type,
                    status_history.c.entity_id == entity_id,
                )
            )
            .order_by(status_history.c.id)
        )
        return [
            StatusChange(
                entity_type=m["entity_type"],
                entity_id=m["entity_id"],
                status=m["status"],
                previous=m["previous"],
                reason=m["reason"],
                actor=m["actor"],
                sequence=int(m["sequence"]),
                recorded_us=int(m["recorded_us"]),
            )
            for m in (r._mapping for r in self._c.execute(statement))
        ]


class SqlStatusUpdateStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: StatusUpdateRow) -> None:
        values = {
            "id": row.id,
            "material_id": row.material_id,
            "status": row.status,
            "document": json_text(row.document),
            "created_us": row.created_us,
        }
        try:
            self._c.execute(insert(material_status_updates), values)
        except IntegrityError as exc:
            raise Conflict(
                f"a MaterialStatusUpdate with id {row.id} already exists", {"id": row.id}
            ) from exc

    def get(self, update_id: str) -> StatusUpdateRow | None:
        table = material_status_updates
        found = self._c.execute(select(table).where(table.c.id == update_id)).first()
        return None if found is None else _status_update(found)

    def page(self, query: ListQuery) -> list[StatusUpdateRow]:
        return [_status_update(r) for r in self._c.execute(_page(material_status_updates, query))]


def _status_update(row: Row[Any]) -> StatusUpdateRow:
    m = row._mapping
    return StatusUpdateRow(
        id=m["id"],
        material_id=m["material_id"],
        status=m["status"],
        document=orjson.loads(m["document"]),
        created_us=int(m["created_us"]),
    )


class SqlTransactionStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def count(self, created_since_us: int | None = None) -> int:
        statement = select(func.count()).select_from(transactions)
        if created_since_us is not None:
            statement = statement.where(transactions.c.created_us >= created_since_us)
        return int(self._c.execute(statement).scalar_one())

    def insert(self, row: TransactionRow) -> None:
        try:
            self._c.execute(insert(transactions), _transaction_values(row))
        except IntegrityError as exc:
            raise Conflict(f"transaction {row.id} already exists", {"id": row.id}) from exc

    def get(self, transaction_id: str, *, lock: bool = False) -> TransactionRow | None:
        statement = select(transactions).where(transactions.c.id == transaction_id)
        if lock:
            statement = statement.with_for_update()
        found = self._c.execute(statement).first()
        return None if found is None else _transaction(found)

    def update(self, row: TransactionRow) -> None:
        values = _transaction_values(row)
        del values["id"], values["created_us"]
        self._c.execute(update(transactions).where(transactions.c.id == row.id).values(values))

    def page(self, query: ListQuery) -> list[TransactionRow]:
        return [_transaction(r) for r in self._c.execute(_page(transactions, query))]


def _transaction_values(row: TransactionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "material_id": row.material_id,
        "seller": row.seller,
        "buyer": row.buyer,
        "status": row.status,
        "document": json_text(row.document),
        "settlement": None if row.settlement is None else json_text(row.settlement),
        "created_us": row.created_us,
        "updated_us": row.updated_us,
    }


def _transaction(row: Row[Any]) -> TransactionRow:
    m = row._mapping
    return TransactionRow(
        id=m["id"],
        material_id=m["material_id"],
        seller=m["seller"],
        buyer=m["buyer"],
        status=m["status"],
        document=orjson.loads(m["document"]),
        created_us=int(m["created_us"]),
        updated_us=int(m["updated_us"]),
        settlement=None if m["settlement"] is None else orjson.loads(m["settlement"]),
    )


class SqlIdempotencyStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, principal: str, key: str) -> IdempotencyRow | None:
        found = self._c.execute(_GET_KEY, _key_params(principal, key)).first()
        if found is None:
            return None
        m = found._mapping
        return IdempotencyRow(
            principal=m["principal"],
            key=m["key"],
            request_hash=m["request_hash"],
            state=m["state"],
            created_us=int(m["created_us"]),
            expires_us=int(m["expires_us"]),
            status_code=m["status_code"],
            body=None if m["body"] is None else orjson.loads(m["body"]),
            headers=orjson.loads(m["headers"]) if m["headers"] else {},
        )

    def insert(self, row: IdempotencyRow) -> None:
        values = {
            "principal": row.principal,
            "key": row.key,
            "request_hash": row.request_hash,
            "state": row.state,
            "created_us": row.created_us,
            "expires_us": row.expires_us,
        }
        try:
            self._c.execute(_INSERT_KEY, values)
        except IntegrityError as exc:
            raise KeyTaken("this Idempotency-Key is taken", {"key": row.key}) from exc

    def complete(
        self,
        principal: str,
        key: str,
        status_code: int,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        values = {
            **_key_params(principal, key),
            "new_status_code": status_code,
            "new_body": json_text(body),
            "new_headers": json_text(headers),
        }
        self._c.execute(_COMPLETE_KEY, values)

    def delete(self, principal: str, key: str) -> None:
        self._c.execute(_DELETE_KEY, _key_params(principal, key))

    def purge(self, now_us: int) -> int:
        t = idempotency_keys
        return int(self._c.execute(delete(t).where(t.c.expires_us <= now_us)).rowcount)


def _key_params(principal: str, key: str) -> dict[str, str]:
    return {"wanted_principal": principal, "wanted_key": key}
