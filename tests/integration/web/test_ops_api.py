"""Operations over HTTP on SQLite and PostgreSQL: health, readiness, metrics, ids, headers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from loopnode.web.app import create_app
from loopnode.web.ops_logging import JsonFormatter
from tests import lifecycle_payloads as p


def test_health_is_alive_and_ready_checks_database_migrations_and_outbox(client: Any) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "outbox": "ok"},
    }


def test_ready_is_503_naming_a_migration_the_database_lacks(container: Any) -> None:
    with container.engine.begin() as connection:
        heads = sorted(
            r[0] for r in connection.execute(text("SELECT version_num FROM alembic_version"))
        )
        connection.execute(
            text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": heads[0]}
        )
    with TestClient(create_app(container=container)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["migrations"] == f"missing {heads[0]}"


def test_ready_is_503_when_an_outbox_entry_is_overdue(node_settings: Any, clock: Any) -> None:
    """A stalled delivery worker (here: switched off) leaves due entries behind."""
    from loopnode.bootstrap import build

    stalled = build(node_settings.model_copy(update={"federation_worker": False}), clock=clock)
    now_us = int(clock.now().timestamp() * 1_000_000)
    overdue = now_us - int(stalled.settings.outbox_stuck_after_s * 1_000_000) - 95_000_000
    with stalled.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO msg_outbox (channel, peer_id, kind, method, path, body, dedupe_key,"
                " status, attempts, next_attempt_us, created_us, updated_us) VALUES"
                " ('federation', 'berlin.loop', 'announce', 'POST', '/x', '{}', 'k1', 'pending',"
                " 3, :due, :due, :due)"
            ),
            {"due": overdue},
        )
    with TestClient(create_app(container=stalled)) as client:
        ready = client.get("/ready")
        metrics = client.get("/metrics").text
    stalled.close()
    assert ready.status_code == 503
    assert ready.json()["checks"]["outbox"] == "stuck: msg_outbox has an entry due 995 s ago"
    assert 'loopnode_outbox_depth{outbox="msg_outbox"} 1.0' in metrics


def test_metrics_count_requests_by_route_template_and_read_gauges_from_the_database(
    client: Any, auth: dict[str, str]
) -> None:
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    for missing in ("MAT-DE-MUC-2026-PLASTIC-X1", "MAT-DE-MUC-2026-PLASTIC-X2"):
        assert client.get(f"/api/v1/material/{missing}").status_code == 404
    client.app.state.metrics.add_gauge("loopnode_test_total", "a hook gauge", lambda: 42.5)
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    body = metrics.text
    route = 'route="/api/v1/material/{record_id}"'
    assert f'loopnode_http_requests_total{{method="GET",{route},status="404"}} 2.0' in body
    assert (
        'loopnode_http_requests_total{method="POST",route="/api/v1/material",status="201"} 1.0'
        in body
    )
    assert "loopnode_http_request_duration_seconds_bucket{" in body
    evidence = client.get("/api/v1/evidence").json()["entries"]
    assert f"loopnode_evidence_entries {float(len(evidence))}" in body
    assert 'loopnode_outbox_depth{outbox="msg_outbox"} 0.0' in body
    assert 'loopnode_outbox_dead_letters{outbox="msg_outbox"} 0.0' in body
    assert "loopnode_test_total 42.5" in body


def test_request_ids_are_echoed_when_sane_and_made_when_absent_or_unsafe(client: Any) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "req-123.abc"})
    assert echoed.headers["X-Request-ID"] == "req-123.abc"
    made = client.get("/api/v1/material/nope").headers["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"
    assert client.get("/health").headers["X-Request-ID"] != made


def test_log_lines_are_json_with_the_request_id_of_the_request_that_wrote_them(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loopnode")
    container = client.app.state.container
    container.settings.access_log = True  # read at app creation: build a second app
    with TestClient(create_app(container=container)) as logged:
        logged.get("/api/v1/node/info", headers={"X-Request-ID": "trace-77"})
    records = [r for r in caplog.records if r.name == "loopnode.access"]
    assert records
    line = orjson.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "trace-77"
    assert line["route"] == "/api/v1/node/info" and line["status"] == 200
    assert {"time", "level", "logger", "message", "duration_ms", "method"} <= set(line)


def test_security_headers_on_every_answer_and_hsts_only_over_https(client: Any) -> None:
    plain = client.get("/api/v1/material")
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert plain.headers["X-Frame-Options"] == "DENY"
    assert plain.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in plain.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in plain.headers
    assert "Content-Security-Policy" not in client.get("/docs").headers
    secure = TestClient(client.app, base_url="https://testserver")
    assert secure.get("/health").headers["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.fixture
def cors_client(container: Any) -> Iterator[TestClient]:
    container.settings.cors_allow_origins = ["https://dashboard.munich.example"]
    with TestClient(create_app(container=container)) as cors:
        yield cors


def test_cors_answers_only_the_allowed_origins(cors_client: TestClient) -> None:
    allowed = {"Origin": "https://dashboard.munich.example"}
    assert (
        cors_client.get("/api/v1/material", headers=allowed).headers["access-control-allow-origin"]
        == "https://dashboard.munich.example"
    )
    other = cors_client.get("/api/v1/material", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = cors_client.options(
        "/api/v1/material",
        headers={
            **allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_an_unexpected_error_is_a_500_carrying_its_request_id_into_the_log(
    container: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopnode.web import authz

    monkeypatch.setitem(authz.POLICY, ("GET", "/boom"), authz.PUBLIC)  # routes need a row
    app = create_app(container=container)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "INTERNAL_ERROR"
    assert answer.headers["X-Request-ID"] == "trace-500"
    [record] = [r for r in caplog.records if r.getMessage() == "unexpected error"]
    line = orjson.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-500" and "kaput" in line["exception"]
    metrics = client.get("/metrics").text
    assert 'loopnode_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
