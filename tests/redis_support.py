"""The machine's Redis for rate-limit tests: a URL, a unique key prefix per test, cleanup."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("LOOPNODE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """(redis_url, a key prefix no other test uses); the prefix's keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("LOOPNODE_TEST_REDIS_URL"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    prefix = f"loopnode-test-{secrets.token_hex(6)}"
    try:
        yield REDIS_URL, prefix
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
