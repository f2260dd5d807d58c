"""Profile findings for one payload: what the battery, packaging and waste-shipment profiles say.

Theory of operation (SPEC-DIGEST §6.2-6.4; `profiles/*/requirements/*.json`; issue 13 item 2).
The profiles add no wire format: their schema-shape requirements are the core schemas, which
registration already enforces (400). What is left are semantic requirements, which the profiles
themselves call guidance, so a node reports them as findings and still registers the record:

* `warning`: the record breaks a profile rule the conformance vectors test
  (`protocol.regulatory`: battery category mapping, PPWR category mapping, waste-shipment
  access tier);
* `info`: a recommendation the requirement sets make without testing it (a battery without the
  `battery-passport` regime tag, a hazardous passport without safety information, waste
  shipped without a retention window).

Every rule names the requirement it comes from; a rule that does not apply says nothing, and a
payload that is not an object has no findings (validation reports that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from loopnode.protocol.regulatory import (
    check_battery_category,
    check_ppwr_reusable_category,
    check_waste_shipment_not_public,
)

__all__ = ["RULES", "Finding", "Rule", "lint"]

Severity = Literal["warning", "info"]


@dataclass(frozen=True, slots=True)
class Finding:
    profile: str
    requirement: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "profile": self.profile,
            "requirement": self.requirement,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    profile: str
    requirement: str
    severity: Severity
    check: Callable[[Mapping[str, Any]], list[str]]


def _block(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, Mapping) else {}


def battery_regime_tag(payload: Mapping[str, Any]) -> list[str]:
    category = _block(payload, "classification").get("battery_category")
    if payload.get("@type") != "MaterialDNA" or not category:
        return []
    regimes = _block(payload, "passport").get("supported_regimes")
    if isinstance(regimes, list) and "battery-passport" in regimes:
        return []
    return [
        "classification.battery_category is set but passport.supported_regimes does not "
        'include "battery-passport": tag the record so Battery Passport consumers find it.'
    ]


def hazardous_without_safety_info(payload: Mapping[str, Any]) -> list[str]:
    passport = _block(payload, "passport")
    if passport.get("hazardous") is not True or passport.get("material_safety_info_url"):
        return []
    return [
        "passport.hazardous is true but passport.material_safety_info_url is missing: the "
        "battery profile recommends linking the safety information."
    ]


def waste_shipment_retention(payload: Mapping[str, Any]) -> list[str]:
    if payload.get("@type") != "Transfer" or not payload.get("waste_shipment_doc_ref"):
        return []
    if _block(payload, "traceability").get("retention_until"):
        return []
    return [
        "waste_shipment_doc_ref is set but traceability.retention_until is missing: the "
        "waste-shipment profile records the retention window (WSR: at least 5 years)."
    ]


RULES: Final[tuple[Rule, ...]] = (
    Rule("battery", "BATTERY-REQ-CATEGORY-MAPPING", "warning", check_battery_category),
    Rule("battery", "BATTERY-REQ-REGIME-TAGGING", "info", battery_regime_tag),
    Rule(
        "battery", "BATTERY-REQ-HAZARD-AND-DECLARED-VALUES", "info", hazardous_without_safety_info
    ),
    Rule("packaging", "PACKAGING-REQ-CATEGORY-MAPPING", "warning", check_ppwr_reusable_category),
    Rule(
        "waste-shipment",
        "WASTE-SHIPMENT-REQ-ACCESS-TIER-NO-PUBLIC",
        "warning",
        check_waste_shipment_not_public,
    ),
    Rule("waste-shipment", "WASTE-SHIPMENT-REQ-RETENTION", "info", waste_shipment_retention),
)


def lint(payload: object) -> list[Finding]:
    """Every finding of every profile rule on `payload` (in rule order)."""
    if not isinstance(payload, Mapping):
        return []
    findings = []
    for rule in RULES:
        try:
            messages = rule.check(payload)
        except (TypeError, AttributeError):  # the JS-semantics checks throw on odd shapes
            continue
        findings += [Finding(rule.profile, rule.requirement, rule.severity, m) for m in messages]
    return findings
