"""eddsa-jcs-2022 proofs: the W3C specification's own example reproduced byte for byte, checked
independently with `cryptography` from the canonical bytes, and the ways a proof must fail."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from loopnode.protocol import multikey, vc

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vc"
SIGNED_TEXT = (FIXTURES / "w3c-eddsa-jcs-2022-signed.json").read_text("utf-8")
SIGNED: dict[str, Any] = json.loads(SIGNED_TEXT)
KEYPAIR = json.loads((FIXTURES / "w3c-keypair.json").read_text("utf-8"))
SIG_HEX = (FIXTURES / "w3c-eddsa-jcs-2022-sig-hex.txt").read_text("ascii").strip()
PUBLIC = multikey.public_key_from_multibase(KEYPAIR["publicKeyMultibase"])
PRIVATE = multikey.private_key_from_multibase(KEYPAIR["privateKeyMultibase"])


def unsigned() -> dict[str, Any]:
    return {k: v for k, v in SIGNED.items() if k != "proof"}


def sign_example() -> dict[str, Any]:
    return vc.add_proof(
        unsigned(),
        PRIVATE,
        verification_method=SIGNED["proof"]["verificationMethod"],
        created=SIGNED["proof"]["created"],
    )


def test_the_published_key_pair_decodes_to_a_matching_pair() -> None:
    assert multikey.public_key_multibase(PRIVATE) == KEYPAIR["publicKeyMultibase"]
    assert multikey.private_key_multibase(PRIVATE) == KEYPAIR["privateKeyMultibase"]


def test_signing_the_specification_example_reproduces_it_byte_for_byte() -> None:
    signed = sign_example()
    assert json.dumps(signed, indent=2, ensure_ascii=False) == SIGNED_TEXT
    proof_value = signed["proof"]["proofValue"]
    assert multikey.decode_multibase(proof_value).hex() == SIG_HEX


def test_the_specification_example_verifies() -> None:
    result = vc.verify_proof(SIGNED, vc.fixed_key(PUBLIC))
    assert result.verified, result.reason


def test_independent_check_from_canonical_bytes_with_cryptography() -> None:
    # Rebuild the signed bytes by hand from the spec's algorithm, without loopnode.protocol.vc.
    signed = sign_example()
    proof = dict(signed["proof"])
    signature = multikey.decode_multibase(proof.pop("proofValue"))
    document = {k: v for k, v in signed.items() if k != "proof"}
    config_hash = hashlib.sha256(rfc8785.dumps(proof)).digest()
    document_hash = hashlib.sha256(rfc8785.dumps(document)).digest()
    PUBLIC.verify(signature, config_hash + document_hash)  # raises if wrong


def tampered(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SIGNED)
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        ("subject", lambda d: d["credentialSubject"].update(alumniOf="Elsewhere"), "signature"),
        ("issuer", lambda d: d.update(issuer="https://evil.example/issuers/1"), "issuer"),
        ("added field", lambda d: d.update(extra=1), "signature"),
        ("created", lambda d: d["proof"].update(created="2024-02-24T23:36:38Z"), "signature"),
        ("cryptosuite", lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022"), "crypto"),
        ("unknown suite", lambda d: d["proof"].update(cryptosuite="eddsa-jcs-2099"), "crypto"),
        ("proof type", lambda d: d["proof"].update(type="Ed25519Signature2020"), "type"),
        ("purpose", lambda d: d["proof"].update(proofPurpose="authentication"), "purpose"),
        ("context", lambda d: d.update({"@context": [vc.VC_V2_CONTEXT]}), "@context"),
        ("no proof", lambda d: d.pop("proof"), "proof"),
        ("proof list", lambda d: d.update(proof=[d["proof"]]), "proof"),
        ("short value", lambda d: d["proof"].update(proofValue="z3xyz"), "64-byte"),
        ("not base58", lambda d: d["proof"].update(proofValue="z0OIl"), "base58"),
        ("no multibase", lambda d: d["proof"].update(proofValue="u" + "A" * 86), "multibase"),
        ("bad created", lambda d: d["proof"].update(created="yesterday"), "dateTimeStamp"),
    ],
)
def test_a_changed_credential_is_rejected(name: str, change: Any, reason: str) -> None:
    result = vc.verify_proof(tampered(change), vc.fixed_key(PUBLIC))
    assert not result.verified, name
    assert reason in result.reason


def test_a_changed_issuer_resigned_with_the_same_key_still_fails_the_controller_check() -> None:
    doc = unsigned()
    doc["issuer"] = "https://evil.example/issuers/1"
    resigned = vc.add_proof(
        doc,
        PRIVATE,
        verification_method=SIGNED["proof"]["verificationMethod"],
        created=SIGNED["proof"]["created"],
    )
    result = vc.verify_proof(resigned, vc.fixed_key(PUBLIC))
    assert not result.verified
    assert "issuer" in result.reason


def test_a_wrong_key_is_rejected() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    result = vc.verify_proof(SIGNED, vc.fixed_key(other))
    assert not result.verified
    assert "signature" in result.reason


def test_an_unresolvable_verification_method_is_rejected() -> None:
    result = vc.verify_proof(SIGNED, lambda _method: None)
    assert not result.verified
    assert "resolve" in result.reason


@pytest.mark.parametrize("value", [None, 3, "x", [], {"proof": "x"}, {"proof": {}}])
def test_garbage_never_raises(value: Any) -> None:
    assert not vc.verify_proof(value, vc.fixed_key(PUBLIC)).verified


def test_signing_refuses_other_suites_and_bad_times_and_existing_proofs() -> None:
    with pytest.raises(vc.ProofRejected):
        vc.add_proof(SIGNED, PRIVATE, verification_method="x#y", created="2023-01-01T00:00:00Z")
    with pytest.raises(vc.ProofRejected):
        vc.add_proof(unsigned(), PRIVATE, verification_method="x#y", created="2023-01-01")


def test_a_document_without_context_is_signed_without_a_proof_context() -> None:
    doc = {"issuer": "did:web:a.example", "n": 1}
    signed = vc.add_proof(
        doc, PRIVATE, verification_method="did:web:a.example#k", created="2026-01-01T00:00:00Z"
    )
    assert "@context" not in signed["proof"]
    assert vc.verify_proof(signed, vc.fixed_key(PUBLIC)).verified


# JSON values RFC 8785 can represent: safe integers, finite floats, strings without lone
# surrogates.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_SUBJECTS = st.dictionaries(st.text(min_size=1, max_size=8), _JSON, min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(_SUBJECTS)
def test_any_signed_document_verifies_and_any_subject_change_breaks_it(subject: dict) -> None:
    doc = {
        "@context": [vc.VC_V2_CONTEXT],
        "issuer": "did:web:a.example",
        "credentialSubject": subject,
    }
    signed = vc.add_proof(
        doc, PRIVATE, verification_method="did:web:a.example#k", created="2026-01-01T00:00:00Z"
    )
    assert vc.verify_proof(signed, vc.fixed_key(PUBLIC)).verified
    key = sorted(subject)[0]
    changed = copy.deepcopy(signed)
    changed["credentialSubject"][key] = [changed["credentialSubject"][key]]
    assert not vc.verify_proof(changed, vc.fixed_key(PUBLIC)).verified
