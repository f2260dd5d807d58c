"""GET of a passport passes the stored JSON through (docs/performance.md): the bytes are the
compact orjson rendering of the registered document, with every value and key order kept."""

from __future__ import annotations

import json
from typing import Any

import orjson


def test_read_answers_the_stored_bytes_in_the_compact_rendering(client, auth, reference_dir):
    material: dict[str, Any] = json.loads(
        (reference_dir / "examples" / "01-material-registration.json").read_text()
    )
    material["x_extension"] = {"z": 1, "a": [0.1, 1e-7, 1234567890], "é": "ü\u2028"}
    assert client.post("/api/v1/material", json=material, headers=auth).status_code == 201

    response = client.get(f"/api/v1/material/{material['id']}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert response.content == orjson.dumps(material)
    assert list(response.json()) == list(material)


def test_read_of_an_unknown_id_is_still_the_spec_404(client):
    response = client.get("/api/v1/product/PRD-DE-MUC-2025-NOTHING-000000")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
