"""`/docs` works offline: Swagger UI comes from the package, never from a CDN."""

from __future__ import annotations

from typing import Any

import pytest


def test_the_docs_page_loads_its_assets_from_this_node(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/docs/assets/swagger-ui.css" in page.text
    assert "cdn" not in page.text.lower()
    assert "https://" not in page.text


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
        ("LICENSE", ""),  # any type: it only has to be there
    ],
)
def test_each_asset_is_served(client: Any, asset: str, content_type: str) -> None:
    response = client.get(f"/docs/assets/{asset}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert len(response.content) > 100


def test_the_openapi_document_the_page_reads_is_served(client: Any) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "loopnode"


def test_redoc_is_not_offered(client: Any) -> None:
    assert client.get("/redoc").status_code == 404
