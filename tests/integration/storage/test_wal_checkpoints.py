"""SQLite's log is checkpointed by a thread of its own while the web app runs
(adapters/storage/wal_checkpoints.py), not by the request that happens to commit past the
bound."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from loopnode.adapters.storage.engine import AUTOCHECKPOINT_PAGES, make_engine
from loopnode.adapters.storage.wal_checkpoints import WalCheckpointer, for_engine

ROWS = 400  # about 1 MiB of pages: far below AUTOCHECKPOINT_PAGES, so no commit checkpoints


def _writer(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)")
    return connection


def _write(connection: sqlite3.Connection, rows: int = ROWS) -> None:
    for n in range(rows):
        connection.execute("INSERT INTO rows (body) VALUES (?)", (bytes([n % 256]) * 2500,))


def _wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "node.db"


@pytest.fixture
def writer(path: Path) -> Iterator[sqlite3.Connection]:
    connection = _writer(path)
    yield connection
    connection.close()


@pytest.fixture
def checkpoints(path: Path) -> Iterator[WalCheckpointer]:
    running = WalCheckpointer(path, interval_s=0.02)
    yield running
    running.close()
    assert not running.running


def test_the_log_stays_in_the_wal_file_without_the_thread(
    path: Path, writer: sqlite3.Connection
) -> None:
    # The control: commits below the bound leave the database file as it was created.
    size = path.stat().st_size
    _write(writer)
    time.sleep(0.3)
    assert path.stat().st_size == size


def test_the_thread_copies_committed_pages_into_the_database_file(
    path: Path, writer: sqlite3.Connection, checkpoints: WalCheckpointer
) -> None:
    checkpoints.start()
    _write(writer)
    assert _wait_for(lambda: path.stat().st_size > ROWS * 2500)
    assert writer.execute("SELECT count(*) FROM rows").fetchone()[0] == ROWS


def test_the_thread_runs_only_when_the_log_changed(
    writer: sqlite3.Connection, checkpoints: WalCheckpointer
) -> None:
    checkpoints.start()
    _write(writer, 10)
    assert _wait_for(lambda: checkpoints.runs >= 1)
    time.sleep(0.2)  # ten intervals, no write
    runs = checkpoints.runs
    time.sleep(0.2)
    assert checkpoints.runs == runs
    _write(writer, 10)
    assert _wait_for(lambda: checkpoints.runs > runs)


def test_a_failed_checkpoint_is_logged_and_retried(
    path: Path,
    writer: sqlite3.Connection,
    checkpoints: WalCheckpointer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _write(writer, 10)
    gone = sqlite3.connect(path)
    gone.close()
    checkpoints.checkpoint(gone)  # raises inside: the connection is closed
    assert checkpoints.runs == 0
    assert "WAL checkpoint failed" in caplog.text
    checkpoints.start()  # the thread, started on the same log, checkpoints it
    assert _wait_for(lambda: checkpoints.runs >= 1)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("postgresql+psycopg://u@127.0.0.1:5432/db", False),
    ],
)
def test_only_a_sqlite_file_has_a_checkpointer(url: str, kept: bool) -> None:
    engine = create_engine(url)
    try:
        assert (for_engine(engine) is not None) is kept
    finally:
        engine.dispose()


def test_a_sqlite_file_engine_has_one_and_bounds_its_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        assert for_engine(engine) is not None
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == AUTOCHECKPOINT_PAGES
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_served_node_runs_it_and_stops_it(node_settings: Any) -> None:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app

    container = build(node_settings)
    checkpoints = container.wal_checkpoints
    assert checkpoints is not None and not checkpoints.running  # not for CLI commands
    with TestClient(create_app(container=container)):
        assert checkpoints.running
    assert not checkpoints.running
