"""Operator commands as an operator runs them: the production gate, backups, evidence export."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from loopnode.config import read_settings_file, write_settings_file
from tests import official
from tests.conftest import create_postgres_database
from tests.e2e.nodes import free_port

LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
INIT = ["--node-id", "munich.loop", "--name", "Munich LOOP node", "--country", "DE"]
INIT += ["--city-code", "MUC", "--city", "Munich", "--lat", "48.137", "--lon", "11.575"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOOPNODE, *args], capture_output=True, text=True, check=check, env=ENV, timeout=120
    )


def init(data_dir: Path, *extra: str, seed: int = 5) -> Path:
    run("init", "--data-dir", str(data_dir), *INIT, *extra)
    run("seed", "--data-dir", str(data_dir), "--count", str(seed), "--seed", "1")
    return data_dir


def settle(data_dir: Path, **values: object) -> None:
    current = read_settings_file(data_dir)
    current.update(values)
    write_settings_file(data_dir, current)


def refusal(data_dir: Path, *args: str) -> str:
    done = run("serve", "--data-dir", str(data_dir), "--port", "1", *args, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("refusing to start")]
    return line


def test_production_refuses_plain_http_on_a_public_address_weak_secrets_and_wildcard_cors(
    tmp_path: Path,
) -> None:
    node = init(tmp_path / "n", "--base-url", "https://loop.munich.example")
    line = refusal(node, "--production", "--host", "0.0.0.0")
    assert line.startswith("refusing to start in production: plain HTTP on 0.0.0.0")
    settle(node, tls_proxy=True, cors_allow_origins=["*"], redis_url="redis://:redis@cache:6379/0")
    (node / "node_ed25519.key").chmod(0o640)
    line = refusal(node, "--production", "--host", "0.0.0.0")
    assert "plain HTTP" not in line
    assert "node_ed25519.key is readable by others" in line
    assert "the Redis password is weak" in line
    assert "cors_allow_origins contains '*'" in line


def test_the_environment_setting_turns_production_mode_on_without_the_flag(tmp_path: Path) -> None:
    node = init(tmp_path / "n")  # base URL https://localhost:8000
    settle(node, environment="production", base_url="http://loop.munich.example")
    line = refusal(node, "--host", "10.0.0.5")
    assert "plain HTTP on 10.0.0.5" in line and "is not https://" in line


def test_a_safe_production_node_behind_a_proxy_starts_and_sends_hsts(tmp_path: Path) -> None:
    node = init(tmp_path / "n", "--base-url", "https://loop.munich.example")
    settle(node, tls_proxy=True)
    port = free_port()
    argv = [*LOOPNODE, "serve", "--data-dir", str(node), "--port", str(port), "--production"]
    argv += ["--host", "0.0.0.0"]
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        ready = httpx.get(f"http://127.0.0.1:{port}/ready").json()
        assert ready["status"] == "ready"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_sqlite_backup_is_a_consistent_copy_that_restores_into_a_working_node(
    tmp_path: Path,
) -> None:
    node = init(tmp_path / "n")
    backup = tmp_path / "munich.db"
    done = run("backup", "--data-dir", str(node), "--to", str(backup))
    assert "backed up" in done.stdout
    with sqlite3.connect(node / "loopnode.db") as live, sqlite3.connect(backup) as copy:
        query = "SELECT id, record_hash FROM dna_records ORDER BY id"
        assert copy.execute(query).fetchall() == live.execute(query).fetchall()
    assert run("backup", "--data-dir", str(node), "--to", str(backup), check=False).returncode == 1
    restored = tmp_path / "restored"
    restored.mkdir()
    for name in ("loopnode.toml", "node_ed25519.key"):
        shutil.copy2(node / name, restored / name)
    shutil.copy2(backup, restored / "loopnode.db")
    assert "chain intact" in run("evidence", "verify", "--data-dir", str(restored)).stdout


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_a_postgresql_backup_restores_with_pg_restore(tmp_path: Path) -> None:
    url, drop = create_postgres_database()
    target_url, drop_target = create_postgres_database()
    try:
        node = init(tmp_path / "n", "--database-url", url)
        backup = tmp_path / "munich.dump"
        assert "pg_restore" in run("backup", "--data-dir", str(node), "--to", str(backup)).stdout
        subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", target_url, str(backup)],
            check=True,
            capture_output=True,
        )
        settle(node, database_url=target_url)
        verified = run("evidence", "verify", "--data-dir", str(node)).stdout
        assert "chain intact" in verified
        before = run("evidence", "export", "--data-dir", str(node)).stdout
        settle(node, database_url=url)
        assert run("evidence", "export", "--data-dir", str(node)).stdout == before
    finally:
        drop()
        drop_target()


def test_evidence_export_prints_json_lines_from_a_cursor_in_both_formats(
    tmp_path: Path, reference_dir: Path
) -> None:
    node = init(tmp_path / "n", seed=20)
    lines = run("evidence", "export", "--data-dir", str(node)).stdout.splitlines()
    entries = [orjson.loads(line) for line in lines]
    assert [e["sequence"] for e in entries] == list(range(1, len(entries) + 1))
    assert len(entries) > 20
    for previous, entry in itertools.pairwise(entries):
        assert entry["predecessor_hash_sha256"] == previous["entry_hash_sha256"]
    tail = run("evidence", "export", "--data-dir", str(node), "--after", "10").stdout
    assert tail.splitlines() == lines[10:]
    core = run("evidence", "export", "--data-dir", str(node), "--format", "core-dp").stdout
    exported = [orjson.loads(line) for line in core.splitlines()]
    assert exported
    for entry in exported:
        assert official.errors(reference_dir, "evidence-entry.schema.json", entry) == []
