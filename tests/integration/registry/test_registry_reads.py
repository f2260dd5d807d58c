"""The hot reads as plain routes (web/routes/registry_reads.py, docs/performance.md Session 3)
keep everything the APIRoutes had: they are the routes that answer, the OpenAPI document still
describes them, the middleware (security headers, request ids, metrics by template, rate
limits) wraps them and errors are §8.3 bodies; both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from loopnode.web.app import create_app
from loopnode.web.routes.registry_reads import AuthorizedRoute
from tests.fakes import FakeClock
from tests.integration.access.test_ratelimit_api import assert_refused, make_node


def test_the_plain_routes_answer_and_the_document_is_unchanged(container: Any) -> None:
    app = create_app(container=container)
    first = app.router.routes[:6]
    assert all(isinstance(route, AuthorizedRoute) for route in first)
    assert {(next(iter(r.methods - {"HEAD"})), r.path) for r in first} == {
        ("GET", "/api/v1/material/{record_id}"),
        ("GET", "/api/v1/product/{record_id}"),
        ("POST", "/api/v1/material/search"),
        ("POST", "/api/v1/product/search"),
        ("POST", "/api/v1/material"),
        ("POST", "/api/v1/product"),
    }
    paths = app.openapi()["paths"]
    register = paths["/api/v1/material"]["post"]
    assert register["summary"] == "Register a MaterialDNA"
    assert "201" in register["responses"] and "409" in register["responses"]
    read = paths["/api/v1/material/{record_id}"]["get"]
    assert read["summary"] == "Read a MaterialDNA"
    assert "application/ld+json" in read["responses"]["200"]["content"]
    assert "post" in paths["/api/v1/product/search"]


def test_middleware_and_errors_still_apply(client: Any, auth: dict[str, str]) -> None:
    missing = client.get("/api/v1/material/MAT-DE-MUC-2026-NOPE-000000", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in missing.headers
    assert missing.headers["x-request-id"]
    wrong = client.request("PUT", "/api/v1/material/MAT-DE-MUC-2026-NOPE-000000", headers=auth)
    assert wrong.status_code == 405
    assert set(wrong.json()["error"]) == {"code", "message", "details"}
    head = client.head("/api/v1/material/MAT-DE-MUC-2026-NOPE-000000", headers=auth)
    assert head.status_code == 404
    metrics = client.get("/metrics").text
    assert 'route="/api/v1/material/{record_id}"' in metrics


def test_rate_limits_charge_the_plain_routes(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    node = make_node(tmp_path, database_url, clock, rate_limit_anonymous="2/minute")
    try:
        with TestClient(create_app(container=node), raise_server_exceptions=False) as api:
            path = "/api/v1/product/PRD-DE-MUC-2026-NOPE-000000"
            assert [api.get(path).status_code for _ in range(2)] == [404, 404]
            assert_refused(api.get(path), "anonymous")
            assert_refused(api.post("/api/v1/material/search", json={}), "anonymous")
    finally:
        node.close()
