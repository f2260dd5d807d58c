"""Verifiable passports over HTTP: credential routes and the did:web document, both databases."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from loopnode.bootstrap import build
from loopnode.protocol import keys, multikey, vc, vc_did
from tests.fakes import CountingHex


@pytest.fixture
def container(node_settings, clock) -> Iterator[Any]:
    # A node made by `loopnode init` has its key; the shared fixture has none.
    keys.save_private_key(keys.generate_private_key(), node_settings.private_key_path)
    built = build(node_settings, clock=clock, random_hex=CountingHex())
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def material(reference_dir: Path) -> dict[str, Any]:
    path = reference_dir / "examples" / "01-material-registration.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
def registered(client, auth, material) -> dict[str, Any]:
    assert client.post("/api/v1/material", json=material, headers=auth).status_code == 201
    return material


def did_resolver(client) -> vc.KeyResolver:
    return vc_did.resolver_from_document(client.get("/.well-known/did.json").json())


def test_credential_is_a_vc2_with_an_eddsa_jcs_2022_proof_over_the_passport(client, registered):
    response = client.get(f"/api/v1/material/{registered['id']}/credential")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    credential = response.json()
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert registered["@context"] in credential["@context"]
    assert "VerifiableCredential" in credential["type"]
    assert credential["issuer"]["id"] == "did:web:munich.example"
    subject = {k: v for k, v in registered.items() if k != "@context"}
    assert credential["credentialSubject"] == subject
    proof = credential["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert vc.verify_proof(credential, did_resolver(client)).verified


def test_the_proof_verifies_with_the_node_info_key_from_the_canonical_bytes(client, registered):
    credential = client.get(f"/api/v1/material/{registered['id']}/credential").json()
    pem = client.get("/api/v1/node/info").json()["public_key"]
    public = keys.load_public_pem(pem)
    proof = dict(credential.pop("proof"))
    signature = multikey.decode_multibase(proof.pop("proofValue"))
    data = hashlib.sha256(rfc8785.dumps(proof)).digest()
    data += hashlib.sha256(rfc8785.dumps(credential)).digest()
    public.verify(signature, data)
    assert proof["verificationMethod"].endswith("#" + multikey.public_key_multibase(public))


def test_did_document_lists_the_node_key_as_a_multikey_assertion_method(client):
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == "did:web:munich.example"
    (method,) = document["verificationMethod"]
    assert method["type"] == "Multikey"
    assert method["controller"] == document["id"]
    assert method["publicKeyMultibase"].startswith("z6Mk")
    assert document["assertionMethod"] == [method["id"]]
    pem = client.get("/api/v1/node/info").json()["public_key"]
    assert multikey.public_key_multibase(keys.load_public_pem(pem)) == method["publicKeyMultibase"]


def test_tampered_credential_from_the_node_is_rejected(client, registered):
    credential = client.get(f"/api/v1/material/{registered['id']}/credential").json()
    forged = copy.deepcopy(credential)
    forged["credentialSubject"]["quantity"]["value"] = 1
    assert not vc.verify_proof(forged, did_resolver(client)).verified
    forged = copy.deepcopy(credential)
    forged["issuer"]["id"] = "did:web:berlin.example"
    assert not vc.verify_proof(forged, did_resolver(client)).verified


def test_rotated_key_still_verifies_old_credentials_revoked_key_does_not(
    client, container, registered
):
    old = client.get(f"/api/v1/material/{registered['id']}/credential").json()
    change = container.federation.keys.rotate()
    assert vc.verify_proof(old, did_resolver(client)).verified
    new = client.get(f"/api/v1/material/{registered['id']}/credential").json()
    assert new["proof"]["verificationMethod"] != old["proof"]["verificationMethod"]
    assert vc.verify_proof(new, did_resolver(client)).verified
    container.federation.keys.revoke(change.retired_key_id)
    result = vc.verify_proof(old, did_resolver(client))
    assert not result.verified
    assert "resolve" in result.reason


def test_unknown_passport_credential_is_404(client):
    response = client.get("/api/v1/product/PRD-DE-MUC-2026-CHAIR-000000/credential")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_accept_application_vc_gets_that_media_type(client, registered):
    response = client.get(
        f"/api/v1/material/{registered['id']}/credential", headers={"Accept": "application/vc"}
    )
    assert response.headers["content-type"].startswith("application/vc")
