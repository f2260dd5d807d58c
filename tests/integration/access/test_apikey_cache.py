"""The API key check without a transaction of its own (issue 12): a checked key is kept in
memory for `api_key_cache_s` seconds. A key revoked by another process (the CLI, another
worker) is refused within that delay; revoked by this process, at once; expiry is checked on
every request; a new key works at once. Both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from loopnode.domain.errors import Unauthorized
from loopnode.services.access.apikeys import ApiKeyService
from tests import lifecycle_payloads as p


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _service(container: Any, monotonic: Monotonic, cache_s: float = 5.0) -> ApiKeyService:
    return ApiKeyService(
        container.uow,
        container.clock,
        default_ttl_days=30,
        max_ttl_days=365,
        cache_s=cache_s,
        monotonic=monotonic,
    )


def _reads(container: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the key lookups that reach the database."""
    from loopnode.adapters.storage.sql.access import SqlApiKeyStore

    seen: list[str] = []
    real = SqlApiKeyStore.by_secret_hash

    def counted(self: Any, digest: str) -> Any:
        seen.append(digest)
        return real(self, digest)

    monkeypatch.setattr(SqlApiKeyStore, "by_secret_hash", counted)
    return seen


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_delay(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monotonic = Monotonic()
    node = _service(container, monotonic)
    other_process = _service(container, Monotonic())
    issued = node.create("ops")
    reads = _reads(container, monkeypatch)
    assert node.authenticate(issued.secret).name == "apikey:ops"
    assert node.authenticate(issued.secret).name == "apikey:ops"
    assert len(reads) == 1  # the second check cost no transaction

    assert other_process.revoke(issued.key_id)
    monotonic.now += 4.9  # within the documented delay the cached key still passes
    assert node.authenticate(issued.secret).name == "apikey:ops"
    monotonic.now += 0.2  # past it: read again, refused
    with pytest.raises(Unauthorized, match="revoked"):
        node.authenticate(issued.secret)


def test_a_key_revoked_by_this_process_is_refused_at_once(container: Any) -> None:
    node = _service(container, Monotonic())
    issued = node.create("ops")
    node.authenticate(issued.secret)
    assert node.revoke(issued.key_id)
    with pytest.raises(Unauthorized, match="revoked"):
        node.authenticate(issued.secret)


def test_expiry_is_checked_on_every_request_even_when_cached(container: Any, clock: Any) -> None:
    node = _service(container, Monotonic())
    issued = node.create("ops", timedelta(days=1))
    node.authenticate(issued.secret)
    clock.advance(days=1, seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        node.authenticate(issued.secret)


def test_unknown_keys_are_not_cached_and_a_zero_delay_reads_every_time(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _service(container, Monotonic(), cache_s=0)
    issued = node.create("ops")
    reads = _reads(container, monkeypatch)
    for _ in range(3):
        node.authenticate(issued.secret)
    assert len(reads) == 3
    with pytest.raises(Unauthorized):
        node.authenticate("lnk_000000000000_nosuchkey")
    with pytest.raises(Unauthorized):
        node.authenticate("lnk_000000000000_nosuchkey")
    assert len(reads) == 5


def test_over_http_the_node_refuses_a_key_revoked_by_the_cli_within_the_delay(
    container: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monotonic = Monotonic()
    monkeypatch.setattr(container.api_keys, "_monotonic", monotonic)
    assert container.settings.api_key_cache_s == 5.0  # the documented default
    issued = container.api_keys.create("writer", timedelta(days=60))
    auth = {"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/ld+json"}
    first = client.post(
        "/api/v1/material", json=p.material("MAT-DE-MUC-2026-PLASTIC-K00001"), headers=auth
    )
    assert first.status_code == 201

    cli = _service(container, Monotonic())  # `loopnode apikey revoke` is another process
    assert cli.revoke(issued.key_id)
    monotonic.now += 5.0
    refused = client.post(
        "/api/v1/material", json=p.material("MAT-DE-MUC-2026-PLASTIC-K00002"), headers=auth
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UNAUTHORIZED"
