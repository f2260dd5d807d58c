"""SQLAlchemy Core implementations of the storage ports, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Row,
    String,
    and_,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from loopnode.adapters.storage.engine import WRITE
from loopnode.adapters.storage.sql.coredp import SqlCoreDpStores
from loopnode.adapters.storage.sql.evidence import SqlWitnessStore, record_mismatches
from loopnode.adapters.storage.sql.evidence_binding import states_of
from loopnode.adapters.storage.sql.federation import SqlFederationStores
from loopnode.adapters.storage.sql.ledger import SqlLedgerStore
from loopnode.adapters.storage.sql.lifecycle import (
    SqlCustodyLog,
    SqlExchangeStore,
    SqlIdempotencyStore,
    SqlStatusHistory,
    SqlStatusUpdateStore,
    SqlSubjectLedger,
    SqlTransactionStore,
)
from loopnode.adapters.storage.sql.messaging import SqlMessagingStores
from loopnode.adapters.storage.sql.routing import SqlDemandStore, SqlOverflowStore, SqlSignalStore
from loopnode.adapters.storage.tables.auth import SqlOrganisationStore
from loopnode.adapters.storage.tables.core import api_keys, evidence, evidence_head, records
from loopnode.domain.errors import Conflict, StorageUnavailable
from loopnode.domain.evidence import EvidenceEvent, chain_next, entry_hash
from loopnode.domain.times import from_us, to_us
from loopnode.services.ports import (
    ApiKeyRow,
    EvidenceDraft,
    RecordQuery,
    RecordRow,
    StoredDocument,
)


def _unavailable(failure: OperationalError) -> StorageUnavailable:
    """The service-level error for a locked database or a lost connection (nothing internal)."""
    reason = (str(failure.orig or failure).splitlines() or ["error"])[0]
    return StorageUnavailable(f"the database could not complete the step: {reason}")


def retryable(failure: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE 40P01, 40001): the write may run again
    (group commit, services/group_commit.py)."""
    state = getattr(getattr(failure, "orig", None), "sqlstate", None)
    return isinstance(failure, DBAPIError) and state in ("40P01", "40001")


def _dumps(document: dict[str, Any]) -> str:
    return orjson.dumps(document).decode()


# The statements every registration or read runs, built once: building a Core statement costs
# about as much as executing it on SQLite (docs/performance.md).
_GET_RECORD = select(records).where(
    records.c.id == bindparam("record_id"), records.c.kind == bindparam("record_kind")
)
_GET_DOCUMENT = select(records.c.document).where(
    records.c.id == bindparam("record_id"), records.c.kind == bindparam("record_kind")
)
_INSERT_EVIDENCE = insert(evidence)


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


_HEAD_FOR_UPDATE = select(evidence_head).where(evidence_head.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(evidence_head)
    .where(evidence_head.c.id == 1)
    .values(sequence=bindparam("new_sequence"), entry_hash=bindparam("new_hash"))
)
_KEY_BY_SECRET_HASH = select(api_keys).where(api_keys.c.secret_hash == bindparam("wanted_hash"))


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
        ux, uy, uz = row.unit_vector or (None, None, None)
        values = {
            "id": row.id,
            "kind": row.kind,
            "category": row.category,
            "condition": row.condition,
            "origin_city": row.origin_city,
            "current_city": row.current_city,
            "lat": row.lat,
            "lon": row.lon,
            "ux": ux,
            "uy": uy,
            "uz": uz,
            "quantity_unit": row.quantity_unit,
            "quantity_micro": row.quantity_micro,
            "offered_micro": row.offered_micro,
            "available_from_us": row.available_from_us,
            "expires_us": row.expires_us,
            "availability": row.availability,
            "source_node": row.source_node,
            "parent_id": row.parent_id,
            "document": _dumps(row.document),
            "record_hash": row.record_hash,
            "created_us": row.created_us,
            "updated_us": row.updated_us,
        }
        try:
            self._c.execute(insert(records), values)
        except IntegrityError as exc:
            # The whole unit of work rolls back on this error, so no savepoint is needed.
            if _is_unique_violation(exc):
                raise Conflict(f"a record with id {row.id} already exists", {"id": row.id}) from exc
            raise

    def get(self, kind: str, record_id: str) -> RecordRow | None:
        found = self._c.execute(_GET_RECORD, {"record_id": record_id, "record_kind": kind}).first()
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
        rows = self._c.execute(
            select(records.c.id).where(records.c.kind == kind, records.c.id.in_(list(ids)))
        )
        return {r[0] for r in rows}

    def page(self, query: RecordQuery) -> list[RecordRow]:
        params = _near_params(query)
        if params is not None:
            prebuilt = _NEAR_PAGE if query.after is None else _NEAR_PAGE_AFTER
            return [_record(r) for r in self._c.execute(prebuilt, params)]
        return [_record(r) for r in self._c.execute(self._page_statement(query, (records,)))]

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


def _record(row: Row[Any]) -> RecordRow:
    m = row._mapping
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


