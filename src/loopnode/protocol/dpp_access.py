"""Which passport fields a public resolver page may show (ESPR-style differentiated access).

Theory of operation (SPEC-DIGEST §6.1 "access_scope vs visible_to", the upstream
access-scope model; issue 13 item 6): `passport.visible_to` is a cumulative minimum audience
tier, public ⊂ operator ⊂ regulator. The public view keeps the public tier and removes:

* operator-tier data: the `traceability` and `classification` blocks, `metadata.batch_number`;
* regulator-tier data: `passport.due_diligence_ref`, `passport.document_refs`,
  `passport.substances_of_concern`, `passport.conformity_declaration_ref`,
  `passport.verification_evidence_url`, `waste_shipment_doc_ref`, and every conformity claim's
  `conformity_evidence_url`;
* the whole `passport` block when the record itself says it is not public (`visible_to`
  operator/regulator, or `access_scope` role-based/restricted).

`restrict` is pure: it returns a new document and the JSON pointers it removed, so a page can
say that something was withheld without saying what it contained.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["restrict"]

_OPERATOR_BLOCKS: Final = ("traceability", "classification")
_REGULATOR_FIELDS: Final = ("waste_shipment_doc_ref",)
_REGULATOR_PASSPORT_FIELDS: Final = (
    "due_diligence_ref",
    "document_refs",
    "substances_of_concern",
    "conformity_declaration_ref",
    "verification_evidence_url",
)
_PUBLIC_VALUES: Final = {"visible_to": "public", "access_scope": "public"}


def restrict(document: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The public view of a passport and the JSON pointers of what it leaves out."""
    view = copy.deepcopy(dict(document))
    hidden: list[str] = []
    for name in (*_OPERATOR_BLOCKS, *_REGULATOR_FIELDS):
        if name in view:
            del view[name]
            hidden.append(f"/{name}")
    metadata = view.get("metadata")
    if isinstance(metadata, dict) and "batch_number" in metadata:
        del metadata["batch_number"]
        hidden.append("/metadata/batch_number")
    hidden += _restrict_passport(view)
    hidden += _restrict_claims(view)
    return view, hidden


def _restrict_passport(view: dict[str, Any]) -> list[str]:
    passport = view.get("passport")
    if not isinstance(passport, dict):
        return []
    if any(name in passport and passport[name] != value for name, value in _PUBLIC_VALUES.items()):
        del view["passport"]
        return ["/passport"]
    hidden = []
    for name in _REGULATOR_PASSPORT_FIELDS:
        if name in passport:
            del passport[name]
            hidden.append(f"/passport/{name}")
    return hidden


def _restrict_claims(view: dict[str, Any]) -> list[str]:
    claims = view.get("conformity_claims")
    if not isinstance(claims, list):
        return []
    hidden = []
    for index, claim in enumerate(claims):
        if isinstance(claim, dict) and "conformity_evidence_url" in claim:
            del claim["conformity_evidence_url"]
            hidden.append(f"/conformity_claims/{index}/conformity_evidence_url")
    return hidden
