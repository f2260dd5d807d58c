"""Core-dp search requests and responses: the rules beyond the schema.

Theory of operation (SPEC-DIGEST §1.14 "Search contract", §4.7, §7 item 40; check
`core-dp-search-contract-semantics`): a cross-node search must authenticate with a node
signature (and be `eventual`, which the schema enforces once `scope` is present); a strict
material search rejects the product-only `condition` filter; results are MAT-/PRD- records
of the searched entity; a response claiming `snapshot` consistency names its snapshot.
When building cross-node requests, always send `scope`, `auth` and `consistency` explicitly.
"""

from __future__ import annotations

from loopnode.protocol.coredp._js import MISSING, get, strict_eq, text, truthy

__all__ = ["check_search_contract"]


def check_search_contract(body: object) -> list[str]:
    """`core-dp-search-contract-semantics`, in the upstream harness's wording."""
    failures = []
    cross_node = strict_eq(get(body, "scope"), "cross-node")
    if cross_node and not strict_eq(get(body, "auth", "mode"), "node-signature"):
        failures.append("cross-node search must use node-signature auth.")
    material = strict_eq(get(body, "entity_type"), "material")
    condition = get(body, "filters", "condition")
    if material and condition is not MISSING and get(body, "strict_filtering") is True:
        failures.append("strict material search must reject condition filter.")
    results = get(body, "results")
    if truthy(results):
        failures.extend(_result_failures(body, results))
    return failures


def _result_failures(body: object, results: object) -> list[str]:
    if not isinstance(results, list):
        raise TypeError("payload.results.entries is not a function")
    entity = get(body, "entity_type")
    failures = []
    for index, result in enumerate(results):
        if result is None:
            raise TypeError("Cannot read properties of null (reading 'id')")
        result_id = text(get(result, "id"))
        if strict_eq(entity, "material") and not result_id.startswith("MAT-"):
            failures.append(f"material search result {index} id must use MAT- prefix.")
        if strict_eq(entity, "product") and not result_id.startswith("PRD-"):
            failures.append(f"product search result {index} id must use PRD- prefix.")
    snapshot = strict_eq(get(body, "consistency", "mode"), "snapshot")
    if snapshot and not truthy(get(body, "consistency", "snapshot_id")):
        failures.append("snapshot search response must include snapshot_id.")
    return failures
