"""The CLI contract end to end: init, seed, apikey, serve (a real process), evidence verify."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
INIT = [
    "--node-id",
    "munich.loop",
    "--name",
    "Munich LOOP node",
    "--country",
    "DE",
    "--city-code",
    "MUC",
    "--city",
    "Munich",
    "--lat",
    "48.137",
    "--lon",
    "11.575",
    "--base-url",
    "https://munich.example",
]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    return subprocess.run(
        [*LOOPNODE, *args], capture_output=True, text=True, check=check, env=env, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    run("init", "--data-dir", str(tmp_path), *INIT)
    with (tmp_path / "loopnode.toml").open("a") as settings:
        settings.write("rate_limits = false\n")  # readiness polling exceeds 100/min
    return tmp_path


def test_init_writes_settings_and_a_private_key_only_the_owner_can_read(node_dir: Path) -> None:
    assert (node_dir / "loopnode.toml").exists()
    mode = stat.S_IMODE((node_dir / "node_ed25519.key").stat().st_mode)
    assert mode == 0o600
    again = run("init", "--data-dir", str(node_dir), *INIT, check=False)
    assert again.returncode != 0


def test_apikey_prints_the_key_last_and_stores_only_its_hash(node_dir: Path) -> None:
    result = run("apikey", "create", "--data-dir", str(node_dir), "ops", "--ttl", "30d")
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("lnk_")
    with sqlite3.connect(node_dir / "loopnode.db") as db:
        stored = [row[0] for row in db.execute("SELECT secret_hash FROM api_keys")]
    assert key not in stored and len(stored) == 1
    too_long = run(
        "apikey", "create", "--data-dir", str(node_dir), "ops", "--ttl", "400d", check=False
    )
    assert too_long.returncode != 0


@pytest.fixture
def served(node_dir: Path) -> Iterator[tuple[str, str]]:
    run("seed", "--data-dir", str(node_dir), "--count", "20", "--seed", "7")
    key = (
        run("apikey", "create", "--data-dir", str(node_dir), "tests")
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    process = subprocess.Popen(
        [*LOOPNODE, "serve", "--data-dir", str(node_dir), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/node/info", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the node did not start")
        yield base, key
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_served_node_registers_and_reads_over_http(
    served: tuple[str, str], node_dir: Path
) -> None:
    base, key = served
    info = httpx.get(f"{base}/api/v1/node/info").json()
    assert info["statistics"]["materials_active"] >= 20
    document = {
        "@context": "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld",
        "@type": "MaterialDNA",
        "schema_version": "0.2.0",
        "category": "organic-food",
        "quantity": {"value": 500, "unit": "kg"},
        "origin_city": "Munich",
        "current_city": "Munich",
        "available_from": "2026-06-01T08:00:00Z",
    }
    created = httpx.post(
        f"{base}/api/v1/material", json=document, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201
    read = httpx.get(f"{base}/api/v1/material/{created.json()['id']}")
    assert read.status_code == 200
    verify = run("evidence", "verify", "--data-dir", str(node_dir))
    assert verify.stdout.startswith("OK")


def test_evidence_verify_names_the_first_tampered_entry(node_dir: Path) -> None:
    run("seed", "--data-dir", str(node_dir), "--count", "5", "--seed", "1")
    assert run("evidence", "verify", "--data-dir", str(node_dir)).returncode == 0
    with sqlite3.connect(node_dir / "loopnode.db") as db:
        # An attacker with write access to the file drops the guard first.
        db.execute("DROP TRIGGER evidence_no_update")
        db.execute(
            "UPDATE evidence SET subject_id = 'MAT-DE-MUC-2026-PLASTIC-FORGED' WHERE sequence = 4"
        )
    result = run("evidence", "verify", "--data-dir", str(node_dir), check=False)
    assert result.returncode == 1
    assert "sequence 4" in result.stdout
