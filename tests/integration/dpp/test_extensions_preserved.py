"""Extension blocks survive registration, reads, credentials and lifecycle entities unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests import lifecycle_payloads as p


def example(reference_dir: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((reference_dir / "examples" / name).read_text())
    return document


def test_material_extensions_with_unknown_members_round_trip(client, auth, reference_dir):
    material = example(reference_dir, "12-material-dna-dpp-extensions.json")
    material["passport"]["x_city_scheme"] = {"bin": "B-7", "codes": [1, 2.5, "x"]}
    material["traceability"]["epcis_event_refs"][0]["x_note"] = "kept"
    material["classification"]["x_local_code"] = "MUC-17"
    sent = copy.deepcopy(material)
    assert client.post("/api/v1/material", json=material, headers=auth).status_code == 201
    stored = client.get(f"/api/v1/material/{material['id']}").json()
    assert stored == sent
    full = client.get(f"/dpp/{material['id']}", headers=auth).json()
    assert full == sent


def test_product_and_transfer_extensions_round_trip(client, auth, reference_dir):
    product = example(reference_dir, "14-product-reuse-registration.json")
    product.pop("material_ids")
    product["traceability"] = {"batch_id": "B-1", "x_lane": 3}
    product["conformity_claims"] = [{"claim_id": "C-1", "conformance": True, "x_by": "lab"}]
    assert client.post("/api/v1/product", json=product, headers=auth).status_code == 201
    assert client.get(f"/api/v1/product/{product['id']}").json() == product
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    offer = client.post("/api/v1/offer", json=p.offer(), headers=auth).json()["id"]
    match = client.post(
        "/api/v1/match", json=p.match(offer, status="accepted"), headers=auth
    ).json()["id"]
    transfer = p.transfer(
        match,
        passport={
            "passport_id": "DPP-1",
            "access_scope": "restricted",
            "visible_to": "regulator",
            "x_hint": True,
        },
        traceability={"batch_id": "B-9", "x_carrier": "rail"},
    )
    response = client.post("/api/v1/transfer", json=transfer, headers=auth)
    assert response.status_code == 201, response.json()
    stored = client.get(f"/api/v1/transfer/{response.json()['id']}").json()
    assert stored["passport"] == transfer["passport"]
    assert stored["traceability"] == transfer["traceability"]
