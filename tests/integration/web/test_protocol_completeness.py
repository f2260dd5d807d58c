"""Protocol completeness (issue 15 item 5): every operation of the upstream OpenAPI contract is
served and documented in the node's own /openapi.json with its request body, its status codes
and its success schema; and what the node answers matches what it documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import official

METHODS = ("get", "post", "put", "delete", "patch")
# Upstream operations not served yet, with the reason (none: every one is served).
PENDING: dict[tuple[str, str], str] = {}


def _upstream(reference_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((reference_dir / "openapi.json").read_text())
    return document


def _ours(path: str) -> str:
    return path.replace("{id}", "{record_id}")


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_upstream_operation_is_served(client: Any, reference_dir: Path) -> None:
    ours = client.get("/openapi.json").json()
    upstream = {(m, _ours(p)) for m, p in _operations(_upstream(reference_dir))}
    assert len(upstream) == 11
    missing = upstream - _operations(ours)
    assert missing <= set(PENDING), missing - set(PENDING)


def test_each_served_operation_documents_the_contract(client: Any, reference_dir: Path) -> None:
    ours = client.get("/openapi.json").json()
    upstream = _upstream(reference_dir)
    for path, item in upstream["paths"].items():
        for method, operation in item.items():
            mine = ours["paths"].get(_ours(path), {}).get(method)
            if mine is None:
                continue
            assert set(operation["responses"]) <= set(mine["responses"]), (method, path)
            if "requestBody" in operation:
                content = mine.get("requestBody", {}).get("content", {})
                assert "application/ld+json" in content, (method, path)
                assert content["application/ld+json"].get("schema"), (method, path)
            for status, answer in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                wanted = answer.get("content", {})
                got = mine["responses"][status].get("content", {})
                assert set(wanted) <= set(got), (method, path, status)
                for media, body in wanted.items():
                    ref = body["schema"].get("$ref", "")
                    if (
                        ref.startswith("#/components/schemas/")
                        and ref.rsplit("/", 1)[1] in (ours["components"]["schemas"])
                    ):
                        assert got[media]["schema"] == {"$ref": ref}, (method, path, status)


def test_answers_match_the_official_schemas(
    client: Any, auth: dict[str, str], reference_dir: Path
) -> None:
    """The documented components are the protocol's: the official schemas are the oracle."""
    example = reference_dir / "examples" / "01-material-registration.json"
    material = json.loads(example.read_text())
    created = client.post("/api/v1/material", json=material, headers=auth)
    assert created.status_code == 201
    assert official.errors(reference_dir, "material-dna.schema.json", created.json()) == []
    read = client.get(f"/api/v1/material/{material['id']}")
    assert read.status_code == 200
    assert official.errors(reference_dir, "material-dna.schema.json", read.json()) == []
    info = client.get("/api/v1/node/info")
    assert info.status_code == 200
    assert official.errors(reference_dir, "node-info.schema.json", info.json()) == []
    missing = client.get("/api/v1/material/MAT-DE-MUC-2025-PLASTIC-000000")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "message", "details"}
