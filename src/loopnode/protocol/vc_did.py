"""The node's `did:web` identifier and DID document, and key resolution from such a document.

Theory of operation (W3C DID Core 1.0; did:web method; Controlled Identifiers v1.0 "Multikey"):
a node whose public URL is `https://host[:port]` is `did:web:host[%3Aport]` and serves its DID
document at `/.well-known/did.json`. Every key the node signs credentials with is listed as a
`Multikey` verification method whose fragment is the key's own multibase (`#z6Mk…`, as in the
W3C examples), so a credential's `verificationMethod` keeps naming the right key after a
rotation; the keys usable for credentials are the ones referenced from `assertionMethod`. A
revoked key is left out of the document, so credentials it signed stop verifying.
Resolution (`resolver_from_document`) accepts only a verification method that the document
lists under `assertionMethod`, whose controller is the document's subject, of type Multikey.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from loopnode.protocol import multikey
from loopnode.protocol.vc import KeyResolver

__all__ = [
    "DID_CONTEXT",
    "MULTIKEY_CONTEXT",
    "WELL_KNOWN_PATH",
    "did_document",
    "did_web",
    "did_web_document_url",
    "method_id",
    "resolver_from_document",
]

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
WELL_KNOWN_PATH = "/.well-known/did.json"


def did_web(base_url: str) -> str:
    """`did:web:` plus the host of `base_url`, its port percent-encoded (`%3A`)."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ValueError(f"base URL without a host: {base_url!r}")
    host = parts.hostname.lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return "did:web:" + quote(host, safe="")


def did_web_document_url(did: str) -> str:
    """Where a host-only did:web document lives (https, `/.well-known/did.json`)."""
    if not did.startswith("did:web:") or ":" in did[len("did:web:") :]:
        raise ValueError(f"not a host-only did:web identifier: {did!r}")
    host = did[len("did:web:") :].replace("%3A", ":").replace("%3a", ":")
    return f"https://{host}{WELL_KNOWN_PATH}"


def method_id(did: str, public_multibase: str) -> str:
    return f"{did}#{public_multibase}"


def did_document(did: str, public_keys: Iterable[Ed25519PublicKey | bytes]) -> dict[str, Any]:
    """The DID document listing `public_keys` (newest first) as Multikey assertion methods."""
    methods = []
    for key in public_keys:
        encoded = multikey.public_key_multibase(key)
        methods.append(
            {
                "id": method_id(did, encoded),
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": encoded,
            }
        )
    ids = [method["id"] for method in methods]
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
    }


def resolver_from_document(document: object) -> KeyResolver:
    """A resolver answering the keys `document` lists for assertions; None for anything else."""
    keys: dict[str, Ed25519PublicKey] = {}
    if isinstance(document, Mapping) and isinstance(document.get("id"), str):
        subject = document["id"]
        methods = _methods(document.get("verificationMethod"), subject)
        for ref in _as_list(document.get("assertionMethod")):
            entry = _methods([ref], subject) if isinstance(ref, Mapping) else None
            method = (entry or {}).get(_absolute(ref, subject)) or methods.get(
                _absolute(ref, subject)
            )
            if method is not None:
                keys[_absolute(ref, subject)] = method
    return keys.get


def _methods(entries: object, subject: str) -> dict[str, Ed25519PublicKey]:
    found: dict[str, Ed25519PublicKey] = {}
    for entry in _as_list(entries):
        if not isinstance(entry, Mapping) or entry.get("type") != "Multikey":
            continue
        if entry.get("controller") != subject or not isinstance(entry.get("id"), str):
            continue
        try:
            key = multikey.public_key_from_multibase(entry.get("publicKeyMultibase"))
        except multikey.MultikeyError:
            continue
        found[_absolute(entry["id"], subject)] = key
    return found


def _absolute(ref: object, subject: str) -> str:
    if isinstance(ref, Mapping):
        ref = ref.get("id")
    text = ref if isinstance(ref, str) else ""
    return subject + text if text.startswith("#") else text


def _as_list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]
