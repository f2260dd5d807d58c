"""Evidence log entries as core-dp evidence entries (SPEC-DIGEST §1.14, §3.9, §4.5; DECISIONS 22).

Theory of operation: the node's evidence log (`loopnode.domain.evidence`) is richer than the core-dp
`evidence-entry` schema, which knows six subject types and fifteen event types. Events about a
material, product, offer, match, transfer or envelope (key and capabilities events count as
envelope events, SPEC-DIGEST §7 item 39) export as entries valid against that schema:

- `event_type` is mapped by `EVENT_TYPE_MAP`; lifecycle changes without a core-dp name of their
  own (an offer reserved, a match expired, a transfer cancelled…) become `status-updated`;
- `immutable` repeats `event_id`, `sequence`, `subject`, `event_type` and `payload_hash_sha256`
  exactly (the core-dp immutable-subset check);
- entries chain through `predecessor_event_id` (the internal `prev_hash` stays internal);
- `retention` is mandatory: `retain_until` defaults to `recorded_at` + 2 years (the reference
  backend's lab default, not legal guidance), `exportable` true, `redaction_status` none, or
  `tombstoned` with the reason and `redactions` for an entry redacted by `loopnode evidence
  redact` (its immutable subset unchanged, its actor removed).

Other events (transactions, settlements, ledger, signals, node handshakes) have no core-dp
equivalent: `to_export_entry` gives them the same shape with our own subject and event types,
which is documented as an extension and is not valid against the core-dp schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.evidence import EvidenceEvent
from loopnode.domain.ids import is_node_id
from loopnode.domain.times import format_timestamp

__all__ = [
    "CORE_DP_EVENT_TYPES",
    "CORE_DP_SUBJECT_TYPES",
    "DEFAULT_RETENTION_YEARS",
    "EVENT_TYPE_MAP",
    "SUBJECT_TYPE_MAP",
    "NotExportable",
    "default_retain_until",
    "is_core_dp_exportable",
    "to_core_dp_entry",
    "to_export_entry",
]

# The `event_type` enum of DP/evidence-entry.schema.json.
CORE_DP_EVENT_TYPES: Final = frozenset(
    {
        "registered",
        "read",
        "searched",
        "offer-published",
        "offer-acked",
        "offer-rejected",
        "match-proposed",
        "match-accepted",
        "match-rejected",
        "transfer-dispatched",
        "transfer-received",
        "transfer-acked",
        "status-updated",
        "error-recorded",
        "key-rotated",
    }
)
# The `subject.type` enum of DP/evidence-entry.schema.json.
CORE_DP_SUBJECT_TYPES: Final = frozenset(
    {"material", "product", "offer", "match", "transfer", "envelope"}
)

# Our subject type -> core-dp subject type, for the subjects the schema covers.
SUBJECT_TYPE_MAP: Final[Mapping[str, str]] = {
    "material": "material",
    "product": "product",
    "offer": "offer",
    "match": "match",
    "transfer": "transfer",
    "envelope": "envelope",
    "key": "envelope",
}

# Our event type -> core-dp event type. Events about a covered subject that are not listed here
# export as `status-updated`.
EVENT_TYPE_MAP: Final[Mapping[str, str]] = {
    "material.registered": "registered",
    "product.registered": "registered",
    "material.read": "read",
    "product.read": "read",
    "material.status_updated": "status-updated",
    "product.status_updated": "status-updated",
    "offer.published": "offer-published",
    "offer.acked": "offer-acked",
    "offer.rejected": "offer-rejected",
    "match.proposed": "match-proposed",
    "match.accepted": "match-accepted",
    "match.rejected": "match-rejected",
    "transfer.in_transit": "transfer-dispatched",
    "transfer.completed": "transfer-received",
    "transfer.acked": "transfer-acked",
    "key.rotated": "key-rotated",
    "envelope.error_recorded": "error-recorded",
}
_FALLBACK_EVENT_TYPE: Final = "status-updated"

DEFAULT_RETENTION_YEARS: Final = 2
_EVENT_ID: Final = re.compile(r"^evt_[A-Za-z0-9_-]{16,80}\Z")


class NotExportable(InvalidRequest):
    """The event's subject has no core-dp evidence subject type."""


def is_core_dp_exportable(event: EvidenceEvent) -> bool:
    return event.subject_type in SUBJECT_TYPE_MAP


