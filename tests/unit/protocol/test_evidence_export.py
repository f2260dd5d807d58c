"""Core-dp evidence export: valid against the official schema, chained, immutable subset intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.evidence import (
    EVENT_TYPES,
    EvidenceEvent,
    derive_event_id,
    next_event,
    redact,
)
from loopnode.protocol.canonical import canonical_bytes, sha256_hex
from loopnode.protocol.coredp.evidence_rules import check_immutable_subset
from loopnode.protocol.evidence_export import (
    CORE_DP_EVENT_TYPES,
    CORE_DP_SUBJECT_TYPES,
    EVENT_TYPE_MAP,
    SUBJECT_TYPE_MAP,
    NotExportable,
    default_retain_until,
    is_core_dp_exportable,
    to_core_dp_entry,
    to_export_entry,
)
from tests.reference import reference_dir, require_reference

NODE = "munich.loop"
T0 = datetime(2026, 7, 17, 0, 0, tzinfo=UTC)
EXPORTABLE = sorted(k for k, subject in EVENT_TYPES.items() if subject in SUBJECT_TYPE_MAP)
NOT_EXPORTABLE = sorted(k for k, subject in EVENT_TYPES.items() if subject not in SUBJECT_TYPE_MAP)


def _schema() -> dict[str, Any]:
    path = require_reference() / "profiles/core-dp/schemas/evidence-entry.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema(), format_checker=FormatChecker())


def _event(
    event_type: str, sequence: int = 1, actor: str = NODE, recorded_at: datetime = T0
) -> EvidenceEvent:
    previous = None
    for index in range(1, sequence + 1):
        previous = next_event(
            previous,
            node_id=NODE,
            event_type=event_type,
            subject_type=EVENT_TYPES[event_type],
            subject_id="TRF-DE-MUC-2026-000001",
            actor=actor,
            payload_hash_sha256=sha256_hex({"n": index}),
            recorded_at=recorded_at,
        )
    assert previous is not None
    return previous


def test_core_dp_event_and_subject_types_are_the_schema_enums() -> None:
    properties = _schema()["properties"]

    assert set(properties["event_type"]["enum"]) == CORE_DP_EVENT_TYPES
    assert set(properties["subject"]["properties"]["type"]["enum"]) == CORE_DP_SUBJECT_TYPES
    assert set(EVENT_TYPE_MAP.values()) <= CORE_DP_EVENT_TYPES
    assert set(SUBJECT_TYPE_MAP.values()) <= CORE_DP_SUBJECT_TYPES


def test_the_official_valid_evidence_vector_passes_the_same_validator() -> None:
    path = reference_dir() / "profiles/core-dp/conformance/vectors/core-dp-vectors.json"
    vectors = {v["id"]: v for v in json.loads(path.read_text(encoding="utf-8"))["vectors"]}
    _validator().validate(vectors["core-dp-evidence-valid-001"]["payload"])


@pytest.mark.parametrize("event_type", EXPORTABLE)
@pytest.mark.parametrize("sequence", [1, 3])
def test_every_exportable_event_kind_is_a_valid_core_dp_entry(
    event_type: str, sequence: int
) -> None:
    event = _event(event_type, sequence)
    predecessor = derive_event_id(NODE, sequence - 1) if sequence > 1 else None

    entry = to_core_dp_entry(event, predecessor, None)

    errors = [e.message for e in _validator().iter_errors(entry)]
    assert errors == []


@pytest.mark.parametrize(
    ("event_type", "core_dp_type", "subject_type"),
    [
        ("material.registered", "registered", "material"),
        ("product.registered", "registered", "product"),
        ("material.status_updated", "status-updated", "material"),
        ("offer.published", "offer-published", "offer"),
        ("offer.withdrawn", "status-updated", "offer"),
        ("match.proposed", "match-proposed", "match"),
        ("match.accepted", "match-accepted", "match"),
        ("match.rejected", "match-rejected", "match"),
        ("match.expired", "status-updated", "match"),
        ("transfer.scheduled", "status-updated", "transfer"),
        ("transfer.in_transit", "transfer-dispatched", "transfer"),
        ("transfer.completed", "transfer-received", "transfer"),
        ("transfer.acked", "transfer-acked", "transfer"),
        ("key.rotated", "key-rotated", "envelope"),
        ("envelope.error_recorded", "error-recorded", "envelope"),
    ],
)
def test_event_types_map_to_the_core_dp_vocabulary(
    event_type: str, core_dp_type: str, subject_type: str
) -> None:
    entry = to_core_dp_entry(_event(event_type), None)

    assert entry["event_type"] == core_dp_type
    assert entry["subject"] == {"type": subject_type, "id": "TRF-DE-MUC-2026-000001"}


def test_immutable_subset_repeats_the_top_level_fields_exactly() -> None:
    entry = to_core_dp_entry(_event("transfer.acked", 7), derive_event_id(NODE, 6))
    immutable = entry["immutable"]

    for field in ("event_id", "sequence", "event_type", "payload_hash_sha256"):
        assert immutable[field] == entry[field]
    assert canonical_bytes(immutable["subject"]) == canonical_bytes(entry["subject"])
    assert immutable["subject"] is not entry["subject"]


def test_entry_carries_the_chain_and_the_event_fields() -> None:
    event = _event("transfer.completed", 2)

    entry = to_core_dp_entry(event, derive_event_id(NODE, 1))

    assert entry["predecessor_event_id"] == derive_event_id(NODE, 1)
    assert entry["event_id"] == event.event_id
    assert entry["sequence"] == 2
    assert entry["node_id"] == NODE
    assert entry["recorded_at"] == "2026-07-17T00:00:00Z"
    assert entry["payload_hash_sha256"] == event.payload_hash_sha256
    assert entry["actor_node_id"] == NODE


def test_first_entry_has_no_predecessor_field() -> None:
    assert "predecessor_event_id" not in to_core_dp_entry(_event("offer.published"), None)


@pytest.mark.parametrize("predecessor", [None, "evt_short", "msg_0123456789abcdef01"])
def test_later_entries_need_a_well_formed_predecessor(predecessor: str | None) -> None:
    with pytest.raises(InvalidRequest):
        to_core_dp_entry(_event("offer.published", 2), predecessor)


def test_first_entry_refuses_a_predecessor() -> None:
    with pytest.raises(InvalidRequest):
        to_core_dp_entry(_event("offer.published"), derive_event_id(NODE, 0))


def test_actors_that_are_not_nodes_are_not_exported_as_actor_node_id() -> None:
    entry = to_core_dp_entry(_event("material.registered", actor="apikey:demo"), None)

    assert "actor_node_id" not in entry
    _validator().validate(entry)


def test_retention_defaults_to_two_years_and_is_never_redacted() -> None:
    entry = to_core_dp_entry(_event("material.registered"), None)

    assert entry["retention"] == {
        "retain_until": "2028-07-17T00:00:00Z",
        "exportable": True,
        "redaction_status": "none",
    }


def test_retention_of_a_leap_day_rolls_over_to_the_first_of_march() -> None:
    leap_day = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)

    assert default_retain_until(leap_day) == datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def test_explicit_retention_is_used_and_must_not_precede_the_event() -> None:
    five_years = T0 + timedelta(days=5 * 365 + 1)
    entry = to_core_dp_entry(_event("transfer.completed"), None, five_years)

    assert entry["retention"]["retain_until"] == "2031-07-17T00:00:00Z"
    with pytest.raises(InvalidRequest):
        to_core_dp_entry(_event("transfer.completed"), None, T0 - timedelta(seconds=1))
    with pytest.raises(InvalidRequest):
        to_core_dp_entry(_event("transfer.completed"), None, datetime(2030, 1, 1))


@pytest.mark.parametrize("event_type", NOT_EXPORTABLE)
def test_events_outside_the_core_dp_subjects_are_not_exportable(event_type: str) -> None:
    event = _event(event_type)

    assert not is_core_dp_exportable(event)
    with pytest.raises(NotExportable):
        to_core_dp_entry(event, None)


@pytest.mark.parametrize("event_type", NOT_EXPORTABLE)
def test_other_events_export_in_the_same_shape_with_their_own_types(event_type: str) -> None:
    event = _event(event_type)

    entry = to_export_entry(event, None)

    assert entry["event_type"] == event_type
    assert entry["subject"]["type"] == EVENT_TYPES[event_type]
    assert set(entry) <= set(_schema()["properties"])


def test_to_export_entry_is_the_core_dp_entry_where_the_schema_covers_the_subject() -> None:
    event = _event("match.accepted")

    assert to_export_entry(event, None) == to_core_dp_entry(event, None)


def test_a_tombstone_exports_valid_with_its_redaction_and_the_immutable_subset_intact() -> None:
    event = _event("offer.published", sequence=2)
    before = to_core_dp_entry(event, derive_event_id(NODE, 1))
    tombstone = redact(event, "GDPR art. 17 request #12")

    entry = to_core_dp_entry(tombstone, derive_event_id(NODE, 1))

    _validator().validate(entry)
    assert check_immutable_subset(entry) == []
    assert entry["immutable"] == before["immutable"]
    assert "actor_node_id" in before and "actor_node_id" not in entry
    assert entry["retention"]["redaction_status"] == "tombstoned"
    assert entry["retention"]["redaction_reason"] == "GDPR art. 17 request #12"
    assert entry["redactions"] == [{"field": "actor_node_id", "method": "remove"}]
