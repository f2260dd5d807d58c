"""The dashboard's pages, assets and the evidence-verify API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from loopnode.web.dashboard import FEATURES, PAGES, features
from tests import lifecycle_payloads as p

CONFIG = re.compile(r'<script type="application/json" id="loop-config">(.*?)</script>', re.S)


def _config(html: str) -> dict[str, Any]:
    found = CONFIG.search(html)
    assert found is not None
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.key)
def test_every_page_is_html_naming_the_node_with_its_own_script(client: Any, page: Any) -> None:
    response = client.get(page.path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Munich LOOP node" in response.text
    assert f"/ui/static/dashboard/{page.key}.js" in response.text
    assert f'href="{page.path}" aria-current="page"' in response.text
    assert _config(response.text)["page"] == page.key
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy


def test_pages_load_nothing_from_outside_the_node(client: Any) -> None:
    for page in PAGES:
        html = client.get(page.path).text
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith(("/", "#", "data:")), url


@pytest.mark.parametrize(
    "asset",
    [
        "dashboard/dashboard.css",
        "dashboard/common.js",
        "dashboard/map.js",
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.css",
        "vendor/leaflet/LICENSE",
    ],
)
def test_the_vendored_assets_are_served(client: Any, asset: str) -> None:
    response = client.get(f"/ui/static/{asset}")
    assert response.status_code == 200
    assert len(response.content) > 100


def test_the_node_config_reaches_the_page(client: Any) -> None:
    config = _config(client.get("/").text)
    assert (config["node_id"], config["city"], config["lat"]) == ("munich.loop", "Munich", 48.137)
    assert config["tile_url"] == ""
    assert config["features"]["evidence_verify"] is True
    assert config["features"]["loopcoin"] is True  # the ledger (issue 10) is served


def test_a_node_name_cannot_inject_markup(node_settings: Any, clock: Any) -> None:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app

    name = "Munich</script><script>alert(1)</script><b>"
    built = build(node_settings.model_copy(update={"name": name}), clock=clock)
    try:
        with TestClient(create_app(container=built)) as client:
            html = client.get("/").text
    finally:
        built.close()
    assert "<script>alert(1)" not in html and "<b>" not in html
    assert _config(html)["name"] == name


def test_a_tile_url_setting_reaches_the_map_and_the_image_policy(
    node_settings: Any, clock: Any
) -> None:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app

    settings = node_settings.model_copy(
        update={"dashboard_tile_url": "https://tiles.example.org/{z}/{x}/{y}.png"}
    )
    built = build(settings, clock=clock)
    try:
        with TestClient(create_app(container=built)) as client:
            response = client.get("/")
    finally:
        built.close()
    assert _config(response.text)["tile_url"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert (
        "img-src 'self' data: https://tiles.example.org"
        in response.headers["content-security-policy"]
    )


def test_evidence_verify_reports_an_intact_chain_with_its_length(
    client: Any, auth: dict[str, str]
) -> None:
    empty = client.get("/api/v1/evidence/verify").json()
    assert empty == {
        "intact": True,
        "entries": 0,
        "first_broken": None,
        "reason": None,
        "records": [],
    }
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    assert client.post("/api/v1/offer", json=p.offer(), headers=auth).status_code == 201
    report = client.get("/api/v1/evidence/verify").json()
    logged = client.get("/api/v1/evidence?limit=500").json()["entries"]
    assert report["intact"] is True
    assert report["entries"] == len(logged) >= 2


def test_evidence_verify_names_the_first_broken_entry(container: Any, client: Any) -> None:
    """The page shows what `loopnode evidence verify` finds; here a fake log breaks at 2."""
    from loopnode.services.evidence.service import ChainReport

    container.evidence.verify = lambda: ChainReport(3, 2, "its content does not match its hash")
    assert client.get("/api/v1/evidence/verify").json() == {
        "intact": False,
        "entries": 3,
        "first_broken": 2,
        "reason": "its content does not match its hash",
        "records": [],
    }


def test_evidence_verify_names_records_changed_without_an_entry(
    container: Any, client: Any
) -> None:
    """Record binding (issue 15): the chain holds, a record does not."""
    from loopnode.services.evidence.service import ChainReport

    problem = ("offer", "OFR-1", "its stored state differs from the one entry 7 recorded")
    container.evidence.verify = lambda: ChainReport(9, None, None, (problem,))
    assert client.get("/api/v1/evidence/verify").json() == {
        "intact": False,
        "entries": 9,
        "first_broken": None,
        "reason": None,
        "records": [{"type": "offer", "id": "OFR-1", "problem": problem[2]}],
    }


def test_evidence_verify_needs_a_key_when_reads_are_private(node_settings: Any, clock: Any) -> None:
    from fastapi.testclient import TestClient

    from loopnode.bootstrap import build
    from loopnode.web.app import create_app

    built = build(node_settings.model_copy(update={"public_reads": False}), clock=clock)
    try:
        with TestClient(create_app(container=built), raise_server_exceptions=False) as client:
            assert client.get("/api/v1/evidence/verify").status_code == 401
    finally:
        built.close()


def test_features_follow_the_routes_the_app_serves(client: Any) -> None:
    from fastapi import APIRouter

    def served() -> dict[str, str]:
        return {}

    app = client.app
    before = features(app)
    assert before["signals"] is True and before["dpp"] is True  # both are served now
    absent = "/api/v1/clearing/rounds-not-served"
    FEATURES["probe"] = absent
    try:
        assert features(app)["probe"] is False
        extra = APIRouter()
        extra.add_api_route(absent, served, methods=["GET"])
        app.include_router(extra)
        app.openapi_schema = None
        assert features(app)["probe"] is True
    finally:
        del FEATURES["probe"]


def test_pages_name_the_roles_each_restricted_panel_needs_and_carry_a_pass(client: Any) -> None:
    config = _config(client.get("/ui/economy").text)
    assert config["roles"]["clearing"] == ["auditor", "operator"]
    assert config["roles"]["outbox"] == ["auditor", "operator"]
    expires, _, mac = config["pass"].partition(".")
    assert expires.isdigit() and len(mac) == 43  # an HMAC-SHA256, base64url


def test_whoami_names_the_roles_of_the_credential_sent(client: Any, container: Any) -> None:
    assert client.get("/api/v1/whoami").json() == {
        "authenticated": False,
        "roles": [],
        "organisation": None,
    }
    trader = container.api_keys.create("panel-trader", role="trader").secret
    answer = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {trader}"})
    assert answer.status_code == 200
    assert answer.json() == {"authenticated": True, "roles": ["trader"], "organisation": None}
    assert answer.headers["cache-control"] == "no-store"
    refused = client.get("/api/v1/whoami", headers={"Authorization": "Bearer lnk_invented"})
    assert refused.status_code == 401