def default_retain_until(recorded_at: datetime) -> datetime:
    """`recorded_at` + 2 years; 29 February rolls over to 1 March, as JavaScript's Date does."""
    utc = recorded_at.astimezone(UTC)
    year = utc.year + DEFAULT_RETENTION_YEARS
    try:
        return utc.replace(year=year)
    except ValueError:
        return utc.replace(year=year, month=3, day=1)


def to_core_dp_entry(
    event: EvidenceEvent,
    predecessor_event_id: str | None,
    retain_until: datetime | None = None,
) -> dict[str, Any]:
    """The event as an entry valid against `DP/evidence-entry.schema.json`.

    `predecessor_event_id` is the previous entry's event id (None for the first entry);
    `retain_until` defaults to `default_retain_until(event.recorded_at)`. Raises `NotExportable`
    for subjects the schema does not cover.
    """
    subject_type = SUBJECT_TYPE_MAP.get(event.subject_type)
    if subject_type is None:
        raise NotExportable(
            f"evidence about a {event.subject_type} has no core-dp subject type "
            f"({', '.join(sorted(CORE_DP_SUBJECT_TYPES))})"
        )
    event_type = EVENT_TYPE_MAP.get(event.event_type, _FALLBACK_EVENT_TYPE)
    return _entry(event, subject_type, event_type, predecessor_event_id, retain_until)


def to_export_entry(
    event: EvidenceEvent,
    predecessor_event_id: str | None,
    retain_until: datetime | None = None,
) -> dict[str, Any]:
    """Any event in the core-dp entry shape: `to_core_dp_entry` where the schema covers the
    subject, otherwise our own subject and event types (an extension, not schema-valid)."""
    if is_core_dp_exportable(event):
        return to_core_dp_entry(event, predecessor_event_id, retain_until)
    return _entry(event, event.subject_type, event.event_type, predecessor_event_id, retain_until)


def _entry(
    event: EvidenceEvent,
    subject_type: str,
    event_type: str,
    predecessor_event_id: str | None,
    retain_until: datetime | None,
) -> dict[str, Any]:
    _check_predecessor(event.sequence, predecessor_event_id)
    keep_until = _retention_end(event.recorded_at, retain_until)
    subject = {"type": subject_type, "id": event.subject_id}
    entry: dict[str, Any] = {
        "event_id": event.event_id,
        "sequence": event.sequence,
        "recorded_at": format_timestamp(event.recorded_at),
        "node_id": event.node_id,
        "subject": subject,
        "event_type": event_type,
        "immutable": {
            "event_id": event.event_id,
            "sequence": event.sequence,
            "subject": dict(subject),
            "event_type": event_type,
            "payload_hash_sha256": event.payload_hash_sha256,
        },
        "payload_hash_sha256": event.payload_hash_sha256,
        "retention": {
            "retain_until": format_timestamp(keep_until),
            "exportable": True,
            "redaction_status": "none",
        },
    }
    if event.redacted:
        # A tombstone (issue 15): the immutable subset stays, the actor is gone.
        entry["retention"]["redaction_status"] = "tombstoned"
        entry["retention"]["redaction_reason"] = event.redaction_reason
        entry["redactions"] = [{"field": "actor_node_id", "method": "remove"}]
    if predecessor_event_id is not None:
        entry["predecessor_event_id"] = predecessor_event_id
    # The schema's actor is a node; API keys, users and the system itself are not named there.
    if is_node_id(event.actor):
        entry["actor_node_id"] = event.actor
    return entry


def _check_predecessor(sequence: int, predecessor_event_id: str | None) -> None:
    # Entries chain through predecessor_event_id (DECISIONS 22): every entry but the first has one.
    if sequence == 1:
        if predecessor_event_id is not None:
            raise InvalidRequest("the first evidence entry has no predecessor")
        return
    if predecessor_event_id is None or not _EVENT_ID.match(predecessor_event_id):
        raise InvalidRequest(
            f"evidence entry {sequence} needs its predecessor's event id (evt_…), "
            f"got {predecessor_event_id!r}"
        )


def _retention_end(recorded_at: datetime, retain_until: datetime | None) -> datetime:
    if retain_until is None:
        return default_retain_until(recorded_at)
    if retain_until.utcoffset() is None:
        raise InvalidRequest("retain_until must be a timezone-aware datetime")
    if retain_until < recorded_at:
        raise InvalidRequest("retain_until must not be before recorded_at")
    return retain_until
