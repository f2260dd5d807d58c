"""Core-dp DNA register/read operations: the rules the schema cannot express.

Theory of operation (SPEC-DIGEST §1.14 "DNA operation", §4.8; check
`core-dp-dna-operation-contract`): a `material.*`/`product.*` body must agree with its own
message type (register vs read operation, material vs product entity and id pattern), the
record it carries must be the one it names (`record.id`, `@type`), a `found` read result
carries the record and a `not_found`/`error` one does not, failing statuses explain
themselves with core-dp errors and successful ones carry none.
"""

from __future__ import annotations

from typing import Final

from loopnode.protocol.coredp._js import get, strict_eq, text, truthy
from loopnode.protocol.coredp.ajv_compat import ecma_regex

__all__ = ["MATERIAL_ID_PATTERN", "PRODUCT_ID_PATTERN", "check_dna_operation"]

MATERIAL_ID_PATTERN: Final = r"^MAT-[A-Z]{2}-[A-Z]{3}-\d{4}-[A-Z]+-[A-Z0-9]{6,}$"
PRODUCT_ID_PATTERN: Final = r"^PRD-[A-Z0-9-]{8,}$"
_NEEDS_ERRORS: Final = ("invalid", "conflict", "error", "not_found")
_FORBIDS_ERRORS: Final = ("registered", "found")


def _starts(value: object, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix)


def _ends(value: object, suffix: str) -> bool:
    return isinstance(value, str) and value.endswith(suffix)


def check_dna_operation(body: object) -> list[str]:
    """`core-dp-dna-operation-contract`, in the upstream harness's wording."""
    failures = _kind_failures(body) + _record_failures(body)
    status = get(body, "result", "status")
    if strict_eq(get(body, "operation"), "read_result"):
        if strict_eq(status, "found") and not truthy(get(body, "record")):
            failures.append("DNA operation read_result with found status must include the record.")
        if status in ("not_found", "error") and truthy(get(body, "record")):
            failures.append(f"DNA operation read_result status {status} must not include a record.")
    if truthy(status) and isinstance(status, str):
        errors = get(body, "result", "errors")
        if status in _NEEDS_ERRORS and not (isinstance(errors, list) and errors):
            failures.append(
                f"DNA operation result status {status} must include Core-DP error details."
            )
        if status in _FORBIDS_ERRORS and truthy(errors):
            failures.append(f"DNA operation result status {status} must not include errors.")
    return failures


def _kind_failures(body: object) -> list[str]:
    mt, operation = get(body, "message_type"), get(body, "operation")
    entity = "material" if _starts(mt, "material.") else "product"
    expected_kind = "register" if _ends(mt, ".register") else "read"
    actual_kind = "register" if _starts(operation, "register_") else "read"
    failures = []
    if actual_kind != expected_kind:
        failures.append(f"DNA operation {text(operation)} does not match message_type {text(mt)}.")
    if not strict_eq(get(body, "entity_type"), entity):
        failures.append(
            f"DNA operation entity_type {text(get(body, 'entity_type'))} does not match "
            f"message_type {text(mt)}."
        )
    record_id = get(body, "record_id")
    pattern = ecma_regex(MATERIAL_ID_PATTERN if entity == "material" else PRODUCT_ID_PATTERN)
    if truthy(record_id) and not pattern.search(text(record_id)):
        failures.append(
            f"DNA operation record_id {text(record_id)} does not match "
            f"{text(get(body, 'entity_type'))} id pattern."
        )
    return failures


def _record_failures(body: object) -> list[str]:
    failures = []
    record_id, inner_id = get(body, "record_id"), get(body, "record", "id")
    if truthy(inner_id) and truthy(record_id) and not strict_eq(inner_id, record_id):
        failures.append("DNA operation record_id must match record.id.")
    record_type = get(body, "record", "@type")
    if truthy(record_type):
        material = strict_eq(get(body, "entity_type"), "material")
        expected = "MaterialDNA" if material else "ProductDNA"
        if not strict_eq(record_type, expected):
            failures.append(f"DNA operation record @type must be {expected}.")
    return failures
