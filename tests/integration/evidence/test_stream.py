"""`GET /api/v1/stream`: server-sent events from the evidence log, on SQLite and PostgreSQL.

Streams never end on their own, so these tests serve the app with a real uvicorn server (in a
thread, on a free port) and read the events with httpx as a client would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from loopnode.bootstrap import build
from loopnode.web.app import create_app
from tests import lifecycle_payloads as p
from tests.fakes import CountingHex

MAT = p.MATERIAL_ID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, container: Any) -> None:
        container.events.heartbeat = 0.3
        container.events.interval = 0.05
        self.container = container
        port = free_port()
        config = uvicorn.Config(
            create_app(container=container), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.events.shutdown()  # what SIGTERM does in a served node
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture
def served(container: Any) -> Iterator[Served]:
    with Served(container) as server:
        yield server


class Events:
    """Reads a text/event-stream into (id, event, data) triples and comment lines."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()
        self.comments: list[str] = []

    def next(self) -> tuple[int, str, dict[str, Any]]:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line == "" and "data" in fields:
                return int(fields["id"]), fields["event"], json.loads(fields["data"])
            elif ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
        raise AssertionError("the stream ended")

    def take(self, count: int) -> list[tuple[int, str, dict[str, Any]]]:
        return [self.next() for _ in range(count)]


def writer(container: Any) -> tuple[Any, dict[str, str]]:
    key = container.api_keys.create("stream-tests").secret
    return container, {"Authorization": f"Bearer {key}"}


def register(base: str, headers: dict[str, str], record_id: str = MAT) -> None:
    response = httpx.post(f"{base}/api/v1/material", json=p.material(record_id), headers=headers)
    assert response.status_code == 201


def test_changes_arrive_as_named_events_with_the_evidence_sequence(served: Served) -> None:
    _, headers = writer(served.container)
    with httpx.stream("GET", f"{served.base}/api/v1/stream", timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response)
        register(served.base, headers)
        offer = httpx.post(f"{served.base}/api/v1/offer", json=p.offer(), headers=headers)
        assert offer.status_code == 201
        received = events.take(2)
    assert [(name, data["subject"]["id"]) for _, name, data in received] == [
        ("material.registered", MAT),
        ("offer.published", offer.json()["id"]),
    ]
    sequences = [sequence for sequence, _, _ in received]
    assert sequences == [data["sequence"] for _, _, data in received]
    assert sequences[1] == sequences[0] + 1
    assert set(received[0][2]) >= {"event_id", "entry_hash_sha256", "recorded_at", "actor"}


def test_a_client_resuming_with_last_event_id_misses_nothing(served: Served) -> None:
    _, headers = writer(served.container)
    register(served.base, headers)
    for value in (1, 2, 3):
        httpx.post(f"{served.base}/api/v1/offer", json=p.offer(MAT, value), headers=headers)
    entries = httpx.get(f"{served.base}/api/v1/evidence").json()["entries"]
    resume = {"Last-Event-ID": str(entries[1]["sequence"])}
    with httpx.stream("GET", f"{served.base}/api/v1/stream", headers=resume, timeout=10) as r:
        events = Events(r)
        replayed = events.take(2)
        httpx.post(f"{served.base}/api/v1/offer", json=p.offer(MAT, 4), headers=headers)
        live = events.next()
    assert [s for s, _, _ in replayed] == [entries[2]["sequence"], entries[3]["sequence"]]
    assert live[0] == entries[3]["sequence"] + 1
    assert live[1] == "offer.published"


def test_idle_streams_get_heartbeat_comments(served: Served) -> None:
    _, headers = writer(served.container)
    with httpx.stream("GET", f"{served.base}/api/v1/stream", timeout=10) as response:
        events = Events(response)
        time.sleep(0.8)
        register(served.base, headers)
        events.next()
    assert ": heartbeat" in events.comments


def test_every_process_sees_changes_made_by_another(served: Served, node_settings: Any) -> None:
    # A second container on the same database plays the part of another worker process.
    other = build(node_settings, random_hex=CountingHex(), migrate=False)
    try:
        with httpx.stream("GET", f"{served.base}/api/v1/stream", timeout=10) as response:
            events = Events(response)
            other.registry.register("material", p.material(), "apikey:other-worker")
            _, name, data = events.next()
    finally:
        other.close()
    assert (name, data["actor"]) == ("material.registered", "apikey:other-worker")


def test_a_malformed_last_event_id_is_400(served: Served) -> None:
    response = httpx.get(f"{served.base}/api/v1/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_a_disconnected_client_leaves_no_subscription(served: Served) -> None:
    hub = served.container.events
    with httpx.stream("GET", f"{served.base}/api/v1/stream", timeout=10) as response:
        lines = response.iter_lines()  # keep it: a dropped iterator closes the response
        next(lines)
        assert len(hub._subscribers) == 1
    deadline = time.monotonic() + 5
    while hub._subscribers:
        assert time.monotonic() < deadline, "the subscription outlived its client"
        time.sleep(0.05)


def test_shutdown_ends_open_streams_cleanly(container: Any) -> None:
    server = Served(container).__enter__()
    ended = threading.Event()

    def read() -> None:
        with httpx.stream("GET", f"{server.base}/api/v1/stream", timeout=10) as response:
            for _ in response.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Shut down only once the stream is open: a fixed pause lost that race on a slow host (the
    # client then found the server gone, which is not what this test is about).
    deadline = time.monotonic() + 10
    while not container.events._subscribers:
        assert time.monotonic() < deadline, "the stream did not open"
        time.sleep(0.02)
    server.__exit__(None, None, None)
    assert ended.wait(5), "the stream did not end"


LOOPNODE = [sys.executable, "-m", "loopnode.cli"]


@pytest.mark.slow
def test_a_served_node_ends_its_streams_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    init = [*LOOPNODE, "init", "--data-dir", str(tmp_path), "--node-id", "munich.loop"]
    init += ["--name", "Munich", "--country", "DE", "--city-code", "MUC", "--city", "Munich"]
    subprocess.run([*init, "--lat", "48.1", "--lon", "11.5"], check=True, env=env, timeout=120)
    port = free_port()
    process = subprocess.Popen(
        [*LOOPNODE, "serve", "--data-dir", str(tmp_path), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/node/info", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.stream("GET", f"{base}/api/v1/stream", timeout=30) as response:
            lines = response.iter_lines()
            next(lines)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            for _ in lines:
                pass
        assert time.monotonic() - started < 10
        assert process.wait(timeout=20) is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
