"""Core-dp append-only evidence: the immutable subset never changes.

Theory of operation (SPEC-DIGEST §1.14 "Evidence entry", §4.5; core-dp README "Evidence";
check `core-dp-evidence-immutable-subset`): an evidence entry repeats `event_id`, `sequence`,
`subject`, `event_type` and `payload_hash_sha256` in its `immutable` block; redaction may
change anything else but never that block, so the copies must agree (subjects compared as
canonical JSON).
"""

from __future__ import annotations

import json
from typing import Final

from loopnode.protocol.canonical import CanonicalizationFailed, canonical_bytes
from loopnode.protocol.coredp._js import MISSING, get, strict_eq

__all__ = ["IMMUTABLE_FIELDS", "check_immutable_subset"]

IMMUTABLE_FIELDS: Final = ("event_id", "sequence", "event_type", "payload_hash_sha256")


def check_immutable_subset(entry: object) -> list[str]:
    """`core-dp-evidence-immutable-subset`, in the upstream harness's wording."""
    if entry is None:
        raise TypeError("Cannot read properties of null (reading 'immutable')")
    failures = [
        f"immutable.{name} must match top-level {name}."
        for name in IMMUTABLE_FIELDS
        if not strict_eq(get(entry, "immutable", name), get(entry, name))
    ]
    if not _same_json(get(entry, "immutable", "subject"), get(entry, "subject")):
        failures.append("immutable.subject must match top-level subject.")
    return failures


def _same_json(left: object, right: object) -> bool:
    if left is MISSING or right is MISSING:
        return left is right
    try:
        return canonical_bytes(left) == canonical_bytes(right)
    except CanonicalizationFailed:
        return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
