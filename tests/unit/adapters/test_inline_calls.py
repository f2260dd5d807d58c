"""Inline database calls (web/concurrency.py): which engines run them on the event loop, and the
stall guard that breaks a call holding the loop past the deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from sqlalchemy import create_engine

from loopnode.adapters.storage.engine import runs_inline
from loopnode.adapters.storage.stall_guard import StallGuard


@pytest.mark.parametrize(
    ("url", "mode", "inline"),
    [
        ("sqlite://", "threads", True),  # SQLite always: a thread hop costs more than the call
        ("postgresql+psycopg://u@127.0.0.1:5432/db", "auto", True),
        ("postgresql+psycopg://u@localhost/db", "auto", True),
        ("postgresql+psycopg://u@[::1]:5432/db", "auto", True),
        ("postgresql+psycopg:///db?host=/var/run/postgresql", "auto", True),
        ("postgresql+psycopg://u@db.internal:5432/db", "auto", False),
        ("postgresql+psycopg://u@10.0.0.7/db", "auto", False),
        ("postgresql+psycopg://u@db.internal/db", "inline", True),
        ("postgresql+psycopg://u@127.0.0.1/db", "threads", False),
    ],
)
def test_calls_run_inline_for_sqlite_and_a_local_postgresql(
    url: str, mode: str, inline: bool
) -> None:
    engine = create_engine(url)
    try:
        assert runs_inline(engine, mode) is inline
    finally:
        engine.dispose()


class _Held:
    """Stands for a driver connection: what the guard needs is its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.closed = False

    def fileno(self) -> int:
        return self._sock.fileno()


def test_a_read_that_holds_the_loop_past_the_deadline_is_broken_off() -> None:
    ours, server = socket.socketpair()  # the server never answers
    guard = StallGuard(deadline_s=0.4, tick_s=0.05)

    async def stuck_call() -> tuple[bytes, float]:
        guard.watch(asyncio.get_running_loop())
        await asyncio.sleep(0.1)  # a beat or two on a healthy loop
        guard.held(_Held(ours))  # what the pool's checkout event records
        started = time.monotonic()
        data = ours.recv(10)  # blocks the loop, as a driver read from a frozen server does
        return data, time.monotonic() - started

    try:
        data, waited = asyncio.run(stuck_call())
    finally:
        guard.close()
        ours.close()
        server.close()
    assert data == b""  # the read ended: the connection was shut down under it
    assert 0.3 < waited < 2.0
    assert guard.broken == 1


def test_a_healthy_loop_keeps_its_connections() -> None:
    ours, server = socket.socketpair()
    guard = StallGuard(deadline_s=0.3, tick_s=0.05)

    async def busy_but_yielding() -> None:
        guard.watch(asyncio.get_running_loop())
        guard.held(_Held(ours))
        for _ in range(12):  # 0.6 s in all, never more than 0.05 s without yielding
            await asyncio.sleep(0.05)

    try:
        asyncio.run(busy_but_yielding())
        server.sendall(b"ok")
        assert ours.recv(2) == b"ok"
    finally:
        guard.close()
        ours.close()
        server.close()
    assert guard.broken == 0


def test_a_finished_loop_is_forgotten() -> None:
    guard = StallGuard(deadline_s=0.2, tick_s=0.05)

    async def short() -> Any:
        guard.watch(asyncio.get_running_loop())

    asyncio.run(short())
    time.sleep(0.3)
    guard.close()
    assert guard.broken == 0
    assert not guard.watching()


def test_a_connection_closed_without_a_checkin_is_forgotten() -> None:
    # sql/driver.DocumentReader closes a dead kept connection without returning it to the pool.
    guard = StallGuard(deadline_s=1.0)
    first, second = socket.socketpair()
    try:
        dropped, kept = _Held(first), _Held(second)
        guard.held(dropped)
        guard.held(kept)
        assert guard.holding() == 2
        dropped.closed = True  # what psycopg's connection says once closed
        guard.held(_Held(second))
        assert guard.holding() == 2  # the kept one and the new one
        guard.returned(kept)
        assert guard.holding() == 1
    finally:
        first.close()
        second.close()
        guard.close()
