"""Database faults (issue 15): refused and unresponsive PostgreSQL answer 503 quickly.

The node talks to the real PostgreSQL server through a TCP proxy that the test can switch to
"refuse" (nothing listens: connection refused) and "freeze" (connections are accepted and
bytes swallowed: a server that never answers). SQLite has no connection to lose; its locks are
bounded by the busy timeout. Both ways of running calls are covered: inline on the event loop
(a local server; the stall guard breaks a frozen call) and in the threadpool (a remote one;
the thread is abandoned).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_postgres_database

pytestmark = pytest.mark.postgres

UNKNOWN = "MAT-DE-MUC-2026-PLA-000001"


class Proxy:
    """A loopback TCP proxy with three modes: forward, freeze, refuse."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listen()

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(client)
            if self.mode == "freeze":
                continue  # accepted, never answered
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.mode == "freeze":
                    time.sleep(0.05)  # hold the bytes: the "server" has stopped answering
                sink.sendall(data)
        except OSError:
            pass

    def _drop_connections(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def refuse(self) -> None:
        self.mode = "refuse"
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves it listening
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self._drop_connections()

    def freeze(self) -> None:
        self.mode = "freeze"

    def restore(self) -> None:
        if self.mode == "refuse":
            self.listen()
        self.mode = "forward"

    def close(self) -> None:
        self.refuse()


@pytest.fixture(params=["inline", "threads"])
def proxied(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Proxy, Any]]:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.config import load_settings
    from loopnode.web.app import create_app
    from tests.conftest import POSTGRES_ADMIN_URL

    url, drop = create_postgres_database()
    host_port = POSTGRES_ADMIN_URL.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    proxy = Proxy((host, int(port or 5432)))
    database = url.split("@", 1)[0] + f"@127.0.0.1:{proxy.port}/" + url.rsplit("/", 1)[1]
    settings = load_settings(
        tmp_path,
        node_id="munich.loop",
        base_url="https://munich.example",
        database_url=database,
        database_connect_timeout_s=1,
        database_statement_timeout_s=2,
        database_pool_timeout_s=1,
        request_deadline_s=3,
        database_call_mode=request.param,
        federation_worker=False,
    )
    container = build(settings)
    assert container.inline_calls is (request.param == "inline")
    try:
        with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
            client.container = container  # type: ignore[attr-defined]
            yield proxy, client
    finally:
        proxy.restore()
        container.close()
        proxy.close()
        drop()


def test_refused_database_answers_503_with_retry_after(proxied: tuple[Proxy, Any]) -> None:
    proxy, client = proxied
    assert client.get("/api/v1/material").status_code == 200
    assert client.get(f"/api/v1/material/{UNKNOWN}").status_code == 404  # a read connection kept
    proxy.refuse()
    started = time.monotonic()
    response = client.get("/api/v1/material")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert time.monotonic() - started < 5
    # The read by id goes to the driver without SQLAlchemy's Connection (sql/driver.py): its
    # fault is answered the same way.
    by_id = client.get(f"/api/v1/material/{UNKNOWN}")
    assert by_id.status_code == 503, by_id.text
    assert by_id.headers["Retry-After"] == "5"
    proxy.restore()
    assert client.get("/api/v1/material").status_code == 200
    assert client.get(f"/api/v1/material/{UNKNOWN}").status_code == 404


def test_unresponsive_database_answers_503_within_the_deadline(
    proxied: tuple[Proxy, Any],
) -> None:
    proxy, client = proxied
    assert client.get("/api/v1/material").status_code == 200
    assert client.get(f"/api/v1/material/{UNKNOWN}").status_code == 404  # a read connection kept
    proxy.freeze()
    # The read by id's own connection hangs (sql/driver.DocumentReader keeps one per event
    # loop), then the pooled one, then a new one cannot be made.
    for path in (f"/api/v1/material/{UNKNOWN}", "/api/v1/material", "/api/v1/material"):
        started = time.monotonic()
        response = client.get(path)
        assert response.status_code == 503, response.text
        assert "Retry-After" in response.headers
        assert time.monotonic() - started < 6
    guard = client.container.stall_guard
    if guard is not None:  # inline: the loop was held until the guard broke the connection
        assert guard.broken >= 1
    proxy.restore()
    deadline = time.monotonic() + 15
    while client.get("/api/v1/material").status_code != 200:
        assert time.monotonic() < deadline, "the node did not recover after the database did"
        time.sleep(0.5)


def test_wrong_database_url_at_start_prints_one_line(tmp_path: Path) -> None:
    loopnode = Path(sys.executable).with_name("loopnode")
    init = [str(loopnode), "init", "--data-dir", str(tmp_path), "--node-id", "munich.loop"]
    init += ["--name", "M", "--country", "DE", "--city-code", "MUC", "--city", "Munich"]
    init += [
        "--lat",
        "48.1",
        "--lon",
        "11.5",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/x",
    ]
    result = subprocess.run(init, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[:2000]
    assert "database" in lines[0]
    assert "Traceback" not in result.stderr
