"""A PostgreSQL call that stalls the event loop is broken off after the request deadline.

On a local PostgreSQL the routes run service calls inline on the event loop, as on SQLite
(`web/concurrency.py`): a round trip on loopback costs less than the thread hop around it.
But a server that accepts bytes and never answers would then hold the loop, and every request
of the worker, until the driver gives up; the thread-pool path bounds such a call by
abandoning its thread, and inline there is no thread to abandon. So the loop beats a
heartbeat, and a watchdog thread that finds it older than the deadline shuts down the sockets
of the connections that the loop's thread has checked out: the blocked read returns, psycopg
raises a disconnect, SQLAlchemy invalidates the connection, and the request answers 503 like
one past its deadline (`DATABASE_FAULTS`). A new connection to the frozen server is bounded by
`connect_timeout`, so the next request fails as fast.

A loop stalled by something other than the database (CPU work longer than the deadline) has
its connections broken too: that request answers 503, which is what its deadline promised.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["StallGuard"]


class StallGuard:
    """Watches the event loops that run database calls inline; see the module doc."""

    def __init__(self, deadline_s: float, tick_s: float = 0.25) -> None:
        self._deadline = deadline_s
        self._tick = min(tick_s, deadline_s / 4)
        self._lock = threading.Lock()
        self._held: dict[int, tuple[Any, int]] = {}  # id(driver connection) → (it, thread)
        self._beats: dict[int, tuple[asyncio.AbstractEventLoop, float]] = {}  # by thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broken = 0  # connections shut down so far (a metric and a test hook)

    def attach(self, engine: Engine) -> None:
        """Tracks which thread holds which pooled connection."""
        event.listen(engine, "checkout", lambda conn, _record, _proxy: self.held(conn))
        event.listen(engine, "checkin", lambda conn, _record: self.returned(conn))

    def held(self, dbapi_connection: Any) -> None:
        """`dbapi_connection` (anything with the socket's `fileno()`) is now this thread's."""
        with self._lock:
            # A connection closed without a checkin (a kept one of sql/driver.DocumentReader,
            # dropped when dead) leaves here when the next one is taken.
            closed = [key for key, (conn, _) in self._held.items() if getattr(conn, "closed", 0)]
            for key in closed:
                del self._held[key]
            self._held[id(dbapi_connection)] = (dbapi_connection, threading.get_ident())

    def returned(self, dbapi_connection: Any) -> None:
        if dbapi_connection is not None:
            with self._lock:
                self._held.pop(id(dbapi_connection), None)

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Starts the heartbeat of `loop` (called from it; once per loop is enough)."""
        ident = threading.get_ident()
        found = self._beats.get(ident)
        if found is not None and found[0] is loop:
            return
        with self._lock:
            self._beats[ident] = (loop, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watchdog, name="loopnode-stall-guard", daemon=True
                )
                self._thread.start()
        loop.call_later(self._tick, self._beat, loop, ident)

    def holding(self) -> int:
        """Connections tracked as checked out now."""
        return len(self._held)

    def watching(self) -> int:
        """Loops whose heartbeat is watched now."""
        return len(self._beats)

    def close(self) -> None:
        self._stop.set()

    def _beat(self, loop: asyncio.AbstractEventLoop, ident: int) -> None:
        found = self._beats.get(ident)
        if found is None or found[0] is not loop:
            return  # another loop took this thread over
        self._beats[ident] = (loop, time.monotonic())
        loop.call_later(self._tick, self._beat, loop, ident)

    def _watchdog(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            for ident, (loop, beat) in list(self._beats.items()):
                if not loop.is_running():
                    # A loop that ended beats no more; its thread may be reused.
                    with self._lock:
                        if self._beats.get(ident, (None,))[0] is loop:
                            del self._beats[ident]
                elif now - beat > self._deadline:
                    self._break(ident)
                    self._beats[ident] = (loop, now)  # the next call gets its own deadline

    def _break(self, ident: int) -> None:
        with self._lock:
            stuck = [conn for conn, holder in self._held.values() if holder == ident]
        for conn in stuck:
            with contextlib.suppress(Exception):  # closed meanwhile: nothing to break
                # A duplicate of the descriptor: shutting it down ends the connection for the
                # driver's own descriptor too, and closing it leaves the driver's one alone.
                with socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
                    dup.shutdown(socket.SHUT_RDWR)
                self.broken += 1
