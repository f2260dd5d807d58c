"""The passport resolver: HTML for people, JSON-LD for machines, QR codes that decode to it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from loopnode.bootstrap import build
from loopnode.protocol import keys
from tests.fakes import CountingHex

BASE = "https://munich.example"


@pytest.fixture
def container(node_settings, clock) -> Iterator[Any]:
    keys.save_private_key(keys.generate_private_key(), node_settings.private_key_path)
    built = build(node_settings, clock=clock, random_hex=CountingHex())
    try:
        yield built
    finally:
        built.close()


def example(reference_dir: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((reference_dir / "examples" / name).read_text())
    return document


@pytest.fixture
def passports(client, auth, reference_dir) -> dict[str, dict[str, Any]]:
    material = example(reference_dir, "12-material-dna-dpp-extensions.json")
    product = example(reference_dir, "14-product-reuse-registration.json")
    for material_id in product["material_ids"]:
        part = {**example(reference_dir, "01-material-registration.json"), "id": material_id}
        assert client.post("/api/v1/material", json=part, headers=auth).status_code == 201
    for path, body in (("material", material), ("product", product)):
        response = client.post(f"/api/v1/{path}", json=body, headers=auth)
        assert response.status_code == 201, response.json()
    return {"material": material, "product": product}


HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
RESTRICTED_VALUES = (
    "BATCH-2026-W11-PET-001",
    "15 01 02",
    "FAC-DE-MUC-RCY-01",
    "https://example.com/verification/att-001",
    "2026-W11-01",
    "https://example.com/conformity/espr-rc-001",
)


def test_machines_get_json_ld_without_restricted_fields(client, passports):
    material = passports["material"]
    response = client.get(f"/dpp/{material['id']}", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    body = response.json()
    assert body["@context"] == material["@context"]
    link = response.headers["link"]
    assert f'<{BASE}/api/v1/material/{material["id"]}/credential>; rel="alternate"' in link
    assert f"<{BASE}/api/v1/epcis/events?subject={material['id']}>" in link
    assert body["passport"]["recycled_content_percent"] == 85
    for name in ("traceability", "classification"):
        assert name not in body
    assert "verification_evidence_url" not in body["passport"]
    assert "batch_number" not in body["metadata"]
    assert "conformity_evidence_url" not in body["conformity_claims"][0]
    text = response.text
    for value in RESTRICTED_VALUES:
        assert value not in text


def test_an_api_key_shows_the_whole_passport(client, passports, auth):
    material = passports["material"]
    headers = {"Accept": "application/ld+json", "Authorization": auth["Authorization"]}
    body = client.get(f"/dpp/{material['id']}", headers=headers).json()
    assert body == material
    page = client.get(f"/dpp/{material['id']}", headers={**headers, **HTML}).text
    assert "BATCH-2026-W11-PET-001" in page or "are restricted" not in page


def test_restricted_fields_follow_the_role_not_just_a_credential(client, passports, container):
    """ESPR's differentiated access: an auditor (authorities, recyclers) sees the restricted
    tiers; a trader's valid credential still gets the public view."""
    from datetime import timedelta

    material = passports["material"]
    public = client.get(f"/dpp/{material['id']}", headers={"Accept": "application/ld+json"}).json()
    assert public != material  # the fixture passport has restricted fields

    def view(role):
        token = container.auth.issuer.issue(subject="t", role=role, ttl=timedelta(minutes=5)).token
        headers = {"Accept": "application/ld+json", "Authorization": f"Bearer {token}"}
        return client.get(f"/dpp/{material['id']}", headers=headers).json()

    assert view("auditor") == material
    assert view("trader") == public


