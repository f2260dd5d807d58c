"""Engines for SQLite (the embedded default) and PostgreSQL, with one behaviour for both.

SQLite: WAL, a busy timeout, and `BEGIN IMMEDIATE` for write transactions so that two writers
never deadlock upgrading a shared lock; pysqlite's own transaction handling is switched off so
that SQLAlchemy's BEGIN is the one that counts. PostgreSQL: psycopg 3, READ COMMITTED plus row
locks (`SELECT ... FOR UPDATE`), which the storage code takes explicitly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

# Exceptions that mean "the database is unreachable or too slow" (web/errors.py: 503).
DATABASE_FAULTS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)

WRITE = "loopnode_write"
# mmap_size: reads come from a shared memory map instead of a read() per page into each
# connection's small page cache (halves the search query time over 100k records).
# wal_autocheckpoint: a served node checkpoints in a thread of its own (wal_checkpoints.py);
# this is the bound for when that thread is not running or falls behind (32 MiB of log).
AUTOCHECKPOINT_PAGES = 8192
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA mmap_size=268435456",
    f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}",
)


@dataclass(frozen=True, slots=True)
class DatabaseLimits:
    """How long the node waits on PostgreSQL before it gives up (issue 15, database faults).

    connect: a new connection (refused or unanswered); statement: any one query on the server;
    pool: waiting for a free pooled connection; keepalives and `tcp_user_timeout` notice a
    peer that vanished from the network mid-query. A server that is up but frozen is bounded
    by the web layer's request deadline instead (`web/concurrency.py`).
    """

    connect_s: int = 5
    statement_s: float = 15.0
    pool_s: float = 5.0

    @classmethod
    def of(cls, settings: Any) -> DatabaseLimits:
        return cls(
            connect_s=settings.database_connect_timeout_s,
            statement_s=settings.database_statement_timeout_s,
            pool_s=settings.database_pool_timeout_s,
        )

    def connect_args(self) -> dict[str, Any]:
        statement_ms = int(self.statement_s * 1000)
        return {
            "connect_timeout": self.connect_s,
            "options": f"-c statement_timeout={statement_ms}",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": statement_ms + 5000,
        }


# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
PING_IDLE_S = 5.0


def make_engine(url: str, *, pool_size: int = 16, limits: DatabaseLimits | None = None) -> Engine:
    """`pool_size`: connections kept per process. The web layer runs at most that many
    database calls at once (`web/concurrency.py`), so under load no connection is opened and
    closed again as pool overflow; a few overflow connections remain for calls made outside
    it (the API key check)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    limits = limits or DatabaseLimits()
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max(4, pool_size // 2),
        pool_recycle=1800,
        pool_timeout=limits.pool_s,
        connect_args=limits.connect_args(),
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Liveness without `pool_pre_ping`'s round trip on every checkout: only a connection idle
    for PING_IDLE_S is pinged (and replaced if dead). One in use moments ago is taken as it
    is; if the server went away meanwhile, the statement fails as a disconnect, SQLAlchemy
    invalidates the whole pool and that one request is answered 503 (`web/errors.py`)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
            return
        try:
            ping(dbapi_connection)
        except Exception as exc:
            # The pool retries the checkout with a fresh connection (as pool_pre_ping does).
            raise DisconnectionError("idle pooled connection is gone") from exc


LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


def runs_inline(engine: Engine, mode: str) -> bool:
    """Whether routes run this engine's calls on the event loop (`web/concurrency.py`):
    SQLite always; PostgreSQL when `mode` says so, or for "auto" when the server is on this
    host (loopback or a Unix socket), where a round trip costs less than a thread hop."""
    if engine.dialect.name == "sqlite" or mode == "inline":
        return True
    if mode == "threads":
        return False
    url = engine.url
    host = url.host or str(url.query.get("host") or "")
    return host in LOCAL_HOSTS or host.startswith("/")


def ping(dbapi_connection: Any) -> None:
    dbapi_connection.execute("SELECT 1")
    dbapi_connection.rollback()


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


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine; None for PostgreSQL or an in-memory database."""
    database = engine.url.database
    if not is_sqlite(engine) or database in (None, "", ":memory:"):
        return None
    return Path(database)
