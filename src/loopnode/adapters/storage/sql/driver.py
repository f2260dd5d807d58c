"""Statements sent to the driver itself, for the hottest writes and reads (issue 12).

On psycopg one statement through SQLAlchemy costs the node 90-110 µs of CPU against 43 µs on a
driver cursor; on SQLite 25-30 against 10 µs (docs/performance.md, Session 5). Three ways in:

- `insert_rows`: a prebuilt multi-row INSERT text (the passport row, a batch's evidence). The
  text depends only on the table, its columns, the row count and the driver's placeholder (`?`
  for sqlite3, `%s` for psycopg), so it is built once per shape. Values go to the driver as
  they are: only str, int, float and None, which both drivers take unconverted.
- `Prebuilt`: a Core statement compiled once per dialect (the lifecycle's reads and updates,
  the passport read by id inside a unit of work).
- `DocumentReader`: the GET route's passport read, outside any unit of work, on a connection
  each event loop keeps.

The first two run on one cursor of the unit of work's own driver connection, inside its
transaction. A driver error always comes out wrapped as SQLAlchemy's (`IntegrityError`,
`OperationalError`), so the stores and the web layer answer it as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select, Update

__all__ = ["DocumentReader", "Prebuilt", "insert_rows"]

CHUNK = 500  # rows per statement: at most 12,000 parameters for the widest table, below limits


@cache
def _text(
    table: str, columns: tuple[str, ...], paramstyle: str, rows: int, on_conflict: str
) -> str:
    width = len(columns)
    if paramstyle == "qmark":
        values = ", ".join(["(" + ", ".join(["?"] * width) + ")"] * rows)
    else:  # psycopg's raw cursor: PostgreSQL's own numbered placeholders
        values = ", ".join(
            "(" + ", ".join(f"${row * width + n}" for n in range(1, width + 1)) + ")"
            for row in range(rows)
        )
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{on_conflict}"


def insert_rows(
    connection: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    on_conflict: str = "",
) -> int:
    """Insert `rows` (values in `columns` order), one multi-row statement per CHUNK rows;
    returns how many rows the statements inserted (or updated).

    On a cursor of the unit of work's own driver connection (in its transaction), kept with the
    pooled connection: SQLAlchemy's `exec_driver_sql` costs 90 µs of CPU per statement on
    psycopg against 43 µs for the cursor (docs/performance.md, Session 5), and SQLAlchemy's
    multi-row `values()` compiles a bind parameter per value (2.7 s for 12,000 outbox rows). A
    driver error comes out wrapped as SQLAlchemy's (`IntegrityError` for a duplicate key), as it
    would from SQLAlchemy. `on_conflict`: an `ON CONFLICT ...` clause, which SQLite and
    PostgreSQL spell alike (`excluded.column` for the row that was refused)."""
    dialect = connection.dialect
    cursor = _cursor(connection, raw=True)
    suffix = f" ON CONFLICT {on_conflict}" if on_conflict else ""
    written = 0
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        flat = tuple(value for row in chunk for value in row)
        sql = _text(table, columns, dialect.paramstyle, len(chunk), suffix)
        try:
            cursor.execute(sql, flat)
        except dialect.loaded_dbapi.Error as failure:
            raise DBAPIError.instance(sql, flat, failure, dialect.loaded_dbapi.Error) from failure
        written += cursor.rowcount
    return written


_CURSOR = "loopnode_driver_cursor"
_RAW_CURSOR = "loopnode_driver_raw_cursor"


def _cursor(connection: Connection, *, raw: bool = False) -> Any:
    """The unit of work's kept driver cursor. `raw`: on PostgreSQL, psycopg's `RawCursor`,
    which takes `$1`-style placeholders as they are. The default cursor rewrites `%s` into
    them on every call unless the statement has at most 50 parameters (psycopg caches only
    those): for a batch's multi-row insert of 8 passports or evidence entries that rewrite
    cost 450 µs of CPU against 150 µs for the whole raw call (docs/performance.md, Session 8).
    On SQLite both are the one cursor."""
    pooled = connection.connection
    driver = pooled.driver_connection
    name = _RAW_CURSOR if raw and connection.dialect.paramstyle != "qmark" else _CURSOR
    kept = pooled.info.get(name)
    if kept is None or kept[0] is not driver:  # a connection replaced since: a new cursor
        cursor = _raw_cursor(driver) if name == _RAW_CURSOR else pooled.cursor()
        kept = pooled.info[name] = (driver, cursor)
    return kept[1]


def _raw_cursor(driver: Any) -> Any:
    from psycopg import RawCursor  # PostgreSQL only: SQLite needs no driver of its own

    return RawCursor(driver)


def _mark(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


class DocumentReader:
    """`RecordStore.document_json` as one driver statement outside a unit of work.

    A thread that runs an event loop (routes run reads inline there: `web/concurrency.py`)
    keeps a driver connection of its own for this read, taken from the pool once and detached
    from it: no checkout and checkin per read. The pool's checkout events ran for it (the stall
    guard tracks it as the loop's); one idle for `idle_ping_s` is pinged first and replaced when
    dead, as the pool does for its own. Other threads borrow a pooled connection per read.

    On PostgreSQL the statement runs in autocommit: one round trip, no transaction to end. On
    SQLite the connection is in autocommit already (pysqlite's transaction handling is off:
    `engine.py`)."""

    def __init__(self, engine: Engine, idle_ping_s: float = 5.0) -> None:
        mark = _mark(engine.dialect.paramstyle)
        self._sql = f"SELECT document FROM dna_records WHERE id = {mark} AND kind = {mark}"
        self._engine = engine
        self._postgres = engine.dialect.name != "sqlite"
        self._error: Any = engine.dialect.loaded_dbapi.Error
        self._idle_ping_s = idle_ping_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: list[Any] = []  # every detached connection, closed by `close`

    def __call__(self, kind: str, record_id: str) -> bytes | None:
        params = (record_id, kind)
        if asyncio._get_running_loop() is None:
            return self._borrowed(params)
        driver, cursor = self._kept_connection()
        try:
            cursor.execute(self._sql, params)
            found = cursor.fetchone()
        except self._error as failure:
            self._drop(driver)
            raise DBAPIError.instance(
                self._sql, params, failure, self._error, connection_invalidated=True
            ) from failure
        self._local.used = time.monotonic()
        return found[0].encode() if found is not None else None

    def close(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        for driver in kept:
            with contextlib.suppress(Exception):
                driver.close()

    def _kept_connection(self) -> tuple[Any, Any]:
        """This thread's kept driver connection and its one cursor (a cursor per read costs
        an object the read does not need)."""
        driver = getattr(self._local, "driver", None)
        if driver is not None and time.monotonic() - self._local.used > self._idle_ping_s:
            try:
                driver.execute("SELECT 1").fetchone()
            except self._error:
                self._drop(driver)
                driver = None
        if driver is None:
            try:
                pooled = self._engine.raw_connection()
            except self._error as failure:
                raise DBAPIError.instance(self._sql, None, failure, self._error) from failure
            driver = _driver(pooled)
            pooled.detach()
            if self._postgres:
                driver.autocommit = True
            with self._lock:
                self._kept.append(driver)
            self._local.driver, self._local.used = driver, time.monotonic()
            self._local.cursor = driver.cursor()
        return driver, self._local.cursor

    def _drop(self, driver: Any) -> None:
        self._local.driver = None
        with self._lock:
            self._kept = [kept for kept in self._kept if kept is not driver]
        with contextlib.suppress(Exception):
            driver.close()

    def _borrowed(self, params: tuple[str, str]) -> bytes | None:
        try:
            pooled = self._engine.raw_connection()
        except self._error as failure:
            raise DBAPIError.instance(self._sql, None, failure, self._error) from failure
        driver = _driver(pooled)
        try:
            if self._postgres:
                driver.autocommit = True
            try:
                found = driver.execute(self._sql, params).fetchone()
            finally:
                if self._postgres and not driver.closed:
                    driver.autocommit = False
        except self._error as failure:
            gone = self._engine.dialect.is_disconnect(failure, driver, None)
            if gone:
                pooled.invalidate(failure)
            raise DBAPIError.instance(
                self._sql, params, failure, self._error, connection_invalidated=gone
            ) from failure
        finally:
            pooled.close()
        return found[0].encode() if found is not None else None


def _driver(pooled: Any) -> Any:
    driver = pooled.driver_connection
    assert driver is not None  # a checked-out connection always has one
    return driver


class Prebuilt:
    """A Core statement built once and compiled once per dialect, run on the unit of work's
    driver cursor (`_cursor`): for the lifecycle's reads and updates, which a flow runs about
    thirty of, SQLAlchemy's execution and result objects cost as much as the statement on
    PostgreSQL. Parameters go through SQLAlchemy's bind processors as they would in
    SQLAlchemy; a statement whose columns need a result processor, or that SQLAlchemy renders
    per call (an expanding IN) or fills with Python-side defaults, runs through SQLAlchemy as
    before, so the answer is the same either way."""

    def __init__(self, statement: Select[Any] | Update) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled | None] = {}

    def first(self, connection: Connection, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row as a mapping of column names, or None."""
        found = self._compiled_for(connection)
        if found is None:
            stored = connection.execute(self.statement, params).first()
            return None if stored is None else dict(stored._mapping)
        cursor = self._run(connection, found, params)
        values = cursor.fetchone()
        if values is None:
            return None
        cursor.fetchall()  # a cursor is reused: leave nothing pending on it
        return dict(zip(found.columns, _processed(connection, found, cursor, values), strict=True))

    def all(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as a tuple of values in the statement's column order."""
        found = self._compiled_for(connection)
        if found is None:
            return [tuple(row) for row in connection.execute(self.statement, params)]
        cursor = self._run(connection, found, params)
        return [_processed(connection, found, cursor, values) for values in cursor.fetchall()]

    def rowcount(self, connection: Connection, params: dict[str, Any]) -> int:
        """Runs a write; the rows it matched."""
        found = self._compiled_for(connection)
        if found is None:
            return int(connection.execute(self.statement, params).rowcount)
        return int(self._run(connection, found, params).rowcount)

    def _run(self, connection: Connection, found: _Compiled, params: dict[str, Any]) -> Any:
        values = {**found.defaults, **params}
        for name, process in found.processors.items():
            if values.get(name) is not None:
                values[name] = process(values[name])
        args: Any = tuple(values[name] for name in found.order) if found.order else values
        cursor = _cursor(connection)
        error = connection.dialect.loaded_dbapi.Error
        try:
            cursor.execute(found.sql, args)
        except error as failure:
            raise DBAPIError.instance(found.sql, args, failure, error) from failure
        return cursor

    def _compiled_for(self, connection: Connection) -> _Compiled | None:
        dialect = connection.dialect
        try:
            return self._compiled[dialect.name]
        except KeyError:
            found = self._compiled[dialect.name] = _compile(self.statement, dialect)
            return found


@dataclass(slots=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]  # parameter names in placeholder order (positional drivers)
    defaults: dict[str, Any]  # the statement's own literal values
    processors: dict[str, Any]  # SQLAlchemy's per-type conversion of a parameter
    columns: tuple[str, ...]
    types: tuple[Any, ...]
    # SQLAlchemy's result processor per column, found from the first result's column types
    # (PostgreSQL's depend on the type the server reports); empty until then.
    results: list[Any]


def _processed(
    connection: Connection, found: _Compiled, cursor: Any, values: Sequence[Any]
) -> tuple[Any, ...]:
    """A row's values through SQLAlchemy's result processors, as SQLAlchemy would answer."""
    if not found.results:
        found.results[:] = [
            type_._cached_result_processor(connection.dialect, described[1])
            for type_, described in zip(found.types, cursor.description, strict=True)
        ]
    return tuple(
        value if process is None else process(value)
        for value, process in zip(values, found.results, strict=True)
    )


def _compile(statement: Select[Any] | Update, dialect: Dialect) -> _Compiled | None:
    compiled: Any = statement.compile(dialect=dialect)
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or "POSTCOMPILE" in compiled.string  # an expanding IN: rendered per call by SQLAlchemy
    ):
        return None
    columns = tuple(name for name, _key, _objects, _type in compiled._result_columns)
    types = tuple(type_ for _name, _key, _objects, type_ in compiled._result_columns)
    order = tuple(compiled.positiontup or ()) if compiled.positional else ()
    defaults = dict(compiled.construct_params(_check=False))  # literals; the rest come per call
    processors = dict(compiled._bind_processors)  # e.g. SQLite's float coercion
    return _Compiled(compiled.string, order, defaults, processors, columns, types, [])