class SqlEvidenceLog:
    def __init__(self, connection: Connection, node_id: str) -> None:
        self._c = connection
        self._node_id = node_id

    def head(self) -> tuple[int, str]:
        row = self._c.execute(select(evidence_head).where(evidence_head.c.id == 1)).one()
        return int(row.sequence), str(row.entry_hash)

    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent:
        """Lock the head, let the domain build and link the entry, store it, move the head."""
        return self.append_many([draft], now)[0]

    def append_many(self, drafts: Sequence[EvidenceDraft], now: datetime) -> list[EvidenceEvent]:
        """The entries of one change, in order: the head locked once, every entry linked by the
        domain to the one before, all of them stored by one executemany, the head moved once
        (three statements whatever the count, instead of three per entry), plus one read per
        subject type of the subjects' current rows for record binding (evidence_binding.py)."""
        if not drafts:
            return []
        locked = self._c.execute(_HEAD_FOR_UPDATE).one()
        sequence, previous = int(locked.sequence), str(locked.entry_hash)
        # Record binding (issue 15): each entry carries its subject row's state after the change
        # (in a batch, after the whole batch: the latest entry about a row is what verify checks).
        states = states_of(self._c, ((d.subject_type, d.subject_id) for d in drafts))
        events: list[EvidenceEvent] = []
        rows: list[dict[str, Any]] = []
        for draft in drafts:
            recorded_at = draft.recorded_at or now
            event = chain_next(
                sequence,
                previous,
                node_id=self._node_id,
                event_type=draft.event_type,
                subject_type=draft.subject_type,
                subject_id=draft.subject_id,
                actor=draft.actor,
                payload_hash_sha256=draft.payload_hash,
                recorded_at=recorded_at,
                summary=_dumps(draft.summary) if draft.summary else None,
                record_hash=states.get((draft.subject_type, draft.subject_id)),
            )
            digest = entry_hash(event)
            rows.append(
                {
                    "sequence": event.sequence,
                    "event_id": event.event_id,
                    "node_id": self._node_id,
                    "event_type": event.event_type,
                    "subject_type": event.subject_type,
                    "subject_id": event.subject_id,
                    "actor": event.actor,
                    "payload_hash": event.payload_hash_sha256,
                    "prev_hash": event.prev_hash,
                    "entry_hash": digest,
                    "recorded_us": to_us(recorded_at),
                    "summary": event.summary,
                    "hash_version": event.hash_version,
                    "content_salt": event.content_salt,
                    "content_hash": event.content_hash,
                    "record_hash": event.record_hash,
                }
            )
            events.append(event)
            sequence, previous = event.sequence, digest
        self._c.execute(_INSERT_EVIDENCE, rows)
        self._c.execute(_MOVE_HEAD, {"new_sequence": sequence, "new_hash": previous})
        return events

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]:
        statement = (
            select(evidence)
            .where(evidence.c.sequence > after_sequence)
            .order_by(evidence.c.sequence)
            .limit(limit)
        )
        return [_event(r) for r in self._c.execute(statement)]

    def iterate(self) -> Iterator[tuple[EvidenceEvent, str]]:
        statement = select(evidence).order_by(evidence.c.sequence)
        for row in self._c.execute(statement.execution_options(yield_per=1000)):
            yield _event(row), str(row._mapping["entry_hash"])

    def get(self, sequence: int) -> tuple[EvidenceEvent, str] | None:
        row = self._c.execute(select(evidence).where(evidence.c.sequence == sequence)).first()
        return None if row is None else (_event(row), str(row._mapping["entry_hash"]))

    def tombstone(self, tombstone: EvidenceEvent, redacted_by: int) -> None:
        """Store `tombstone` (domain `redact`) over its entry: the one update the guard allows.
        `Conflict` when a concurrent redaction got there first (this transaction rolls back)."""
        result = self._c.execute(
            update(evidence)
            .where(evidence.c.sequence == tombstone.sequence, evidence.c.redacted_by.is_(None))
            .values(
                actor=tombstone.actor,
                summary=None,
                content_salt=None,
                redacted_by=redacted_by,
                redaction_reason=tombstone.redaction_reason,
            )
        )
        if not result.rowcount:
            raise Conflict(
                f"evidence entry {tombstone.sequence} is already redacted",
                {"sequence": tombstone.sequence},
            )

    def record_mismatches(self) -> list[tuple[str, str, str]]:
        """(subject type, id, problem) of each stored record its evidence does not account for."""
        return record_mismatches(self._c)


def _event(row: Row[Any]) -> EvidenceEvent:
    m = row._mapping
    return EvidenceEvent(
        sequence=int(m["sequence"]),
        event_id=m["event_id"],
        event_type=m["event_type"],
        subject_type=m["subject_type"],
        subject_id=m["subject_id"],
        actor=m["actor"],
        payload_hash_sha256=m["payload_hash"],
        prev_hash=m["prev_hash"],
        recorded_at=from_us(int(m["recorded_us"])),
        node_id=m["node_id"],
        summary=m["summary"],
        hash_version=int(m["hash_version"]),
        content_salt=m["content_salt"],
        content_hash=m["content_hash"],
        record_hash=m["record_hash"],
        redaction_reason=m["redaction_reason"],
    )


class SqlApiKeyStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: ApiKeyRow) -> None:
        self._c.execute(
            insert(api_keys),
            {
                "key_id": row.key_id,
                "name": row.name,
                "secret_hash": row.secret_hash,
                "roles": ",".join(row.roles),
                "created_us": row.created_us,
                "expires_us": row.expires_us,
                "revoked_us": row.revoked_us,
            },
        )

    def by_secret_hash(self, secret_hash: str) -> ApiKeyRow | None:
        row = self._c.execute(_KEY_BY_SECRET_HASH, {"wanted_hash": secret_hash}).first()
        return None if row is None else _api_key(row)

    def all(self) -> list[ApiKeyRow]:
        return [_api_key(r) for r in self._c.execute(select(api_keys).order_by(api_keys.c.name))]

    def revoke(self, key_id: str, now_us: int) -> bool:
        result = self._c.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_us.is_(None))
            .values(revoked_us=now_us)
        )
        return bool(result.rowcount)

    def count_valid(self, now_us: int) -> int:
        statement = (
            select(func.count())
            .select_from(api_keys)
            .where(api_keys.c.revoked_us.is_(None), api_keys.c.expires_us > now_us)
        )
        return int(self._c.execute(statement).scalar_one())


def _api_key(row: Row[Any]) -> ApiKeyRow:
    m = row._mapping
    return ApiKeyRow(
        key_id=m["key_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        roles=tuple(r for r in str(m["roles"]).split(",") if r),
        created_us=int(m["created_us"]),
        expires_us=int(m["expires_us"]),
        revoked_us=m["revoked_us"],
    )


# -- the unit of work: built after the stores it holds -----------------------------------------
S = TypeVar("S")


class _Store(Generic[S]):
    """A repository built on first use in one unit of work: most requests touch two or three of
    the stores, so the rest are never built (a non-data descriptor: the instance caches it)."""

    def __init__(self, factory: Callable[..., S], *, per_node: bool = False) -> None:
        self._factory = factory
        self._per_node = per_node
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type) -> _Store[S]: ...
    @overload
    def __get__(self, uow: SqlUnitOfWork, owner: type) -> S: ...
    def __get__(self, uow: SqlUnitOfWork | None, owner: type) -> S | _Store[S]:
        if uow is None:
            return self
        connection = uow._live()
        store = (
            self._factory(connection, uow._node_id) if self._per_node else self._factory(connection)
        )
        uow.__dict__[self._name] = store
        return store


class SqlUnitOfWork:
    """One transaction on one connection; the stores below share it."""

    records = _Store(SqlRecordStore)
    evidence = _Store(SqlEvidenceLog, per_node=True)
    witnesses = _Store(SqlWitnessStore)
    api_keys = _Store(SqlApiKeyStore)
    federation = _Store(SqlFederationStores)
    exchange = _Store(SqlExchangeStore)
    subjects = _Store(SqlSubjectLedger)
    custody = _Store(SqlCustodyLog)
    history = _Store(SqlStatusHistory)
    status_updates = _Store(SqlStatusUpdateStore)
    transactions = _Store(SqlTransactionStore)
    idempotency = _Store(SqlIdempotencyStore)
    coredp = _Store(SqlCoreDpStores)
    messaging = _Store(SqlMessagingStores)
    ledger = _Store(SqlLedgerStore)
    organisations = _Store(SqlOrganisationStore)
    signals = _Store(SqlSignalStore)
    demand = _Store(SqlDemandStore)
    overflow = _Store(SqlOverflowStore)

    def __init__(
        self, engine: Engine, node_id: str, *, write: bool = False, read_only: bool = False
    ) -> None:
        self._engine = engine
        self._write = write
        # PostgreSQL: a read that changes nothing needs no BEGIN and COMMIT round trips; under
        # READ COMMITTED each statement sees its own snapshot inside a transaction too.
        self._autocommit = read_only and not write and engine.dialect.name != "sqlite"
        self._node_id = node_id
        self._connection: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        for name, value in vars(SqlUnitOfWork).items():  # a reused instance starts afresh
            if isinstance(value, _Store):
                self.__dict__.pop(name, None)
        connection = self._engine.connect()
        if self._write:
            connection = connection.execution_options(**{WRITE: True})
        elif self._autocommit:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.begin()
        self._connection = connection
        return self

    def savepoint(self) -> Any:
        """A nested transaction: group commit isolates each request's writes in one."""
        return self._live().begin_nested()

    def _live(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("a store was used outside its unit of work")
        return self._connection

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit or roll back; a database that cannot complete now is `StorageUnavailable`."""
        connection = self._connection
        assert connection is not None
        try:
            if exc_type is None:
                connection.commit()
            else:
                connection.rollback()
        except OperationalError as failure:
            raise _unavailable(failure) from failure
        finally:
            connection.close()
            self._connection = None
        if isinstance(exc, OperationalError):
            raise _unavailable(exc) from exc
