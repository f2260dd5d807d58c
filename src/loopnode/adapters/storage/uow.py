"""The one unit of work: a transaction on one connection and the stores built on it (on first
use), identical on SQLite and PostgreSQL. The stores live in `sql/<feature>.py`."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from loopnode.adapters.storage.engine import WRITE
from loopnode.adapters.storage.sql.access import SqlApiKeyStore, SqlOrganisationStore
from loopnode.adapters.storage.sql.coredp import SqlCoreDpStores
from loopnode.adapters.storage.sql.evidence import SqlWitnessStore
from loopnode.adapters.storage.sql.evidence_log import SqlEvidenceLog
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
from loopnode.adapters.storage.sql.registry import SqlRecordStore
from loopnode.adapters.storage.sql.routing import SqlDemandStore, SqlOverflowStore, SqlSignalStore
from loopnode.domain.errors import StorageUnavailable


def _unavailable(failure: OperationalError) -> StorageUnavailable:
    """The service-level error for a locked database or a lost connection (nothing internal)."""
    reason = (str(failure.orig or failure).splitlines() or ["error"])[0]
    return StorageUnavailable(f"the database could not complete the step: {reason}")


def retryable(failure: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE 40P01, 40001): the write may run again
    (group commit, services/group_commit.py)."""
    state = getattr(getattr(failure, "orig", None), "sqlstate", None)
    return isinstance(failure, DBAPIError) and state in ("40P01", "40001")


# The statements every registration or read runs, built once: building a Core statement costs
# about as much as executing it on SQLite (docs/performance.md).
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
