"""A LOOP passport (MaterialDNA / ProductDNA) as an unsigned W3C Verifiable Credential 2.0.

Theory of operation (VC Data Model 2.0 §4; issue 13 item 5; spec §13.1 DPP compatibility): the
credential's subject is the passport exactly as the node stores it (its own `@context` moves up
into the credential's context list, after the VC v2 context, so every LOOP term keeps its
meaning); the issuer is the node, named by its did:web identifier; `validFrom` is the instant
the node registered the passport. The proof is added by `protocol.vc.add_proof`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.protocol.vc import VC_V2_CONTEXT

__all__ = ["CREDENTIAL_TYPES", "passport_credential"]

CREDENTIAL_TYPES = {
    "material": ["VerifiableCredential", "DigitalProductPassport", "MaterialPassportCredential"],
    "product": ["VerifiableCredential", "DigitalProductPassport", "ProductPassportCredential"],
}


def passport_credential(
    kind: str,
    record: Mapping[str, Any],
    *,
    credential_id: str,
    issuer_did: str,
    issuer_name: str,
    valid_from: str,
) -> dict[str, Any]:
    """The unsigned credential wrapping `record` (never modified)."""
    subject = copy.deepcopy(dict(record))
    subject.pop("status", None)
    record_context = subject.pop("@context", CONTEXT_V020)
    contexts = record_context if isinstance(record_context, list) else [record_context]
    return {
        "@context": [VC_V2_CONTEXT, *[c for c in contexts if c != VC_V2_CONTEXT]],
        "id": credential_id,
        "type": list(CREDENTIAL_TYPES[kind]),
        "name": f"LOOP {kind} passport {record.get('id', '')}".strip(),
        "issuer": {"id": issuer_did, "name": issuer_name},
        "validFrom": valid_from,
        "credentialSubject": subject,
    }
