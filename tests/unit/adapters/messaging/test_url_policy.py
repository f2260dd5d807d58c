"""The URL policy: an endpoint never chooses the path; outside development only public https."""

from __future__ import annotations

import asyncio

import pytest

from loopnode.adapters.messaging.url_policy import (
    Resolver,
    api_url,
    check_url,
    check_url_resolved,
)
from loopnode.services.messaging.ports import TransportError


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://berlin.example/api/v1", "https://berlin.example/api/v1/federate/announce"),
        ("https://berlin.example/api/v1/", "https://berlin.example/api/v1/federate/announce"),
        (
            "https://b.example:8443/loop/api/v1",
            "https://b.example:8443/loop/api/v1/federate/announce",
        ),
    ],
)
def test_the_request_path_is_appended_to_a_plain_api_base(endpoint: str, expected: str) -> None:
    assert api_url(endpoint, "/federate/announce") == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://victim.example/admin?",  # a trailing `?` would turn our path into a query
        "https://victim.example/api/v1?",
        "https://victim.example/api/v1?x=/",
        "https://victim.example/api/v1#",
        "https://victim.example/other/path",  # a path that is not an API base
        "https://victim.example/",
        "https://victim.example",
        "https://user:pw@victim.example/api/v1",
        "https://victim.example/x/../api/v1",
        "https://victim.example/x%2F..%2Fapi/v1",
        "https://victim.example\\@evil/api/v1",
        "ftp://victim.example/api/v1",
    ],
)
def test_an_endpoint_that_would_choose_the_path_is_refused(endpoint: str) -> None:
    with pytest.raises(TransportError) as caught:
        api_url(endpoint, "/federate/announce")
    assert caught.value.reason in {"insecure", "error"}


@pytest.mark.parametrize(
    "url",
    [
        "http://berlin.example/api/v1/x",  # not https
        "https://127.0.0.1/api/v1/x",
        "https://[::1]/api/v1/x",
        "https://localhost/api/v1/x",
        "https://10.1.2.3/api/v1/x",
        "https://172.16.0.9/api/v1/x",
        "https://192.168.1.1/api/v1/x",
        "https://169.254.169.254/api/v1/x",  # link-local (cloud metadata)
        "https://[fe80::1]/api/v1/x",
        "https://[fd00::1]/api/v1/x",
        "https://100.64.0.1/api/v1/x",  # shared address space
        "https://0.0.0.0/api/v1/x",
        "https://[::ffff:127.0.0.1]/api/v1/x",
    ],
)
def test_outside_development_only_public_https_hosts_are_called(url: str) -> None:
    with pytest.raises(TransportError) as caught:
        check_url(url, development=False)
    assert caught.value.reason == "insecure"
    check_url(url, development=True)  # development nodes run on loopback


def test_a_public_https_address_passes() -> None:
    check_url("https://8.8.8.8/api/v1/x", development=False)
    check_url("https://[2001:4860:4860::8888]/api/v1/x", development=False)


def _resolver(addresses: list[str]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("peer.example", 443)
        return addresses

    return resolve


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "fd00::7"])
def test_a_name_that_resolves_to_a_non_public_address_is_refused(address: str) -> None:
    url = "https://peer.example/api/v1/x"
    resolve = _resolver(["93.184.216.34", address])
    with pytest.raises(TransportError) as caught:
        asyncio.run(check_url_resolved(url, development=False, resolve=resolve))
    assert caught.value.reason == "insecure"
    asyncio.run(check_url_resolved(url, development=True, resolve=resolve))


def test_a_name_that_resolves_to_public_addresses_passes() -> None:
    resolve = _resolver(["93.184.216.34", "2606:2800:220:1::"])
    asyncio.run(
        check_url_resolved("https://peer.example/api/v1/x", development=False, resolve=resolve)
    )


def test_localhost_with_a_trailing_dot_is_loopback_too() -> None:
    with pytest.raises(TransportError):
        check_url("https://localhost./api/v1/x", development=False)
