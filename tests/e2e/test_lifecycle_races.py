"""§3.6.1 under real concurrency: a node process with two workers, hammered by 50 clients at once,
on SQLite and on PostgreSQL. Exactly one winner where the invariants allow one, never an
oversold subject, and never a 5xx.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import lifecycle_payloads as p
from tests.conftest import create_postgres_database

pytestmark = pytest.mark.slow

LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
INIT = ["--node-id", "munich.loop", "--name", "Munich LOOP node", "--country", "DE"]
INIT += ["--city-code", "MUC", "--city", "Munich", "--lat", "48.137", "--lon", "11.575"]
ATTEMPTS = 50
FAR = "2099-01-01T00:00:00Z"  # the node runs on the real clock


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    done = subprocess.run(
        [*LOOPNODE, *args], capture_output=True, text=True, check=True, env=env, timeout=120
    )
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Node:
    def __init__(self, base: str, key: str, data_dir: Path) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/ld+json"}
        self.data_dir = data_dir

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.base}/api/v1/{path}", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    def get(self, path: str) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(f"{self.base}/api/v1/{path}").json()
        return document

    def race(self, path: str, bodies: list[dict[str, Any]]) -> Counter[int]:
        async def all_at_once() -> list[int]:
            limits = httpx.Limits(max_connections=ATTEMPTS)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                url = f"{self.base}/api/v1/{path}"
                responses = await asyncio.gather(
                    *(client.post(url, json=body, headers=self.headers) for body in bodies)
                )
            return [r.status_code for r in responses]

        return Counter(asyncio.run(all_at_once()))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp(f"races-{request.param}")
    drop = None
    extra: list[str] = []
    if request.param == "postgres":
        url, drop = create_postgres_database()
        extra = ["--database-url", url]
    run("init", "--data-dir", str(data_dir), *INIT, *extra)
    with (data_dir / "loopnode.toml").open("a") as settings:
        settings.write("rate_limits = false\n")  # the races fire far beyond 100/min
    key = run("apikey", "create", "--data-dir", str(data_dir), "races").strip().splitlines()[-1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    process = subprocess.Popen(
        [*LOOPNODE, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        yield Node(base, key, data_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if drop is not None:
            drop()


def _wait_until_up(base: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{base}/api/v1/node/info", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the node did not start")


def no_server_errors(outcomes: Counter[int]) -> None:
    assert not [status for status in outcomes if status >= 500], outcomes


def test_fifty_matches_on_one_offer_give_exactly_one_201(node: Node) -> None:
    record = "MAT-DE-MUC-2026-PLASTIC-C00001"
    node.post("material", p.material(record))
    offer_id = node.post("offer", p.offer(record, 10, until=FAR))["id"]
    outcomes = node.race("match", [p.match(offer_id, record) for _ in range(ATTEMPTS)])
    no_server_errors(outcomes)
    assert outcomes[201] == 1, outcomes
    assert set(outcomes) <= {201, 400, 409}, outcomes
    matches = node.get(f"match?offer_id={offer_id}")["results"]
    assert len(matches) == 1
    assert node.get(f"offer/{offer_id}")["status"] == "reserved"


def test_fifty_transfers_on_one_accepted_match_give_exactly_one_201(node: Node) -> None:
    record = "MAT-DE-MUC-2026-PLASTIC-C00002"
    node.post("material", p.material(record))
    offer_id = node.post("offer", p.offer(record, 10, until=FAR))["id"]
    match_id = node.post("match", p.match(offer_id, record, status="accepted"))["id"]
    outcomes = node.race("transfer", [p.transfer(match_id, record) for _ in range(ATTEMPTS)])
    no_server_errors(outcomes)
    assert outcomes[201] == 1, outcomes
    assert set(outcomes) <= {201, 409}, outcomes
    assert len(node.get(f"transfer?match_id={match_id}")["results"]) == 1


def test_fifty_ten_kg_offers_on_a_hundred_kg_material_never_oversell(node: Node) -> None:
    record = "MAT-DE-MUC-2026-PLASTIC-C00003"
    node.post("material", p.material(record, 100))
    outcomes = node.race("offer", [p.offer(record, 10, until=FAR) for _ in range(ATTEMPTS)])
    no_server_errors(outcomes)
    assert outcomes == Counter({201: 10, 400: ATTEMPTS - 10}), outcomes
    history = node.get(f"material/{record}/history")
    assert len([o for o in history["offers"] if o["status"] == "open"]) == 10


def test_the_evidence_chain_survives_the_races(node: Node) -> None:
    assert run("evidence", "verify", "--data-dir", str(node.data_dir)).startswith("OK")