def test_a_wrong_key_is_401_not_the_public_view(client, passports):
    response = client.get(
        f"/dpp/{passports['material']['id']}", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


def test_browsers_get_the_passport_page(client, passports):
    product = passports["product"]
    response = client.get(f"/dpp/{product['id']}", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "Standing Desk — Ergotron WorkFit" in page
    for material_id in product["material_ids"]:  # composition links to the materials
        assert f'href="{BASE}/dpp/{material_id}"' in page
    assert "good" in page and "fully-functional" in page  # condition
    assert "Munich LOOP node" in page and "did:web:munich.example" in page  # issuer
    assert "✔ signature valid" in page and "eddsa-jcs-2022" in page  # credential status
    assert f"{BASE}/api/v1/product/{product['id']}/credential" in page
    assert f"{BASE}/api/v1/epcis/events?subject={product['id']}" in page


def test_the_public_page_hides_restricted_fields_and_says_so(client, passports, auth):
    material = passports["material"]
    page = client.get(f"/dpp/{material['id']}", headers=HTML).text
    for value in RESTRICTED_VALUES:
        assert value not in page
    assert re.search(r"\d+ fields of this passport are restricted", page)
    assert "CLM-ESPR-RC-001" in page  # the claim itself is public
    full = client.get(
        f"/dpp/{material['id']}", headers={**HTML, "Authorization": auth["Authorization"]}
    ).text
    assert "https://example.com/verification/att-001" in full
    assert "are restricted" not in full


def test_a_non_public_passport_block_is_hidden_whole(client, auth, reference_dir):
    battery = example(reference_dir, "17-battery-passport-material.json")
    assert client.post("/api/v1/material", json=battery, headers=auth).status_code == 201
    body = client.get(f"/dpp/{battery['id']}", headers={"Accept": "application/json"}).json()
    assert battery["passport"].get("visible_to", "public") != "public"
    assert "passport" not in body


def test_custody_history_appears_after_a_transfer(client, auth, passports, container):
    material_id = passports["material"]["id"]
    offer = {
        "@context": passports["material"]["@context"],
        "@type": "Offer",
        "schema_version": "0.2.0",
        "material_id": material_id,
        "from_city": "Munich",
        "to_city": "Berlin",
        "quantity": {"value": 500, "unit": "kg"},
        "status": "open",
        "available_until": "2026-07-01T00:00:00Z",
    }
    offer_id = client.post("/api/v1/offer", json=offer, headers=auth).json()["id"]
    match = {
        **{
            k: offer[k]
            for k in ("@context", "schema_version", "material_id", "from_city", "to_city")
        },
        "@type": "Match",
        "offer_id": offer_id,
        "status": "accepted",
        "matched_at": "2026-06-01T11:00:00Z",
    }
    match_id = client.post("/api/v1/match", json=match, headers=auth).json()["id"]
    transfer = {
        "@context": offer["@context"],
        "@type": "Transfer",
        "schema_version": "0.2.0",
        "material_id": material_id,
        "match_id": match_id,
        "status": "scheduled",
        "handoff_at": "2026-06-02T09:00:00Z",
    }
    transfer_id = client.post("/api/v1/transfer", json=transfer, headers=auth).json()["id"]
    for state in ("in_transit", "completed"):
        response = client.post(
            f"/api/v1/transfer/{transfer_id}/status", json={"status": state}, headers=auth
        )
        assert response.status_code == 200
    page = client.get(f"/dpp/{material_id}", headers=HTML).text
    assert "from Munich to Berlin" in page
    assert transfer_id in page


@pytest.mark.parametrize("record_id", ["MAT-DE-MUC-2026-PLASTIC-FFFFFF", "nothing", "PRD-X"])
def test_unknown_passports_are_404_in_every_form(client, record_id):
    for headers in (HTML, {"Accept": "application/ld+json"}):
        response = client.get(f"/dpp/{record_id}", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert client.get(f"/dpp/{record_id}/qr").status_code == 404


def decode(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_the_png_qr_decodes_to_the_resolver_url(client, passports):
    product_id = passports["product"]["id"]
    for params, headers in (({"format": "png"}, {}), ({}, {"Accept": "image/png"})):
        response = client.get(f"/dpp/{product_id}/qr", params=params, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert decode(Image.open(io.BytesIO(response.content))) == [f"{BASE}/dpp/{product_id}"]


def svg_to_image(svg: str) -> Image.Image:
    """Rasterise segno's SVG (one path of horizontal strokes) without segno, for the decoder."""
    root = ElementTree.fromstring(svg)
    width, height = int(float(root.get("width", "0"))), int(float(root.get("height", "0")))
    path = next(el for el in root.iter() if el.tag.endswith("path"))
    scale = float(re.search(r"scale\(([\d.]+)\)", path.get("transform", "scale(1)")).group(1))
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, number in re.findall(r"([MmHhVvh])\s*([-\d.]+(?:\s+[-\d.]+)?)", path.get("d")):
        values = [float(v) for v in number.split()]
        if command in "Mm":
            dx, dy = values
            x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
        elif command in "Hh":
            end = values[0] if command == "H" else x + values[0]
            draw.rectangle(
                [x * scale, (y - 0.5) * scale, end * scale - 1, (y + 0.5) * scale - 1], fill=0
            )
            x = end
    return image


def test_the_svg_qr_is_the_default_and_decodes_to_the_resolver_url(client, passports):
    material_id = passports["material"]["id"]
    response = client.get(f"/dpp/{material_id}/qr")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert decode(svg_to_image(response.text)) == [f"{BASE}/dpp/{material_id}"]
