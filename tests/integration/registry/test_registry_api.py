"""The registry over HTTP (spec §8.1, §8.3; DECISIONS 2, 5, 6, 24-26), on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import official

MATERIAL_ID = re.compile(r"^MAT-DE-MUC-2026-[A-Z]+-[A-Z0-9]{6,}$")


def example(reference_dir: Path, name: str) -> Any:
    return json.loads((reference_dir / "examples" / name).read_text())


@pytest.fixture
def material(reference_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = example(reference_dir, "01-material-registration.json")
    return document


def counts(client: Any) -> tuple[int, int]:
    evidence = client.get("/api/v1/evidence", params={"limit": 500}).json()["entries"]
    records = client.get("/api/v1/material", params={"limit": 100}).json()["results"]
    products = client.get("/api/v1/product", params={"limit": 100}).json()["results"]
    return len(evidence), len(records) + len(products)


def test_register_answers_201_with_the_record_and_status_registered(client, auth, material):
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.json() == {**material, "status": "registered"}
    assert response.headers["location"] == f"/api/v1/material/{material['id']}"


def test_read_returns_the_stored_record_with_unknown_fields_preserved(client, auth, material):
    material["x_city_extension"] = {"bin": 7, "tags": ["a", "b"], "ratio": 0.5}
    client.post("/api/v1/material", json=material, headers=auth)
    response = client.get(f"/api/v1/material/{material['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.json() == material


def test_duplicate_id_is_409_conflict(client, auth, material):
    assert client.post("/api/v1/material", json=material, headers=auth).status_code == 201
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_missing_record_is_404_in_the_spec_error_format(client):
    response = client.get("/api/v1/material/MAT-DE-MUC-2025-PLASTIC-000000")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "NOT_FOUND"
    assert set(body["error"]) == {"code", "message", "details"}


def test_id_is_minted_when_absent(client, auth, material):
    del material["id"]
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 201
    minted = response.json()["id"]
    assert MATERIAL_ID.match(minted)
    assert "-PLASTIC-" in minted
    assert client.get(f"/api/v1/material/{minted}").status_code == 200


def test_schema_violations_are_400_with_json_pointers(client, auth, material):
    material["quantity"]["unit"] = "barrel"
    material["quality"] = 1.5
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    pointers = {issue["pointer"] for issue in error["details"]["validation"]}
    assert {"/quantity/unit", "/quality"} <= pointers


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("metadata", "notes"), "call Maria at +49 89 1234 5678"),
        (("metadata", "notes"), "mail hans.mueller@example.org"),
        (("metadata", "email"), "x"),
        (("contact",), {"website": "https://example.org"}),
    ],
)
def test_personal_data_is_refused(client, auth, material, path, value):
    target = material
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_codes_that_look_like_numbers_are_not_personal_data(client, auth, material):
    material["classification"] = {
        "ewc_code": "15 01 02",
        "hs_code": "391590",
        "cn_code": "39159011",
    }
    material["passport"] = {**material.get("passport", {}), "gtin": "04012345678901"}
    response = client.post("/api/v1/material", json=material, headers=auth)
    assert response.status_code == 201, response.json()


def test_writes_need_a_valid_unexpired_key(client, auth, material, clock):
    no_key = client.post("/api/v1/material", json=material)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "UNAUTHORIZED"
    wrong = client.post(
        "/api/v1/material", json=material, headers={"Authorization": "Bearer lnk_nope_nope"}
    )
    assert wrong.status_code == 401
    alias = {"X-API-Key": auth["Authorization"].split(" ", 1)[1]}
    assert client.post("/api/v1/material", json=material, headers=alias).status_code == 201
    clock.advance(days=91)
    material["id"] = "MAT-DE-MUC-2025-PLASTIC-B847F4"
    expired = client.post("/api/v1/material", json=material, headers=auth)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]


def test_transport_errors_use_the_spec_format(client, auth, material):
    text = client.post(
        "/api/v1/material",
        content=json.dumps(material),
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert text.status_code == 415
    big = {**material, "metadata": {"notes": "x" * 400, "blob": "y" * (1024 * 1024)}}
    assert client.post("/api/v1/material", json=big, headers=auth).status_code == 413
    broken = client.post("/api/v1/material", content=b'{"@type": ', headers=auth)
    assert broken.status_code == 400
    array = client.post("/api/v1/material", content=b"[1, 2]", headers=auth)
    assert array.status_code == 400
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.delete(f"/api/v1/material/{material['id']}").status_code == 405
    for response in (text, broken, array):
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_rejected_requests_change_nothing(client, auth, material):
    assert client.post("/api/v1/material", json=material, headers=auth).status_code == 201
    before = counts(client)
    bad_bodies: list[Any] = [b"{", b"[]", b"null", b'"x"']
    for raw in bad_bodies:
        client.post("/api/v1/material", content=raw, headers=auth)
    invalid = copy.deepcopy(material)
    invalid["id"] = "MAT-DE-MUC-2025-PLASTIC-B847F9"
    invalid["category"] = "plutonium"
    client.post("/api/v1/material", json=invalid, headers=auth)
    client.post("/api/v1/material", json=material, headers=auth)  # duplicate
    client.post("/api/v1/material", json={**invalid, "category": "cardboard"})  # no key
    personal = {**invalid, "category": "cardboard", "metadata": {"notes": "jane@example.org"}}
    client.post("/api/v1/material", json=personal, headers=auth)
    assert counts(client) == before


def test_product_needs_known_materials_and_the_structured_id(client, auth, reference_dir, material):
    product = example(reference_dir, "14-product-reuse-registration.json")
    unknown = client.post("/api/v1/product", json=product, headers=auth)
    assert unknown.status_code == 400
    assert set(unknown.json()["error"]["details"]["unknown_material_ids"]) == set(
        product["material_ids"]
    )
    for material_id in product["material_ids"]:
        client.post("/api/v1/material", json={**material, "id": material_id}, headers=auth)
    unstructured = {**product, "id": "PRD-ABCDEFGHIJ"}
    assert client.post("/api/v1/product", json=unstructured, headers=auth).status_code == 400
    created = client.post("/api/v1/product", json=product, headers=auth)
    assert created.status_code == 201
    assert created.json()["status"] == "registered"
    assert client.get(f"/api/v1/product/{product['id']}").json() == product


def register_many(
    client: Any, auth: dict[str, str], material: dict[str, Any], count: int
) -> list[str]:
    ids = []
    categories = ["plastic-pet", "plastic-hdpe", "metal-steel", "cardboard"]
    for index in range(count):
        document = {
            **material,
            "id": f"MAT-DE-MUC-2026-TEST-{index:06d}",
            "category": categories[index % 4],
        }
        document["quantity"] = {"value": 100 * (index + 1), "unit": "kg"}
        document["location"] = {"lat": 48.137 + index * 0.2, "lon": 11.575}
        assert client.post("/api/v1/material", json=document, headers=auth).status_code == 201
        ids.append(document["id"])
    return ids


def test_list_pages_cover_every_record_exactly_once(client, auth, material):
    ids = register_many(client, auth, material, 7)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/material", params=params).json()
        seen += [r["id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    first = client.get("/api/v1/material", params={"limit": 3}).json()
    mismatched = client.get(
        "/api/v1/material",
        params={"limit": 3, "cursor": first["next_cursor"], "category": "cardboard"},
    )
    assert mismatched.status_code == 400


def test_protocol_search_wildcard_radius_and_quantity(client, auth, material):
    register_many(client, auth, material, 8)
    plastics = client.post("/api/v1/material/search", json={"category": "plastic-*"}).json()
    assert plastics["total"] == 4
    assert {r["category"] for r in plastics["results"]} == {"plastic-pet", "plastic-hdpe"}
    # records sit 0.2° (about 22 km) apart going north from the node
    near = client.post("/api/v1/material/search", json={"radius_km": 50}).json()
    assert {r["id"] for r in near["results"]} == {f"MAT-DE-MUC-2026-TEST-{i:06d}" for i in range(3)}
    heavy = client.post("/api/v1/material/search", json={"min_quantity": 650}).json()
    assert heavy["total"] == 2
    combined = client.post(
        "/api/v1/material/search", json={"category": "metal-steel", "radius_km": 100}
    ).json()
    assert [r["id"] for r in combined["results"]] == ["MAT-DE-MUC-2026-TEST-000002"]


def test_protocol_search_rejects_a_bad_max_loop_cost_and_unknown_fields(client):
    assert client.post("/api/v1/material/search", json={"max_loop_cost": "10"}).status_code == 400
    assert client.post("/api/v1/material/search", json={"colour": "red"}).status_code == 400
    assert client.post("/api/v1/material/search", json={"category": "pla*stic"}).status_code == 400


def test_core_dp_search_pages_in_order_with_bound_cursors(client, auth, material, reference_dir):
    ids = register_many(client, auth, material, 5)
    request = {"entity_type": "material", "filters": {"category_prefix": "plastic"}, "limit": 1}
    first = client.post("/api/v1/material/search", json=request)
    assert first.status_code == 200
    body = first.json()
    assert official.errors(reference_dir, "search-contract.schema.json", body) == []
    assert body["ordering"] == {"primary": "updated_at_asc", "tie_break": "id_asc"}
    assert body["consistency"]["mode"] == "snapshot"
    assert body["consistency"]["snapshot_id"].startswith("snap_")
    result = body["results"][0]
    assert result["id"] == ids[0]
    assert result["source_node"] == "munich.loop"
    assert re.fullmatch(r"[a-f0-9]{64}", result["record_hash_sha256"])
    second = client.post(
        "/api/v1/material/search", json={**request, "cursor": body["next_cursor"]}
    ).json()
    assert second["results"][0]["id"] == ids[1]
    other_filters = {
        **request,
        "filters": {"category_prefix": "metal"},
        "cursor": body["next_cursor"],
    }
    assert client.post("/api/v1/material/search", json=other_filters).status_code == 400
    assert client.post("/api/v1/material/search", json={**request, "limit": 101}).status_code == 400
    strict = {**request, "filters": {"condition": "good"}, "strict_filtering": True}
    assert client.post("/api/v1/material/search", json=strict).status_code == 400


def test_node_info_is_valid_against_the_official_schema_with_live_statistics(
    client, auth, material, reference_dir
):
    before = client.get("/api/v1/node/info").json()
    assert official.errors(reference_dir, "node-info.schema.json", before) == []
    assert before["endpoint"] == "https://munich.example/api/v1"
    client.post("/api/v1/material", json=material, headers=auth)
    after = client.get("/api/v1/node/info").json()
    assert after["statistics"]["materials_active"] == before["statistics"]["materials_active"] + 1


def test_every_registration_appends_exportable_evidence(client, auth, material, reference_dir):
    client.post("/api/v1/material", json=material, headers=auth)
    native = client.get("/api/v1/evidence").json()["entries"]
    assert [e["event_type"] for e in native] == ["material.registered"]
    assert native[0]["subject"] == {"type": "material", "id": material["id"]}
    exported = client.get("/api/v1/evidence", params={"format": "core-dp"}).json()["entries"]
    assert len(exported) == 1
    assert official.errors(reference_dir, "evidence-entry.schema.json", exported[0]) == []


def test_openapi_documents_every_route_and_its_errors(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/material",
        "/api/v1/material/{record_id}",
        "/api/v1/material/search",
        "/api/v1/product",
        "/api/v1/product/{record_id}",
        "/api/v1/product/search",
        "/api/v1/node/info",
        "/api/v1/evidence",
    ):
        assert path in paths
    assert {"400", "401", "409", "413", "415"} <= set(
        paths["/api/v1/material"]["post"]["responses"]
    )
    assert "MaterialDNA" in document["components"]["schemas"]
    assert client.get("/docs").status_code == 200
