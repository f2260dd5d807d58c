"""Core-dp EPCIS 2.0.1 / CBV 2.0 mapping fixtures: a conservative subset, never a full claim.

Theory of operation (SPEC-DIGEST §1.14 "EPCIS mapping", §4.10; check
`core-dp-epcis-mapping-semantics`): core-dp maps a few evidence events to EPCIS
`ObjectEvent`s whose `epcList` names the core-dp subject as `urn:loop:{type}:{id}`; it never
claims full EPCIS conformance.
"""

from __future__ import annotations

from typing import Final

from loopnode.protocol.coredp._js import MISSING, get, strict_eq, text, truthy

__all__ = ["CBV_VERSION", "EPCIS_VERSION", "check_epcis_mapping", "epc_urn"]

EPCIS_VERSION: Final = "2.0.1"
CBV_VERSION: Final = "2.0"


def epc_urn(subject_type: str, subject_id: str) -> str:
    return f"urn:loop:{subject_type}:{subject_id}"


def check_epcis_mapping(body: object) -> list[str]:
    """`core-dp-epcis-mapping-semantics`, in the upstream harness's wording."""
    failures = []
    if get(body, "full_epcis_conformance_claimed") is True:
        failures.append("Core-DP EPCIS metadata must not claim full EPCIS conformance.")
    if truthy(get(body, "epcis_subset_event")):
        mapping_type = text(get(body, "core_dp_mapping", "subject_type"))
        mapping_id = text(get(body, "core_dp_mapping", "subject_id"))
        expected = epc_urn(mapping_type, mapping_id)
        if not _includes(get(body, "epcis_subset_event", "epcList"), expected):
            failures.append(f"EPCIS epcList must include mapped Core-DP subject {expected}.")
    return failures


def _includes(container: object, item: str) -> bool:
    """JS `container?.includes(item)`: substring for strings, element for arrays."""
    if container is MISSING or container is None:
        return False
    if isinstance(container, str):
        return item in container
    if isinstance(container, list):
        return any(strict_eq(element, item) for element in container)
    raise TypeError("epcList.includes is not a function")
