"""Whom a request is charged to: credentials as presented, client addresses (IPv6 by /64)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.adapters.ratelimit_limits import counter_store
from loopnode.domain.errors import RateLimited
from loopnode.services.access.ratelimit import Quotas, RateLimitService, credential_identity
from loopnode.web.ratelimit import client_identity, presented_credential


def scope(client: str | None = None, **headers: str) -> dict[str, object]:
    return {
        "client": (client, 1234) if client else None,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_ipv4_clients_are_counted_per_address_and_ipv6_clients_per_64_network() -> None:
    assert client_identity(scope("203.0.113.7")) == "203.0.113.7"
    first = client_identity(scope("2001:db8:1:2::1"))
    assert first == client_identity(scope("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert first != client_identity(scope("2001:db8:1:3::1"))
    assert client_identity(scope(None)) == "unknown"


def test_the_credential_is_read_from_bearer_or_x_api_key_and_nothing_else() -> None:
    assert presented_credential(scope(authorization="Bearer abc")) == "abc"
    assert presented_credential(scope(authorization="bearer  abc ")) == "abc"
    assert presented_credential(scope(authorization="Basic abc")) is None
    assert presented_credential(scope(authorization="Bearer ")) is None
    assert presented_credential(scope(x_api_key="k1")) == "k1"
    assert presented_credential(scope()) is None


@given(st.text(min_size=1, max_size=80))
def test_credential_identities_never_contain_the_secret(secret: str) -> None:
    identity = credential_identity(secret)
    assert len(identity) == 32 and (secret not in identity or len(secret) < 4)


def test_the_memory_store_refuses_over_quota_with_a_retry_after_within_the_window() -> None:
    service = RateLimitService(counter_store("", "t"), Quotas(anonymous="3/minute"))

    async def run() -> list[int | None]:
        outcomes: list[int | None] = []
        for _ in range(5):
            try:
                await service.charge("anonymous", "198.51.100.1")
                outcomes.append(None)
            except RateLimited as exc:
                outcomes.append(exc.details["retry_after_s"])
        await service.charge("anonymous", "198.51.100.2")
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes[:3] == [None, None, None]
    assert all(isinstance(wait, int) and 1 <= wait <= 60 for wait in outcomes[3:])


@pytest.mark.parametrize("limit", ["0/minute", "100", "ten/minute", "5/fortnight"])
def test_malformed_quotas_are_refused_by_the_settings(limit: str) -> None:
    from pydantic import ValidationError

    from loopnode.config import Settings

    with pytest.raises(ValidationError):
        Settings(rate_limit_search=limit)
