"""Rules of the regulatory extension-guidance profiles (battery, packaging, waste shipment).

Theory of operation (SPEC-DIGEST §5.3, §6.2-6.4; `profiles/*/requirements/*.json`): these
profiles add no wire format; they pin how core v0.2.0 fields are used and add one semantic
rule each, checked on top of the core schemas:

- battery (`BATTERY-REQ-CATEGORY-MAPPING`): a MaterialDNA that sets
  `classification.battery_category` is a battery at end of life, so its `category` is
  `ewaste-batteries` (ProductDNA has no classification and is exempt);
- packaging (`PACKAGING-REQ-CATEGORY-MAPPING`): a ProductDNA whose
  `passport.supported_regimes` includes `ppwr` is reusable packaging, so its
  `product_category` is `packaging-reusable` (MaterialDNA waste streams are exempt);
- waste shipment (`WASTE-SHIPMENT-REQ-ACCESS-TIER-NO-PUBLIC`): DIWASS has no public tier, so a
  Transfer with a `waste_shipment_doc_ref` is never `passport.visible_to: public`.

Failure texts follow the upstream harnesses, which the profiles' vectors match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from loopnode.protocol.coredp._js import MISSING, get, strict_eq, text, truthy

__all__ = [
    "REGULATORY_CHECKS",
    "check_battery_category",
    "check_ppwr_reusable_category",
    "check_waste_shipment_not_public",
]


def check_battery_category(payload: object) -> list[str]:
    """`battery-category-implies-ewaste-category`."""
    battery_category = get(payload, "classification", "battery_category")
    if not truthy(battery_category) or not strict_eq(_type(payload), "MaterialDNA"):
        return []
    category = get(payload, "category")
    if strict_eq(category, "ewaste-batteries"):
        return []
    return [
        f'classification.battery_category is set ("{text(battery_category)}") but category is '
        f'"{text(category)}", not "ewaste-batteries" — profiles/battery/README.md documents '
        "ewaste-batteries as the MaterialDNA category for batteries at end of life."
    ]


def check_ppwr_reusable_category(payload: object) -> list[str]:
    """`packaging-ppwr-regime-implies-reusable-category`."""
    regimes = get(payload, "passport", "supported_regimes")
    if not strict_eq(_type(payload), "ProductDNA") or not _includes(regimes, "ppwr"):
        return []
    category = get(payload, "product_category")
    if strict_eq(category, "packaging-reusable"):
        return []
    return [
        f'passport.supported_regimes includes "ppwr" but product_category is "{text(category)}", '
        'not "packaging-reusable" — profiles/packaging/README.md maps PPWR-relevant ProductDNA '
        "records to product_category packaging-reusable."
    ]


def check_waste_shipment_not_public(payload: object) -> list[str]:
    """`waste-shipment-doc-ref-visibility-not-public`."""
    if not strict_eq(_type(payload), "Transfer"):
        return []
    if not truthy(get(payload, "waste_shipment_doc_ref")) or not truthy(get(payload, "passport")):
        return []
    if not strict_eq(get(payload, "passport", "visible_to"), "public"):
        return []
    return [
        'waste_shipment_doc_ref is set but passport.visible_to is "public" — '
        "profiles/waste-shipment/README.md and docs/access-scope-model.md document that DIWASS "
        "has no public access tier, so a waste-shipment record should not be marked "
        "visible_to: public."
    ]


def _type(payload: object) -> object:
    if payload is None:
        raise TypeError("Cannot read properties of null (reading '@type')")
    return get(payload, "@type")


def _includes(container: object, item: str) -> bool:
    """JS `(x || []).includes(item)`: substring for strings, element for arrays."""
    if not truthy(container) or container is MISSING:
        return False
    if isinstance(container, str):
        return item in container
    if isinstance(container, list):
        return any(strict_eq(element, item) for element in container)
    raise TypeError("supported_regimes.includes is not a function")


REGULATORY_CHECKS: Final[Mapping[str, Callable[[object], list[str]]]] = {
    "battery-category-implies-ewaste-category": check_battery_category,
    "packaging-ppwr-regime-implies-reusable-category": check_ppwr_reusable_category,
    "waste-shipment-doc-ref-visibility-not-public": check_waste_shipment_not_public,
}
