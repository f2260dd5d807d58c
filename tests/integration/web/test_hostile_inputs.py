"""Hostile input never reaches the database as a 500 (issue 15, "500s on bad input").

The walk covers every operation the app documents in its own `/openapi.json` (the route table
as served): each path parameter, each query parameter and each request body gets a NUL
character, an over-long value, an integer beyond 64 bits and JSON nested far deeper than any
LOOP document. Every answer must be below 500 and carry the §8.3 body; on both databases.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests import lifecycle_payloads as p
from tests.fakes import CountingHex

NUL = "\u0000"
HUGE = str(2**64 + 1)
LONG_ID = "MAT-DE-MUC-2026-PLASTIC-" + "A" * 200
PATH_VALUES = ("%00", "a%00b", "x" * 10_001, HUGE, "-" + HUGE)
QUERY_VALUES = (NUL, "a" + NUL, HUGE, "-" + HUGE, "x" * 10_001)
LIFECYCLE_FILTERS = ("status", "material_id", "product_id", "offer_id", "match_id")


class Raw(str):
    """JSON text spliced in verbatim: nesting too deep for any encoder to write."""


def nested(depth: int) -> Raw:
    return Raw('{"n":' * depth + '"leaf"' + "}" * depth)


def nested_list(depth: int) -> Raw:
    return Raw("[" * depth + "1" + "]" * depth)


def encode(value: Any) -> bytes:
    """json.dumps, except that Raw values are inserted as they are."""
    if isinstance(value, Raw):
        return str(value).encode()
    if isinstance(value, dict):
        items = [json.dumps(k).encode() + b":" + encode(v) for k, v in value.items()]
        return b"{" + b",".join(items) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    return json.dumps(value).encode()


def valid_bodies() -> dict[str, dict[str, Any]]:
    """Bodies that pass validation, so an injected value gets as far as storage."""
    offer = p.offer()
    return {
        "/api/v1/material": p.material(),
        "/api/v1/product": p.product(),
        "/api/v1/offer": offer,
        "/api/v1/match": p.match("OFR-1"),
        "/api/v1/transfer": p.transfer("MCH-1"),
        "/api/v1/material-status": p.status_update(),
        "/api/v1/transaction": p.transaction(),
        "/api/v1/material/search": {"category": "plastic-*", "radius_km": 50},
        "/api/v1/product/search": {"category": "furniture-*"},
    }


def hostile_bodies(path: str) -> list[Any]:
    base = valid_bodies().get(path, {"status": "accepted", "reason": "x"})
    bodies: list[Any] = [
        {"x": NUL},
        {NUL: 1},
        nested(300),
        nested(2000),
        {"a": nested_list(400)},
    ]
    for key in [k for k, v in base.items() if isinstance(v, str)]:
        poisoned = copy.deepcopy(base)
        poisoned[key] = poisoned[key] + NUL
        bodies.append(poisoned)
    bodies.append({**base, "notes": "free" + NUL + "text"})
    bodies.append({**base, "extension": nested(400)})
    bodies.append({**base, "id": LONG_ID})
    bodies.append({**base, "id": "x" * 10_001})
    if "category" in base:
        bodies.append({**base, "category": "plastic" + NUL + "*"})
    return bodies


def operations(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method.upper(), path, operation))
    return found


def concrete(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def assert_handled(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400 and "core-dp" not in what:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}, what


@pytest.fixture
def container(node_settings: Any, clock: Any) -> Iterator[Any]:
    from loopnode.bootstrap import build
    from loopnode.protocol import keys

    keys.save_private_key(keys.generate_private_key(), node_settings.private_key_path)
    built = build(node_settings, clock=clock, random_hex=CountingHex())
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def hostile_client(client: Any, api_key: str) -> Any:
    client.headers.update({"Authorization": f"Bearer {api_key}"})
    return client


def test_route_table_is_walked(hostile_client: Any) -> None:
    found = {(m, path) for m, path, _ in operations(hostile_client)}
    assert ("GET", "/api/v1/material/{record_id}") in found
    assert ("POST", "/api/v1/offer") in found
    assert ("GET", "/api/v1/evidence") in found
    assert len(found) > 30


def test_hostile_path_parameters_never_500(hostile_client: Any) -> None:
    for method, path, _ in operations(hostile_client):
        if "{" not in path:
            continue
        for value in PATH_VALUES:
            url = concrete(path, value)
            if method == "GET":
                response = hostile_client.get(url)
            else:
                response = hostile_client.post(url, json={"status": "accepted"})
            assert_handled(response, f"{method} {url[:80]}")


def test_hostile_query_parameters_never_500(hostile_client: Any) -> None:
    for method, path, operation in operations(hostile_client):
        if method != "GET" or path.endswith("/stream"):
            continue
        names = {q["name"] for q in operation.get("parameters", []) if q["in"] == "query"}
        names |= {"cursor", "limit", "after"}
        if "{" not in path:
            names |= set(LIFECYCLE_FILTERS)
        for name in sorted(names):
            for value in QUERY_VALUES:
                response = hostile_client.get(
                    path.replace("{", "").replace("}", ""), params={name: value}
                )
                assert_handled(response, f"GET {path}?{name}={value[:20]!r}")


def test_forged_cursors_never_500(hostile_client: Any) -> None:
    import base64

    forged = []
    for raw in (f"b.{HUGE}..X", f"b.1.{HUGE}.X", "b.1..X\u0000", f"b.-{HUGE}..X"):
        forged.append("cur_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="))
    for method, path, _ in operations(hostile_client):
        if method != "GET" or "{" in path or path.endswith("/stream"):
            continue
        for cursor in forged:
            response = hostile_client.get(path, params={"cursor": cursor})
            assert_handled(response, f"GET {path}?cursor={cursor}")


def test_hostile_bodies_never_500(hostile_client: Any) -> None:
    for method, path, _ in operations(hostile_client):
        if method != "POST":
            continue
        url = concrete(path, "OFR-1")
        for body in hostile_bodies(path):
            response = hostile_client.post(
                url, content=encode(body), headers={"Content-Type": "application/ld+json"}
            )
            assert_handled(response, f"POST {url} {str(body)[:60]}")


def test_nul_is_refused_at_the_edge_with_400(hostile_client: Any) -> None:
    material = p.material(notes="grain" + NUL)
    response = hostile_client.post("/api/v1/material", json=material)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert hostile_client.get("/api/v1/material/%00").status_code == 400
    assert hostile_client.get("/api/v1/material", params={"category": NUL}).status_code == 400
    search = {"category": "plastic" + NUL + "*"}
    assert hostile_client.post("/api/v1/material/search", json=search).status_code == 400


def test_deep_json_is_refused_with_400(hostile_client: Any) -> None:
    body = encode(p.material(extension=nested(300)))
    response = hostile_client.post(
        "/api/v1/material", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "deep" in response.json()["error"]["message"]


def test_integers_beyond_64_bits_are_400(hostile_client: Any) -> None:
    assert hostile_client.get("/api/v1/offer", params={"limit": HUGE}).status_code == 400
    assert hostile_client.get("/api/v1/evidence", params={"after": HUGE}).status_code == 400


def test_material_id_longer_than_storage_allows_is_400_on_both_databases(
    hostile_client: Any,
) -> None:
    response = hostile_client.post("/api/v1/material", json=p.material(LONG_ID))
    assert response.status_code == 400, response.text
    assert hostile_client.get(f"/api/v1/material/{LONG_ID}").status_code == 404


@pytest.mark.parametrize(
    "name", ["updated_since", "available_from_gte", "category_prefix", "quantity_min"]
)
def test_core_dp_search_with_a_null_filter_is_400(hostile_client: Any, name: str) -> None:
    body = {"entity_type": "product", "filters": {name: None}, "limit": 10}
    response = hostile_client.post("/api/v1/product/search", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_every_operation_documents_the_guards_400_and_the_503(hostile_client: Any) -> None:
    for method, path, operation in operations(hostile_client):
        assert {"400", "503"} <= set(operation["responses"]), (method, path)
