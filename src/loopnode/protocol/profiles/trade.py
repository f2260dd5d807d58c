"""Profile findings for offers, matches and transfers: what trading a passport owes its profiles.

Theory of operation (`profiles/*/requirements/*.json`; issue 13 item 2). A trade entity alone
rarely says which regulation applies: the passport it moves does (`passport.supported_regimes`,
`product_category`), so these rules read the entity together with its subject passport and
the cities the goods leave and reach. Like registration they answer findings, never refusals:

* waste shipment: a passport tagged `waste-shipment` that leaves its city is a shipment under
  the Waste Shipment Regulation, which needs a notification/consent document before the goods
  move, referenced by `Transfer.waste_shipment_doc_ref` (WASTE-SHIPMENT-REQ-DOC-REF). The
  Transfer without it is a warning; its offer and match get an info saying the transfer will
  need it. LOOP cities are free text without a country, so the node cannot tell a border from a
  city line and treats every move between cities of such a passport as the shipment. A
  Transfer with the reference and no supporting `traceability.document_refs` is an info
  (WASTE-SHIPMENT-REQ-EVIDENCE-REFS); the Transfer-only rules of `lint` (access tier,
  retention) apply as well;
* packaging: a Transfer of a ProductDNA tagged `ppwr` carries the pooling cycle in
  `traceability.batch_id` (PACKAGING-REQ-POOL-TRACKING, info);
* battery: the battery requirement set says nothing about offers, matches or transfers.

An entity no rule applies to has an empty list of findings, and answers say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopnode.protocol.profiles.lint import Finding, lint

__all__ = ["Route", "lint_trade"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where the goods of a trade leave from and go to (either may be unknown)."""

    from_city: str | None
    to_city: str | None

    @property
    def leaves_city(self) -> bool:
        if not self.from_city or not self.to_city or self.to_city.casefold() == "any":
            return False
        return self.from_city.casefold() != self.to_city.casefold()


def lint_trade(
    entity: Mapping[str, Any], subject: Mapping[str, Any] | None, route: Route
) -> list[Finding]:
    """Every finding on the Offer, Match or Transfer `entity` moving `subject` along `route`."""
    kind = entity.get("@type")
    findings = lint(entity) if kind == "Transfer" else []
    passport = subject or {}
    if _tagged(passport, "waste-shipment") or _tagged(entity, "waste-shipment"):
        findings += _waste_shipment(kind, entity, passport, route)
    if _pool_untracked(kind, entity, passport):
        findings.append(
            Finding(
                "packaging",
                "PACKAGING-REQ-POOL-TRACKING",
                "info",
                f"{passport.get('id')} is PPWR packaging but the transfer has no "
                "traceability.batch_id: record the pooling cycle it travels in.",
            )
        )
    return findings


def _waste_shipment(
    kind: object, entity: Mapping[str, Any], passport: Mapping[str, Any], route: Route
) -> list[Finding]:
    subject = passport.get("id") or entity.get("material_id") or entity.get("product_id")
    doc_ref = entity.get("waste_shipment_doc_ref")
    if kind == "Transfer" and doc_ref and not _block(entity, "traceability").get("document_refs"):
        return [
            Finding(
                "waste-shipment",
                "WASTE-SHIPMENT-REQ-EVIDENCE-REFS",
                "info",
                "waste_shipment_doc_ref is set but traceability.document_refs is empty: list the "
                "supporting documents (consent correspondence, financial guarantee).",
            )
        ]
    if doc_ref or not route.leaves_city:
        return []
    leg = f"from {route.from_city} to {route.to_city}"
    if kind == "Transfer":
        return [
            Finding(
                "waste-shipment",
                "WASTE-SHIPMENT-REQ-DOC-REF",
                "warning",
                f"{subject} is tagged waste-shipment and moves {leg} without "
                "waste_shipment_doc_ref: a waste shipment needs its notification/consent "
                "document (the DIWASS/TRACES NT record) before the goods move.",
            )
        ]
    return [
        Finding(
            "waste-shipment",
            "WASTE-SHIPMENT-REQ-DOC-REF",
            "info",
            f"{subject} is tagged waste-shipment and would move {leg}: its transfer will need "
            "waste_shipment_doc_ref, the notification/consent document of the shipment.",
        )
    ]


def _pool_untracked(kind: object, entity: Mapping[str, Any], passport: Mapping[str, Any]) -> bool:
    if kind != "Transfer" or passport.get("@type") != "ProductDNA":
        return False
    return _tagged(passport, "ppwr") and not _block(entity, "traceability").get("batch_id")


def _tagged(document: Mapping[str, Any], regime: str) -> bool:
    regimes = _block(document, "passport").get("supported_regimes")
    return isinstance(regimes, list) and regime in regimes


def _block(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = document.get(name)
    return value if isinstance(value, Mapping) else {}
