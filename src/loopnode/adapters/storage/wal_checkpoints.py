"""SQLite's WAL checkpoints run in a thread of their own instead of inside a request's commit.

By default SQLite checkpoints from the commit that makes the write-ahead log pass 1,000 pages:
that commit copies the log's pages into the database file and syncs both files before it
returns, and on the node the committing connection is the event loop's (SQLite calls run
inline), so every request of the worker waits for it.

While the web app runs, this thread checkpoints instead (`PRAGMA wal_checkpoint(PASSIVE)` on a
connection of its own) every `interval_s` in which the log changed: the sqlite3 module lets go
of the GIL for the copy and the syncs, so the loop goes on serving, and a passive checkpoint
neither waits for nor blocks a writer or a reader. A passive checkpoint cannot restart the log
from its beginning (the writers keep appending to it), so the request connections still
checkpoint by themselves once it holds `AUTOCHECKPOINT_PAGES` (engine.py); by then nearly every
page is copied and that checkpoint has only the last `interval_s` of writes left to copy and
sync. The same bound holds the log's size when this thread is not running (CLI commands) or
falls behind. Durability is unchanged: a commit is durable once in the log (what
`synchronous=NORMAL` promises), whichever connection later copies it into the database file.
Measured in docs/performance.md (session 6).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine

from loopnode.adapters.storage.engine import sqlite_file

__all__ = ["WalCheckpointer", "for_engine"]

log = logging.getLogger(__name__)

# Short, so that what the request connections' own checkpoint has left to do stays small
# (0.2 s between runs left a 20-50 ms stall at each restart of the log under load).
INTERVAL_S = 0.05


class WalCheckpointer:
    """Checkpoints the database at `path` every `interval_s` while its log changes."""

    def __init__(self, path: Path, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: tuple[int, int] | None = None  # the log's (mtime, size) at the last run
        self.runs = 0  # checkpoints run (a test hook)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="sqlite-wal-checkpoint", daemon=True
            )
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self._interval):
                if not self._changed():
                    continue
                if connection is None:
                    connection = sqlite3.connect(self._path, timeout=0, isolation_level=None)
                self.checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _changed(self) -> bool:
        try:
            stat = os.stat(self._wal)
        except FileNotFoundError:
            return False
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return False
        self._seen = seen
        return True

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.Error as exc:
            # A checkpoint that cannot run now is retried at the next change of the log; the
            # request connections' own bound still holds.
            log.warning("WAL checkpoint failed: %s", exc)
            self._seen = None


def for_engine(engine: Engine) -> WalCheckpointer | None:
    """A checkpointer for a SQLite file database; None where there is no log to checkpoint."""
    path = sqlite_file(engine)
    return WalCheckpointer(path) if path is not None else None
