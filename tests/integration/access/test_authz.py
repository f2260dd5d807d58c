"""Authorisation (issue 15 item 2): the access table covers every route of the application, and
every role is tried against every route, allowed and refused (403 with a wrong role, 401 with
none), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from loopnode.web.app import create_app
from loopnode.web.authz import PEER, POLICY, PUBLIC, READ, SELF, access_for, authorize
from loopnode.web.middleware import flat_routes
from loopnode.web.routes.registry_reads import AuthorizedRoute

ROLES = ("operator", "registrar", "trader", "voter", "auditor")
STREAMING = {"/api/v1/stream"}  # answers forever when allowed: checked only when refused


def _operations(app: Any) -> Iterator[tuple[str, str, Any]]:
    for route in flat_routes(app.routes):
        if isinstance(route, Mount):
            yield "*", route.path, route
            continue
        for method in sorted(getattr(route, "methods", None) or ()):
            yield method, route.path, route


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "X-1", template)


def test_every_route_is_in_the_table(container: Any) -> None:
    app = create_app(container=container)
    missing = [(m, p) for m, p, _ in _operations(app) if access_for(m, p) is None]
    assert missing == []


def test_routes_outside_the_dependency_are_public(container: Any) -> None:
    """Mounts and plain Starlette routes never run `authorize` (FastAPI applies the app's
    dependencies to its APIRoutes only): they must be public, unless they are the hot reads'
    `AuthorizedRoute`s, which call `authorize` themselves (tried with every role below)."""
    app = create_app(container=container)
    assert [d.dependency for d in app.router.dependencies] == [authorize]
    for method, path, route in _operations(app):
        if not isinstance(route, APIRoute | AuthorizedRoute):
            assert access_for(method, path) == PUBLIC, (method, path)


def test_every_write_has_a_guard(container: Any) -> None:
    """No POST is reachable by anyone unless it authenticates its body itself (searches and
    the LoopCost calculator change nothing: they are reads)."""
    app = create_app(container=container)
    for method, path, _ in _operations(app):
        if method == "POST" and not path.endswith(("/search", "/loopcost")):
            assert access_for(method, path) not in (PUBLIC, READ), path


@pytest.fixture
def keys(container: Any) -> dict[str, dict[str, str]]:
    return {
        role: {"Authorization": f"Bearer {container.api_keys.create(role, role=role).secret}"}
        for role in ROLES
    }


def _call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {} if method == "POST" else None
    return client.request(method, _concrete(path), headers=headers, json=body)


def _role_routes(app: Any) -> list[tuple[str, str, frozenset[str]]]:
    found = []
    for method, path, _ in _operations(app):
        access = access_for(method, path)
        if isinstance(access, frozenset) and method != "HEAD":
            found.append((method, path, access))
    return found


def test_every_role_against_every_role_guarded_route(
    container: Any, keys: dict[str, dict[str, str]]
) -> None:
    app = create_app(container=container)
    routes = _role_routes(app)
    assert len(routes) >= 10
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path, allowed in routes:
            nobody = _call(client, method, path, {})
            assert nobody.status_code == 401, (method, path, nobody.text)
            assert nobody.json()["error"]["code"] == "UNAUTHORIZED"
            for role in ROLES:
                answer = _call(client, method, path, keys[role])
                if role in allowed:  # past the role check (ownership may still say 403)
                    assert answer.status_code != 401, (role, method, path, answer.text)
                    assert "needs one of the roles" not in answer.text, (role, method, path)
                    assert answer.status_code < 500, (role, method, path, answer.text)
                else:
                    assert answer.status_code == 403, (role, method, path, answer.text)
                    assert answer.json()["error"]["code"] == "FORBIDDEN"
                    assert "needs one of the roles" in answer.json()["error"]["message"]


@pytest.mark.parametrize("public_reads", [True, False])
def test_reads_follow_public_reads(
    container: Any, keys: dict[str, dict[str, str]], public_reads: bool
) -> None:
    container.settings.public_reads = public_reads
    app = create_app(container=container)
    reads = [(m, p) for m, p, _ in _operations(app) if access_for(m, p) == READ and m != "HEAD"]
    assert len(reads) >= 20
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in reads:
            if path in STREAMING:
                continue
            nobody = _call(client, method, path, {})
            if public_reads:
                assert nobody.status_code not in (401, 403), (method, path, nobody.text)
            else:
                assert nobody.status_code == 401, (method, path, nobody.text)
            for role in ROLES:
                answer = _call(client, method, path, keys[role])
                assert answer.status_code not in (401, 403), (role, method, path, answer.text)
                assert answer.status_code < 500, (role, method, path, answer.text)


def test_public_self_and_peer_routes_need_no_client_credential(container: Any) -> None:
    app = create_app(container=container)
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path, _ in _operations(app):
            access = access_for(method, path)
            if method not in ("GET", "POST") or access not in (PUBLIC, SELF, PEER):
                continue
            answer = _call(client, method, path, {})
            if access == PEER:  # the node signature is the only credential
                assert answer.status_code == 401, (method, path)
                assert "signature" in answer.text.lower() or "X-Node" in answer.text
            else:
                assert answer.status_code not in (401, 403), (method, path, answer.text)


def test_table_rows_name_known_access_classes() -> None:
    for (method, _path), access in POLICY.items():
        assert method in ("GET", "HEAD", "POST", "PUT", "DELETE", "*")
        assert access in (PUBLIC, SELF, PEER, READ) or (
            isinstance(access, frozenset) and "operator" in access and access <= set(ROLES)
        )


def test_a_token_role_is_enforced_like_a_key_role(client: Any, container: Any) -> None:
    from datetime import timedelta

    voter = container.auth.issuer.issue(subject="v", role="voter", ttl=timedelta(minutes=5))
    trader = container.auth.issuer.issue(subject="t", role="trader", ttl=timedelta(minutes=5))
    offer = "/api/v1/offer"
    refused = client.post(offer, json={}, headers={"Authorization": f"Bearer {voter.token}"})
    assert refused.status_code == 403
    allowed = client.post(offer, json={}, headers={"Authorization": f"Bearer {trader.token}"})
    assert allowed.status_code == 400  # past the role check, refused by validation


def test_old_writer_keys_act_as_operators(container: Any) -> None:
    """Keys created before roles existed carry `writer`: they keep working, as operators."""
    from loopnode.domain.times import to_us
    from loopnode.services.access.apikeys import secret_hash
    from loopnode.services.ports import ApiKeyRow

    secret = "lnk_0123456789ab_legacy-secret"
    now = container.clock.now()
    row = ApiKeyRow(
        "0123456789ab", "legacy", secret_hash(secret), ("writer",), to_us(now), to_us(now) + 10**9
    )
    with container.uow(write=True) as uow:
        uow.api_keys.insert(row)
    assert container.api_keys.authenticate(secret).roles == ("operator",)
