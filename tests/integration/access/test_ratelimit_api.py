"""§10.4 rate limits over HTTP, on SQLite and PostgreSQL, in memory and through Redis.

Each test builds a node with small quotas so the limit is reached in a few requests; the 429
answers are checked against the §8.3 error body the official openapi document defines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from jsonschema import Draft7Validator

from loopnode.bootstrap import build
from loopnode.config import load_settings
from loopnode.protocol import keys
from tests.fakes import CountingHex, FakeClock
from tests.integration.federation.test_federation_api import BERLIN, REMOTE_MAT, add_peer
from tests.redis_support import redis_prefix
from tests.unit.services.federation.fakes import post_signed

__all__ = ["redis_prefix"]
SEARCH = "/api/v1/material/search"


def make_node(tmp_path: Path, database_url: str, clock: FakeClock, **limits: Any) -> Any:
    keys.save_private_key(
        Ed25519PrivateKey.from_private_bytes(b"\x01" * 32), tmp_path / "node_ed25519.key"
    )
    settings = load_settings(
        tmp_path,
        node_id="munich.loop",
        base_url="https://munich.example",
        database_url=database_url,
        federation_worker=False,
        rate_limits=True,
        **limits,
    )
    return build(settings, clock=clock, random_hex=CountingHex())


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Any]:
    built = make_node(
        tmp_path,
        database_url,
        clock,
        rate_limit_user="4/minute",
        rate_limit_anonymous="3/minute",
        rate_limit_search="2/minute",
        rate_limit_node="2/minute",
    )
    yield built
    built.close()


@pytest.fixture
def api(node: Any) -> Iterator[TestClient]:
    from loopnode.web.app import create_app

    with TestClient(create_app(container=node), raise_server_exceptions=False) as client:
        yield client


def assert_refused(response: Any, scope: str, reference_dir: Path | None = None) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["details"]["scope"] == scope
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    if reference_dir is not None:
        document = json.loads((reference_dir / "openapi.json").read_text())
        schema = document["components"]["schemas"]["ErrorResponse"]
        assert list(Draft7Validator(schema).iter_errors(body)) == []
        assert set(body["error"]) == {"code", "message", "details"}


def test_anonymous_clients_are_limited_by_address_with_a_spec_error_and_retry_after(
    api: TestClient, reference_dir: Path
) -> None:
    answers = [api.get("/api/v1/material").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert_refused(api.get("/api/v1/material"), "anonymous", reference_dir)
    other_address = TestClient(api.app, client=("203.0.113.9", 5000))
    assert other_address.get("/api/v1/material").status_code == 200


def test_a_valid_api_key_has_its_own_quota_and_invented_keys_buy_none(
    api: TestClient, node: Any
) -> None:
    secret = node.api_keys.create("quota").secret
    for _ in range(3):
        assert api.get("/api/v1/material").status_code == 200
    assert_refused(api.get("/api/v1/material"), "anonymous")
    forged = {"Authorization": "Bearer lk_not-a-real-key"}
    assert_refused(api.get("/api/v1/material", headers=forged), "anonymous")
    mine = {"Authorization": f"Bearer {secret}"}
    assert [api.get("/api/v1/material", headers=mine).status_code for _ in range(4)] == [200] * 4
    assert_refused(api.get("/api/v1/material", headers=mine), "user")
    assert_refused(api.get("/api/v1/material", headers={"X-API-Key": secret}), "user")


def test_searches_have_their_own_smaller_quota(api: TestClient, node: Any) -> None:
    headers = {"X-API-Key": node.api_keys.create("searcher").secret}
    assert [api.post(SEARCH, json={}, headers=headers).status_code for _ in range(2)] == [200] * 2
    assert_refused(api.post("/api/v1/product/search", json={}, headers=headers), "search")
    # Every request, a refused search too, counts against the key's general quota (4).
    assert api.get("/api/v1/material", headers=headers).status_code == 200
    assert_refused(api.get("/api/v1/material", headers=headers), "user")


def test_health_ready_metrics_and_static_files_are_never_limited(api: TestClient) -> None:
    for _ in range(6):
        for path in ("/health", "/ready", "/metrics"):
            assert api.get(path).status_code == 200
    assert "loopnode_rate_limit_refusals_total{" not in api.get("/metrics").text
    for _ in range(4):
        assert api.get("/docs/assets/swagger-ui.css").status_code != 429
        assert api.get("/ui/static/dashboard/common.js").status_code != 429


def test_a_verified_peer_is_charged_to_its_node_id_not_to_its_address(
    api: TestClient, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    statuses = []
    for n in range(3):
        announcement = BERLIN.announcement(f"{REMOTE_MAT[:-1]}{n}")
        statuses.append(
            post_signed(api, BERLIN, "/api/v1/federate/announce", announcement, clock.now())
        )
        clock.advance(seconds=1)
    assert [s.status_code for s in statuses[:2]] == [202, 202]
    assert_refused(statuses[2], "node")
    # The peer's quota is not the address's: the same client still reads anonymously.
    assert api.get("/api/v1/material").status_code == 200


def test_an_unverified_claim_to_be_a_peer_spends_nothing_of_its_quota(
    api: TestClient, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    forged = {
        "X-Node-ID": "berlin.loop",
        "X-Node-Signature": "AAAA",
        "Content-Type": "application/json",
    }
    for _ in range(4):
        response = api.post("/api/v1/federate/announce", content=b"{}", headers=forged)
        assert response.status_code in (400, 401)
    announcement = BERLIN.announcement(REMOTE_MAT)
    assert (
        post_signed(api, BERLIN, "/api/v1/federate/announce", announcement, clock.now()).status_code
        == 202
    )


def test_refusals_are_counted_in_the_metrics(api: TestClient) -> None:
    for _ in range(5):
        api.get("/api/v1/node/info")
    text = api.get("/metrics").text
    assert 'loopnode_rate_limit_refusals_total{scope="anonymous"} 2.0' in text


def test_with_limits_off_nothing_is_refused(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    from loopnode.web.app import create_app

    built = make_node(tmp_path, database_url, clock, rate_limit_anonymous="1/minute")
    built.rate_limits.enabled = False
    with TestClient(create_app(container=built)) as client:
        assert {client.get("/api/v1/material").status_code for _ in range(5)} == {200}
    built.close()


def test_two_workers_sharing_redis_share_one_quota_exactly(
    tmp_path: Path, database_url: str, clock: FakeClock, redis_prefix: tuple[str, str]
) -> None:
    """Two applications (as two worker processes would be) over one Redis: 5 answers, not 10."""
    from loopnode.web.app import create_app

    url, prefix = redis_prefix
    settings = {
        "redis_url": url,
        "rate_limit_key_prefix": prefix,
        "rate_limit_anonymous": "5/minute",
    }
    first = make_node(tmp_path, database_url, clock, **settings)
    second = build(first.settings, clock=clock, migrate=False)
    statuses: list[int] = []
    with (
        TestClient(create_app(container=first), raise_server_exceptions=False) as one,
        TestClient(create_app(container=second), raise_server_exceptions=False) as two,
    ):
        for _ in range(5):
            statuses += [
                one.get("/api/v1/material").status_code,
                two.get("/api/v1/material").status_code,
            ]
    first.close()
    second.close()
    assert sorted(statuses) == [200] * 5 + [429] * 5


def test_an_unreachable_redis_lets_requests_through(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    from loopnode.web.app import create_app

    built = make_node(tmp_path, database_url, clock, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(container=built)) as client:
        assert client.get("/api/v1/material").status_code == 200
    built.close()


def test_signature_headers_on_a_route_that_checks_none_do_not_escape_the_address_quota(
    api: TestClient,
) -> None:
    disguised = {"X-Node-ID": "berlin.loop", "X-Node-Signature": "AAAA"}
    statuses = [api.get("/api/v1/material", headers=disguised).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_peers_signed_search_is_charged_to_its_node_quota_not_the_search_quota(
    api: TestClient, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    answers = []
    for n in range(3):
        answers.append(post_signed(api, BERLIN, SEARCH, {"category": f"plastic-{n}"}, clock.now()))
        clock.advance(seconds=1)
    # Node quota 2/minute: two searches answered, the third refused as the node's.
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert answers[0].json()["results"] == []  # the buffered body reached the route intact
    assert_refused(answers[2], "node")
    # The address's own search quota (2) was not touched by the peer's searches.
    assert [api.post(SEARCH, json={}).status_code for _ in range(2)] == [200, 200]


def test_a_search_with_a_bad_signature_is_charged_as_an_ordinary_search(
    api: TestClient, node: Any, clock: FakeClock
) -> None:
    add_peer(node, BERLIN)
    raw = b'{"category": "plastic-*"}'
    headers = BERLIN.headers(SEARCH, raw, clock.now())
    forged = {**headers, "X-Node-Signature": headers["X-Node-Signature"][:-4] + "AAAA"}
    statuses = [api.post(SEARCH, content=raw, headers=forged).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # A valid signature is the peer's (node quota); the same signature replayed is not.
    good = BERLIN.headers(SEARCH, raw, clock.now())
    assert api.post(SEARCH, content=raw, headers=good).status_code == 200
    assert_refused(api.post(SEARCH, content=raw, headers=good), "anonymous")  # 4th of 3


def test_a_dashboard_pages_reads_have_their_own_quota_and_its_pass_is_bound_to_the_address(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """A dashboard page makes 3-12 reads: with the page's pass they count against the dashboard
    quota of the address, not the anonymous one (searches also count as searches). Writes do
    not use the pass, and a pass copied to another address or invented counts for nothing."""
    import re

    from loopnode.web.app import create_app

    node = make_node(
        tmp_path,
        database_url,
        clock,
        rate_limit_anonymous="3/minute",
        rate_limit_dashboard="6/minute",
        rate_limit_search="2/minute",
    )
    try:
        with TestClient(create_app(container=node), raise_server_exceptions=False) as api:
            page = api.get("/ui/registry")  # the page load: anonymous 1 of 3
            found = re.search(r'id="loop-config">(.*?)</script>', page.text, re.S)
            assert found is not None
            pass_ = json.loads(found.group(1))["pass"]
            headers = {"X-Dashboard-Pass": pass_}
            reads = [api.get("/api/v1/material", headers=headers).status_code for _ in range(3)]
            searches = [api.post(SEARCH, json={}, headers=headers) for _ in range(3)]
            assert reads + [s.status_code for s in searches[:2]] == [200] * 5
            assert_refused(searches[2], "search")  # 2/minute here, a dashboard's searches too
            # That refused search was the dashboard quota's sixth request: the seventh is over.
            assert_refused(api.get("/api/v1/material", headers=headers), "dashboard")
            assert api.get("/api/v1/material").status_code == 200  # anonymous 2 of 3
            write = api.post("/api/v1/material", json={}, headers=headers)
            assert write.status_code == 401  # charged as anonymous 3 of 3, then refused
            assert_refused(api.get("/api/v1/node/info"), "anonymous")
            elsewhere = TestClient(api.app, client=("203.0.113.9", 5000))
            for _ in range(3):
                assert elsewhere.get("/api/v1/material", headers=headers).status_code == 200
            assert_refused(elsewhere.get("/api/v1/material", headers=headers), "anonymous")
            invented = {"X-Dashboard-Pass": "9999999999.AAAA"}
            third = TestClient(api.app, client=("203.0.113.10", 5000))
            for _ in range(3):
                assert third.get("/api/v1/material", headers=invented).status_code == 200
            assert_refused(third.get("/api/v1/material", headers=invented), "anonymous")
    finally:
        node.close()
