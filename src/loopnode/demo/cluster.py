"""Real loopnode processes on loopback, for `loopnode demo` and the federation tests.

Each node gets its own data directory, SQLite database, Ed25519 key, free port and API key;
with `tls=True` a demo CA is created and every node serves HTTPS (TLS 1.3) with a certificate
from it and trusts it (`tls_ca_bundle`). Usage:

    specs = [NodeSpec("munich", 48.14, 11.58), NodeSpec("berlin", 52.52, 13.40)]
    with Federation(tmp_path, specs) as fed:
        munich, berlin = fed["munich"], fed["berlin"]
        fed.peer(munich, berlin)              # munich adds berlin; berlin approves munich
        munich.post("/api/v1/material", json=document)   # with munich's API key
        fed.wait_until(lambda: berlin.get("/api/v1/federation/materials").json()["results"])
        berlin.stop(); berlin.start()         # same port, same database

API: `NodeSpec`, `Node` (`base_url`, `get`, `post`, `cli`, `start`, `stop`, `private_key`),
`Federation` (context manager; `nodes`, `[name]`, `peer`, `wait_until`). `FAST_SETTINGS` are
the delivery timings tests use (short retries, short breaker cooldown).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loopnode.adapters.federation import tls
from loopnode.config import read_settings_file, write_settings_file
from loopnode.protocol import keys

LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
FAST_SETTINGS: dict[str, Any] = {
    "federation_poll_s": 0.1,
    "federation_retry_base_s": 0.2,
    "federation_retry_cap_s": 1.0,
    "federation_breaker_cooldown_s": 0.5,
    "federation_timeout_s": 3.0,
    "federation_search_timeout_s": 2.0,
    "rate_limits": False,  # tests poll and race from one address and key
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}


@dataclass
class NodeSpec:
    """One node: `name` gives the node id (`<name>.loop`); `settings` go into loopnode.toml."""

    name: str
    lat: float
    lon: float
    city: str = ""
    country: str = "DE"
    city_code: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return f"{self.name}.loop"


@dataclass
class Node:
    spec: NodeSpec
    data_dir: Path
    port: int
    ca: Path | None = None
    pinned: Path | None = None
    api_key: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> str:
        return self.spec.node_id

    @property
    def base_url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `loopnode ARGS --data-dir <this node>` (the option is appended)."""
        command = [*LOOPNODE, *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(
            command, capture_output=True, text=True, env=_env(), timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this node (trusting the demo CA, or `pinned` if set)."""
        verify: Any = True
        if self.pinned is not None:
            verify = tls.client_context(pinned_pem=self.pinned.read_text())
        elif self.ca is not None:
            verify = tls.client_context(ca_bundle=str(self.ca))
        return httpx.Client(base_url=self.base_url, verify=verify, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, headers=self._auth(kwargs), **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.post(path, headers=self._auth(kwargs), **kwargs)

    def _auth(self, kwargs: dict[str, Any]) -> dict[str, str]:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.api_key:
            headers.setdefault("Authorization", f"Bearer {self.api_key}")
        return headers

    def private_key(self) -> Any:
        return keys.load_private_key(self.data_dir / "node_ed25519.key")

    def start(self, timeout: float = 30) -> None:
        if self.running:
            return
        log = (self.data_dir / "node.log").open("ab")
        self.process = subprocess.Popen(
            [*LOOPNODE, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.node_id} exited: {self.log_tail()}")
            try:
                if self.get("/api/v1/node/info").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{self.node_id} did not start: {self.log_tail()}")

    def stop(self) -> None:
        self.finish(self.terminate())

    def terminate(self) -> subprocess.Popen[bytes] | None:
        """Ask the node to shut down (SIGTERM) without waiting; `finish` waits for it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return None
        process.terminate()
        return process

    @staticmethod
    def finish(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
        """Wait for a terminated node to exit; kill it after `timeout` seconds."""
        if process is None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / "node.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def init(self, settings: dict[str, Any]) -> None:
        code = (self.spec.city_code or self.spec.name[:3]).upper()
        self.cli(
            "init",
            "--node-id",
            self.node_id,
            "--name",
            f"{self.spec.name.title()} LOOP node",
            "--country",
            self.spec.country,
            "--city-code",
            code,
            "--city",
            self.spec.city or self.spec.name.title(),
            "--lat",
            str(self.spec.lat),
            "--lon",
            str(self.spec.lon),
            "--base-url",
            self.base_url,
        )
        if self.ca is not None:
            self.cli("tls", "issue", "--ca-dir", str(self.ca.parent))
        values = read_settings_file(self.data_dir)
        values.update({**settings, **self.spec.settings})
        write_settings_file(self.data_dir, values)
        created = self.cli("apikey", "create", "tests")
        self.api_key = created.stdout.strip().splitlines()[-1]


class Federation:
    """N nodes under `base_dir`, started on enter and stopped on exit."""

    def __init__(
        self,
        base_dir: Path,
        specs: Sequence[NodeSpec],
        *,
        tls: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.ca: Path | None = self._make_ca() if tls else None
        self.nodes: dict[str, Node] = {}
        chosen = FAST_SETTINGS if settings is None else settings
        for spec in specs:
            node = Node(spec, base_dir / spec.name, free_port(), self.ca)
            node.data_dir.mkdir(parents=True, exist_ok=True)
            node.init(chosen)
            self.nodes[spec.name] = node

    def _make_ca(self) -> Path:
        return tls.create_ca(self.base_dir / "ca").cert

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __enter__(self) -> Federation:
        try:
            for node in self:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every node in parallel: all get SIGTERM first, then each is waited for."""
        stopping = [node.terminate() for node in self]
        for process in stopping:
            Node.finish(process)

    def peer(self, adder: Node, added: Node, *, approve: bool = True) -> None:
        """`adder` runs `peers add <added>`; `added`'s operator approves it (unless told not to)."""
        adder.cli("peers", "add", added.base_url)
        if approve:
            added.cli("peers", "approve", adder.node_id)

    @staticmethod
    def wait_until(
        predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1
    ) -> Any:
        """Poll until `predicate()` is truthy and return its value; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(interval)
