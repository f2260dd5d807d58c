"""`Accept: application/n-quads` on stored entities: RDF from the bundled contexts, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from loopnode.protocol.jsonld import document_loader
from tests import lifecycle_payloads as p

NQ = {"Accept": "application/n-quads"}
TERMS = "https://localloop.urbnia.com/projects/loop-protocol/terms/"


@pytest.fixture
def material(client, auth, reference_dir: Path) -> dict[str, Any]:
    path = reference_dir / "examples" / "12-material-dna-dpp-extensions.json"
    document: dict[str, Any] = json.loads(path.read_text())
    assert client.post("/api/v1/material", json=document, headers=auth).status_code == 201
    return document


def test_a_passport_is_served_as_n_quads(client, material):
    response = client.get(f"/api/v1/material/{material['id']}", headers=NQ)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/n-quads")
    subject = f"<https://munich.example/api/v1/material/{material['id']}>"
    lines = response.text.splitlines()
    assert (
        f"{subject} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{TERMS}MaterialDNA> ."
        in lines
    )
    assert f'{subject} <{TERMS}category> "plastic-pet" .' in lines
    # Independent check: pyld on the stored JSON with the same base gives the same dataset.
    stored = client.get(f"/api/v1/material/{material['id']}").json()
    expected = jsonld.to_rdf(
        stored,
        {
            "format": "application/n-quads",
            "documentLoader": document_loader,
            "base": "https://munich.example/api/v1/material/",
        },
    )
    assert sorted(lines) == sorted(expected.splitlines())
    assert client.get(f"/api/v1/material/{material['id']}", headers=NQ).text == response.text


def test_lifecycle_entities_and_the_resolver_negotiate_too(client, auth, material):
    offer = client.post("/api/v1/offer", json=p.offer(material["id"], 10), headers=auth).json()
    response = client.get(f"/api/v1/offer/{offer['id']}", headers=NQ)
    assert response.status_code == 200
    assert f"<{TERMS}Offer>" in response.text
    resolver = client.get(f"/dpp/{material['id']}", headers=NQ)
    assert resolver.status_code == 200
    assert f"<https://munich.example/dpp/{material['id']}>" in resolver.text
    assert "BATCH-2026-W11-PET-001" not in resolver.text  # the public view, as JSON-LD


def test_json_stays_the_default_and_errors_stay_json(client, material):
    plain = client.get(f"/api/v1/material/{material['id']}")
    assert plain.headers["content-type"].startswith("application/ld+json")
    both = client.get(
        f"/api/v1/material/{material['id']}",
        headers={"Accept": "application/ld+json, application/n-quads;q=0.5"},
    )
    assert both.headers["content-type"].startswith("application/ld+json")
    missing = client.get("/api/v1/material/MAT-DE-MUC-2026-PLASTIC-FFFFFF", headers=NQ)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


def test_lists_are_not_entities(client, material):
    response = client.get("/api/v1/material", headers=NQ)
    assert response.headers["content-type"].startswith("application/json")
