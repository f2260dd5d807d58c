"""Shared fixtures: the reference folder, both databases, a node wired to a fake clock.

Storage and API tests take the `database_url` fixture, which runs them once on SQLite and once
on PostgreSQL (a fresh database per test, dropped afterwards). Without a PostgreSQL server the
PostgreSQL half skips, unless LOOPNODE_REQUIRE_POSTGRES=1 or CI=true, where it fails instead.
The LOOP reference material is vendored at reference/loop (`tests/reference.py`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.fakes import CountingHex, FakeClock
from tests.reference import require_reference, unavailable

POSTGRES_ADMIN_URL = os.environ.get(
    "LOOPNODE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return require_reference()


def _psycopg_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _postgres_available() -> str | None:
    try:
        engine = create_engine(_psycopg_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    return None


def need_postgres() -> None:
    problem = _postgres_available()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {problem}"
    unavailable(message, "LOOPNODE_REQUIRE_POSTGRES")


def create_postgres_database() -> tuple[str, Any]:
    """A fresh database; returns its URL and a function that drops it."""
    need_postgres()
    name = f"loopnode_test_{secrets.token_hex(6)}"
    admin = create_engine(_psycopg_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    url, drop = create_postgres_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def node_settings(tmp_path: Path, database_url: str) -> Any:
    from loopnode.config import load_settings

    return load_settings(
        tmp_path,
        node_id="munich.loop",
        name="Munich LOOP node",
        country="DE",
        city_code="MUC",
        city="Munich",
        lat=48.137,
        lon=11.575,
        base_url="https://munich.example",
        database_url=database_url,
        rate_limits=False,  # tests/integration/access/test_ratelimit_api.py turns them on
    )


@pytest.fixture
def container(node_settings: Any, clock: FakeClock) -> Iterator[Any]:
    from loopnode.bootstrap import build

    built = build(node_settings, clock=clock, random_hex=CountingHex())
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def client(container: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from loopnode.web.app import create_app

    with TestClient(create_app(container=container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api_key(container: Any) -> str:
    # 60 days, not the 30-day default: some tests move the fake clock by a month while acting.
    issued = container.api_keys.create("tests", timedelta(days=60))
    secret: str = issued.secret
    return secret


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Content-Type": "application/ld+json"}
