"""A node without a signing key (no `loopnode init`) still serves passports, never a 500."""

from __future__ import annotations

from tests import lifecycle_payloads as p


def test_the_page_says_the_credential_cannot_be_signed(client, auth):
    assert client.post("/api/v1/material", json=p.material(), headers=auth).status_code == 201
    page = client.get(f"/dpp/{p.MATERIAL_ID}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "not verified" in page.text and "loopnode init" in page.text
    assert client.get(f"/dpp/{p.MATERIAL_ID}").status_code == 200
    assert client.get("/.well-known/did.json").json()["verificationMethod"] == []
