"""§10.4 across processes: a real node with two workers shares its search quota through Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopnode.config import read_settings_file, write_settings_file
from tests.e2e.nodes import free_port
from tests.redis_support import redis_prefix

__all__ = ["redis_prefix"]
pytestmark = pytest.mark.slow

LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
INIT = ["--node-id", "munich.loop", "--name", "Munich LOOP node", "--country", "DE"]
INIT += ["--city-code", "MUC", "--city", "Munich", "--lat", "48.137", "--lon", "11.575"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}


def run(*args: str) -> str:
    done = subprocess.run(
        [*LOOPNODE, *args], capture_output=True, text=True, check=True, env=ENV, timeout=120
    )
    return done.stdout


@pytest.fixture
def node(tmp_path: Path, redis_prefix: tuple[str, str]) -> Iterator[tuple[str, str]]:
    redis_url, prefix = redis_prefix
    run("init", "--data-dir", str(tmp_path), *INIT)
    values = read_settings_file(tmp_path)
    values.update(redis_url=redis_url, rate_limit_key_prefix=prefix, rate_limit_search="10/minute")
    write_settings_file(tmp_path, values)
    key = run("apikey", "create", "--data-dir", str(tmp_path), "burst").strip().splitlines()[-1]
    port = free_port()
    argv = [*LOOPNODE, "serve", "--data-dir", str(tmp_path), "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.2)
        yield base, key
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_burst_of_30_searches_over_two_workers_gets_exactly_10_answers(
    node: tuple[str, str],
) -> None:
    base, key = node
    headers = {"Authorization": f"Bearer {key}"}

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=30, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post("/api/v1/material/search", json={}, headers=headers)
                        for _ in range(30)
                    )
                )
            )

    responses = asyncio.run(burst())
    statuses = Counter(response.status_code for response in responses)
    assert statuses == Counter({200: 10, 429: 20}), statuses
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The quota belongs to the key: the client address without it still has its own.
    again = httpx.post(f"{base}/api/v1/material/search", json={}, headers=headers)
    assert again.status_code == 429
    anonymous = httpx.post(f"{base}/api/v1/material/search", json={})
    assert anonymous.status_code == 200
