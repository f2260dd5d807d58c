"""Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite, for passport credentials.

Theory of operation (W3C "Data Integrity EdDSA Cryptosuites v1.0" §3.3; VC Data Model 2.0;
issue 13 item 5). A credential is secured by one `proof` object:

* **Proof configuration**: the proof options (`type` DataIntegrityProof, `cryptosuite`
  eddsa-jcs-2022, `created`, `verificationMethod`, `proofPurpose`) plus, when the document has
  one, the document's `@context`; `created` must be an XML Schema dateTimeStamp.
* **Transformation**: the document without `proof`, canonicalised by RFC 8785 (JCS).
* **Hashing**: SHA-256 of the canonical proof configuration, then SHA-256 of the canonical
  document, concatenated (64 bytes; the configuration hash first).
* **Serialisation**: Ed25519 over those 64 bytes; `proofValue` is the signature in multibase
  base58-btc (`z…`).

Verification repeats the steps from the secured document: the proof without `proofValue` is
the configuration; a proof `@context` must be a prefix of the document's and then replaces it.
On top of the cryptosuite, `verify_proof` checks the binding the issuer relies on: the
verification method must belong to the issuer (its id before `#` is the issuer's id) and the
proof purpose must be the expected one. `verify_proof` is a predicate for untrusted input: it
never raises and reports the first reason a proof fails.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol import multikey
from loopnode.protocol.canonical import CanonicalizationFailed, canonical_bytes

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "VC_V2_CONTEXT",
    "KeyResolver",
    "ProofRejected",
    "Verification",
    "add_proof",
    "fixed_key",
    "hash_data",
    "proof_configuration",
    "verify_proof",
]

CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
ASSERTION = "assertionMethod"
SIGNATURE_BYTES = 64
# XML Schema 1.1 dateTimeStamp: a dateTime that must carry a time zone.
_DATETIME_STAMP = re.compile(
    r"-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?|24:00:00(\.0+)?)"
    r"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))\Z"
)

KeyResolver = Callable[[str], Ed25519PublicKey | None]
"""Maps a verificationMethod URL to the public key it names, or None when it names none."""


class ProofRejected(InvalidRequest):
    """A document or proof option the cryptosuite refuses (raised while signing)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict on one secured document; `reason` is empty when `verified`."""

    verified: bool
    reason: str = ""
    verification_method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verified": self.verified, "cryptosuite": CRYPTOSUITE}
        if self.verification_method is not None:
            out["verificationMethod"] = self.verification_method
        if self.reason:
            out["reason"] = self.reason
        return out


def add_proof(
    unsecured: Mapping[str, Any],
    key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: str,
    proof_purpose: str = ASSERTION,
) -> dict[str, Any]:
    """The document with an eddsa-jcs-2022 proof appended (the input is left unchanged)."""
    if not isinstance(unsecured, Mapping) or "proof" in unsecured:
        raise ProofRejected("the document must be a JSON object without a proof")
    options: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    config = proof_configuration(unsecured, options)
    signature = key.sign(hash_data(unsecured, config))
    secured = copy.deepcopy(dict(unsecured))
    secured["proof"] = {**config, "proofValue": multikey.encode_multibase(signature)}
    return secured


def proof_configuration(unsecured: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The §3.3.5 proof configuration: the options plus the document's `@context`, checked."""
    config = copy.deepcopy(dict(options))
    config.pop("proofValue", None)
    if config.get("type") != PROOF_TYPE or config.get("cryptosuite") != CRYPTOSUITE:
        raise ProofRejected(
            f"proof type must be {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}",
            {"type": config.get("type"), "cryptosuite": config.get("cryptosuite")},
        )
    created = config.get("created")
    if created is not None and not (isinstance(created, str) and _DATETIME_STAMP.match(created)):
        raise ProofRejected("proof created must be an XML Schema dateTimeStamp")
    if "@context" in unsecured:
        config["@context"] = copy.deepcopy(unsecured["@context"])
    return config


def hash_data(unsecured: Mapping[str, Any], config: Mapping[str, Any]) -> bytes:
    """SHA-256(JCS(proof configuration)) followed by SHA-256(JCS(document)), 64 bytes."""
    config_hash = hashlib.sha256(canonical_bytes(dict(config))).digest()
    document_hash = hashlib.sha256(canonical_bytes(dict(unsecured))).digest()
    return config_hash + document_hash


def verify_proof(
    secured: object,
    resolve: KeyResolver,
    *,
    expected_purpose: str = ASSERTION,
) -> Verification:
    """Check the eddsa-jcs-2022 proof of `secured` with the key `resolve` finds. Never raises."""
    try:
        return _verify(secured, resolve, expected_purpose)
    except (ProofRejected, CanonicalizationFailed, multikey.MultikeyError) as exc:
        return Verification(False, str(exc), _method_of(secured))


def fixed_key(key: Ed25519PublicKey) -> KeyResolver:
    """A resolver that answers `key` for every verification method (`vc verify --public-key`)."""
    return lambda _method: key


def _verify(secured: object, resolve: KeyResolver, purpose: str) -> Verification:
    if not isinstance(secured, Mapping):
        return Verification(False, "a secured document must be a JSON object")
    proof = secured.get("proof")
    if not isinstance(proof, Mapping):
        return Verification(False, "the document has no single proof object")
    method = proof.get("verificationMethod")
    if not isinstance(method, str):
        return Verification(False, "the proof has no verificationMethod")
    failure = _check_options(secured, proof, purpose)
    if failure:
        return Verification(False, failure, method)
    signature = multikey.decode_multibase(proof.get("proofValue"))
    if len(signature) != SIGNATURE_BYTES:
        return Verification(False, "proofValue is not a 64-byte Ed25519 signature", method)
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        unsecured["@context"] = options["@context"]
    config = proof_configuration(unsecured, options)
    key = resolve(method)
    if key is None:
        return Verification(False, "the verificationMethod does not resolve to a key", method)
    try:
        key.verify(signature, hash_data(unsecured, config))
    except InvalidSignature:
        return Verification(False, "the signature does not match the document", method)
    return Verification(True, "", method)


def _check_options(secured: Mapping[str, Any], proof: Mapping[str, Any], purpose: str) -> str:
    if proof.get("type") != PROOF_TYPE:
        return f"proof type {proof.get('type')!r} is not {PROOF_TYPE}"
    if proof.get("cryptosuite") != CRYPTOSUITE:
        return f"unsupported cryptosuite {proof.get('cryptosuite')!r}"
    if proof.get("proofPurpose") != purpose:
        return f"proof purpose must be {purpose}"
    if "@context" in proof and not _is_prefix(proof["@context"], secured.get("@context")):
        return "the proof @context is not a prefix of the document @context"
    issuer = _issuer_id(secured.get("issuer"))
    method = str(proof.get("verificationMethod"))
    if issuer is not None and method.split("#", 1)[0] != issuer:
        return "the verificationMethod is not controlled by the issuer"
    return ""


def _is_prefix(head: object, whole: object) -> bool:
    head_list = head if isinstance(head, list) else [head]
    whole_list = whole if isinstance(whole, list) else [whole]
    return whole_list[: len(head_list)] == head_list


def _issuer_id(issuer: object) -> str | None:
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _method_of(secured: object) -> str | None:
    proof = secured.get("proof") if isinstance(secured, Mapping) else None
    method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
    return method if isinstance(method, str) else None
