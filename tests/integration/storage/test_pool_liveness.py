"""PostgreSQL pool liveness without a ping per checkout (docs/performance.md, Session 3): a
connection idle for `PING_IDLE_S` is pinged and replaced when its server side is gone; one
used moments ago is handed out without a round trip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from loopnode.adapters.storage import engine as engine_module
from loopnode.adapters.storage.engine import make_engine
from tests.conftest import create_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[Any]:
    url, drop = create_postgres_database()
    made = make_engine("postgresql+psycopg://" + url.split("://", 1)[1], pool_size=2)
    try:
        yield made
    finally:
        made.dispose()
        drop()


def _backend(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(engine: Any, pid: int) -> None:
    other = make_engine(str(engine.url.render_as_string(hide_password=False)), pool_size=1)
    with other.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    other.dispose()


def test_an_idle_connection_whose_server_side_died_is_replaced(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    _kill(engine, first)
    monkeypatch.setattr(engine_module, "PING_IDLE_S", 0.0)  # every pooled connection is "idle"

    assert _backend(engine) != first  # no error: the ping found it dead, a new one answered


def test_only_idle_connections_are_pinged(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[Any] = []
    real_ping = engine_module.ping
    monkeypatch.setattr(engine_module, "ping", lambda c: (pings.append(c), real_ping(c)))
    _backend(engine)  # a new connection: nothing to ping
    for _ in range(5):
        _backend(engine)
    assert pings == []  # each checkout follows the last use by far less than PING_IDLE_S
    monkeypatch.setattr(engine_module, "PING_IDLE_S", 0.0)
    _backend(engine)
    assert len(pings) == 1


def test_a_read_only_unit_of_work_sends_no_begin_and_leaves_the_connection_as_it_was(
    engine: Any,
) -> None:
    from loopnode.adapters.storage.uow import SqlUnitOfWork

    def in_transaction(uow: SqlUnitOfWork) -> bool:
        live = uow._live()
        live.execute(text("SELECT 1"))
        dbapi = live.connection.driver_connection
        return str(dbapi.info.transaction_status.name) != "IDLE"

    with SqlUnitOfWork(engine, "n", read_only=True) as uow:
        assert not in_transaction(uow)  # autocommit: the SELECT ran on its own
    for _ in range(3):  # the same pooled connection, back to transactions for everyone else
        with SqlUnitOfWork(engine, "n") as uow:
            assert in_transaction(uow)
        with SqlUnitOfWork(engine, "n", write=True, read_only=True) as uow:
            assert in_transaction(uow)  # a write is never autocommitted


def _kill_others(engine: Any) -> None:
    """Every other session of the test database, as a restarted or idle-timeout server would."""
    other = make_engine(str(engine.url.render_as_string(hide_password=False)), pool_size=1)
    with other.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        connection.commit()
    other.dispose()


def test_the_kept_read_connection_is_pinged_after_idling_and_replaced_when_dead(
    engine: Any,
) -> None:
    import asyncio
    import time

    from loopnode.adapters.storage.migrate import upgrade
    from loopnode.adapters.storage.sql.driver import DocumentReader

    upgrade(engine)
    reader = DocumentReader(engine, idle_ping_s=0.2)

    async def on_a_loop() -> bytes | None:  # a loop's thread keeps its own connection
        return reader("material", "MAT-DE-MUC-2026-PLA-000001")

    try:
        assert asyncio.run(on_a_loop()) is None
        _kill_others(engine)
        time.sleep(0.3)
        assert asyncio.run(on_a_loop()) is None  # no error: pinged, found dead, replaced
        _kill_others(engine)
        with pytest.raises(OperationalError):  # used moments ago: not pinged, the read fails
            asyncio.run(on_a_loop())
        assert asyncio.run(on_a_loop()) is None  # and the next one has a new connection
    finally:
        reader.close()
