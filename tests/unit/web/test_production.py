"""Production mode: each reason to refuse start-up, and the headers production answers carry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from loopnode.bootstrap import build
from loopnode.config import Settings, load_settings
from loopnode.protocol import keys
from loopnode.web.app import create_app
from loopnode.web.ops_production import is_loopback, production_problems, public_writes

STRONG = "Zq8-vT3kLm0pXw7r"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    keys.save_private_key(keys.generate_private_key(), tmp_path / "node_ed25519.key")
    return load_settings(
        tmp_path,
        node_id="munich.loop",
        base_url="https://loop.munich.example",
        environment="production",
        tls_proxy=True,
    )


@pytest.fixture
def routes(settings: Settings) -> Iterator[list[Any]]:
    container = build(settings)
    yield create_app(container=container).routes
    container.close()


def problems(settings: Settings, routes: list[Any], **changes: Any) -> list[str]:
    host = changes.pop("host", "0.0.0.0")
    https = changes.pop("https", False)
    changed = settings.model_copy(update=changes)
    return production_problems(changed, host=host, https=https, routes=routes)


def test_a_safe_configuration_behind_a_tls_proxy_starts(
    settings: Settings, routes: list[Any]
) -> None:
    assert problems(settings, routes) == []
    assert problems(settings, routes, tls_proxy=False, https=True) == []
    assert problems(settings, routes, tls_proxy=False, host="127.0.0.1") == []


def test_plain_http_on_a_public_address_without_a_declared_proxy_is_refused(
    settings: Settings, routes: list[Any]
) -> None:
    [problem] = problems(settings, routes, tls_proxy=False, host="0.0.0.0")
    assert problem.startswith("plain HTTP on 0.0.0.0")
    assert problems(settings, routes, tls_proxy=False, host="::1") == []
    assert not is_loopback("192.168.1.10") and is_loopback("localhost") and is_loopback("[::1]")


def test_a_non_https_base_url_is_refused(settings: Settings, routes: list[Any]) -> None:
    assert problems(settings, routes, base_url="http://loop.munich.example") == [
        "base_url http://loop.munich.example is not https://"
    ]


def test_a_missing_or_shared_signing_key_is_refused(settings: Settings, routes: list[Any]) -> None:
    settings.private_key_path.chmod(0o644)
    [shared] = problems(settings, routes)
    assert "readable by others" in shared
    settings.private_key_path.unlink()
    [missing] = problems(settings, routes)
    assert missing.startswith("the node signing key") and missing.endswith("is missing")


@pytest.mark.parametrize(
    ("setting", "url", "expected"),
    [
        (
            "database_url",
            "postgresql://loop:postgres@db:5432/loop",
            "the database password is weak",
        ),
        ("database_url", "postgresql://loop:short@db:5432/loop", "the database password is weak"),
        ("redis_url", "redis://:changeme@cache:6379/0", "the Redis password is weak"),
        ("redis_url", "redis://cache.internal:6379/0", "Redis at cache.internal has no password"),
    ],
)
def test_weak_or_missing_service_passwords_are_refused(
    settings: Settings, routes: list[Any], setting: str, url: str, expected: str
) -> None:
    [problem] = problems(settings, routes, **{setting: url})
    assert problem.startswith(expected)


def test_strong_passwords_and_a_local_redis_pass(settings: Settings, routes: list[Any]) -> None:
    assert problems(settings, routes, database_url=f"postgresql://loop:{STRONG}@db/loop") == []
    assert problems(settings, routes, redis_url="redis://127.0.0.1:6379/0") == []


def test_every_write_route_of_the_node_is_guarded(routes: list[Any]) -> None:
    assert public_writes(routes) == []


def test_an_unguarded_write_route_and_a_wildcard_cors_list_are_refused(
    settings: Settings, routes: list[Any]
) -> None:
    extra = FastAPI()

    @extra.post("/api/v1/anything")
    async def anything(_request: Request) -> dict[str, str]:
        return {}

    found = problems(settings, [*routes, *extra.routes], cors_allow_origins=["*"])
    assert found == [
        "POST /api/v1/anything would be writable without credentials",
        "cors_allow_origins contains '*': list the allowed origins",
    ]


def test_production_answers_carry_hsts_even_behind_a_plain_http_proxy_hop(
    settings: Settings,
) -> None:
    container = build(settings)
    with TestClient(create_app(container=container)) as client:
        headers = client.get("/health").headers
    container.close()
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
