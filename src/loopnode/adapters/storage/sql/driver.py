"""Statements sent to the driver as text, for the hottest writes and the hottest read.

SQLAlchemy Core builds an insert's parameters per call (`construct_params`): for the evidence
of a batch and a passport's row that was a measurable share of a write (docs/performance.md,
"Session 4"). The text depends only on the table, its columns, the row count and the driver's
placeholder (`?` for sqlite3, `%s` for psycopg), so it is built once per shape. Values go to the
driver as they are: only str, int, float and None, which both drivers take unconverted.

A passport read by id (the GET route) skips SQLAlchemy's Connection altogether: a pooled driver
connection (the pool's checkout events still run: liveness ping, stall guard), one statement,
no BEGIN and COMMIT of its own; a driver error comes out wrapped as SQLAlchemy's, so that the
web layer answers it as any other database fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from loopnode.services.ports import DocumentRead

__all__ = ["document_reader", "insert_rows"]

CHUNK = 500  # rows per statement: at most 12,000 parameters for the widest table, below limits


@cache
def _text(table: str, columns: tuple[str, ...], paramstyle: str, rows: int) -> str:
    one = "(" + ", ".join([_mark(paramstyle)] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows)


def insert_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (values in `columns` order), one multi-row statement per CHUNK rows."""
    paramstyle = connection.dialect.paramstyle
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        flat = tuple(value for row in chunk for value in row)
        connection.exec_driver_sql(_text(table, columns, paramstyle, len(chunk)), flat)


def _mark(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


def document_reader(engine: Engine) -> DocumentRead:
    """`RecordStore.document_json` as one driver statement outside a unit of work.

    On PostgreSQL the statement runs in autocommit: one round trip, and the pool's reset on
    return finds no transaction to roll back. On SQLite the connection is in autocommit already
    (pysqlite's transaction handling is off: `engine.py`)."""
    mark = _mark(engine.dialect.paramstyle)
    sql = f"SELECT document FROM dna_records WHERE id = {mark} AND kind = {mark}"
    postgres = engine.dialect.name != "sqlite"
    dbapi_error = engine.dialect.loaded_dbapi.Error

    def read(kind: str, record_id: str) -> bytes | None:
        try:
            pooled = engine.raw_connection()
        except dbapi_error as failure:
            raise DBAPIError.instance(sql, None, failure, dbapi_error) from failure
        try:
            driver = pooled.driver_connection
            assert driver is not None
            if postgres:
                driver.autocommit = True
            try:
                found = driver.execute(sql, (record_id, kind)).fetchone()
            finally:
                if postgres and not driver.closed:
                    driver.autocommit = False
        except dbapi_error as failure:
            gone = engine.dialect.is_disconnect(failure, driver, None)
            if gone:
                pooled.invalidate(failure)
            raise DBAPIError.instance(
                sql, (record_id, kind), failure, dbapi_error, connection_invalidated=gone
            ) from failure
        finally:
            pooled.close()
        return found[0].encode() if found is not None else None

    return read
