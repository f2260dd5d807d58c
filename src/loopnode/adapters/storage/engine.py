"""Engines for SQLite (the embedded default) and PostgreSQL, with one behaviour for both.

SQLite: WAL, a busy timeout, and `BEGIN IMMEDIATE` for write transactions so that two writers
never deadlock upgrading a shared lock; pysqlite's own transaction handling is switched off so
that SQLAlchemy's BEGIN is the one that counts. PostgreSQL: psycopg 3, READ COMMITTED plus row
locks (`SELECT ... FOR UPDATE`), which the storage code takes explicitly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

WRITE = "loopnode_write"
# mmap_size: reads come from a shared memory map instead of a read() per page into each
# connection's small page cache (halves the search query time over 100k records).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA mmap_size=268435456",
)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _sqlite_engine(url: str) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=NullPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Straight to the driver: BEGIN needs no compilation, result object or events, and
        # every unit of work pays for it (about 40 µs a transaction; docs/performance.md).
        statement = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
