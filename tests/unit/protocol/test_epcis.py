"""Evidence entries as EPCIS 2.0 ObjectEvents: GS1 schema, core-dp mapping, stable ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol import epcis
from loopnode.protocol.epcis import EvidenceFact
from loopnode.protocol.evidence_export import EVENT_TYPE_MAP
from tests.epcis_schemas import gs1_errors, mapping_validator

WHEN = datetime(2026, 7, 17, 0, 2, tzinfo=UTC)
SUBJECTS = {
    "material": "MAT-DE-MUC-2026-PLASTIC-A00001",
    "offer": "OFR-1",
    "match": "MCH-1",
    "transfer": "TRF-DE-MUC-2026-000001",
    "product": "PRD-DE-MUC-2026-DESK-B00001",
}
# The core-dp mapping schema's evidence_event_type enum.
MAPPING_TYPES = {
    "registered",
    "offer-published",
    "match-accepted",
    "transfer-dispatched",
    "transfer-received",
    "transfer-acked",
}


def fact(event_type: str, **kw: Any) -> EvidenceFact:
    subject_type = event_type.split(".")[0]
    defaults: dict[str, Any] = {
        "sequence": 7,
        "event_type": event_type,
        "subject_type": subject_type,
        "subject_id": SUBJECTS[subject_type],
        "recorded_at": WHEN,
        "node_id": "munich.loop",
        "passports": ()
        if subject_type in ("material", "product")
        else (("material", SUBJECTS["material"]),),
    }
    return EvidenceFact(**{**defaults, **kw})


ALL_TYPES = sorted(epcis.MAPPED_EVENT_TYPES)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_mapped_event_is_a_valid_gs1_epcis_2_object_event(event_type: str) -> None:
    event = epcis.to_event(fact(event_type, summary={"status": "reserved"}))
    assert event is not None
    document = epcis.epcis_document([event], WHEN)
    assert gs1_errors(document) == []
    assert gs1_errors({"@context": [epcis.EPCIS_CONTEXT], **event}) == []


SUBSET_TYPES = [t for t in ALL_TYPES if EVENT_TYPE_MAP.get(t) in MAPPING_TYPES]
# The core-dp mapping schema's bizStep enum.
SUBSET_STEPS = {"commissioning", "shipping", "receiving", "accepting"}


def test_the_subset_covers_every_mapped_core_dp_type() -> None:
    covered = {EVENT_TYPE_MAP[t] for t in SUBSET_TYPES}
    assert covered == MAPPING_TYPES


def test_an_offer_published_is_commissioned_inside_the_subset() -> None:
    event = epcis.to_event(fact("offer.published"))
    assert event is not None
    assert (event["action"], event["bizStep"], event["disposition"]) == (
        "ADD",
        "commissioning",
        "available",
    )
    # An ADD commissions every EPC it lists, so the existing passport is not among them.
    assert event["epcList"] == ["urn:loop:offer:OFR-1"]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_no_offer_match_or_receipt_step_leaves_the_subset(event_type: str) -> None:
    """Only events core-dp leaves unmapped (reservations, holds, scheduling, cancellation) may
    use a CBV step beyond the subset's four."""
    event = epcis.to_event(fact(event_type, summary={"status": "available"}))
    assert event is not None
    unmapped_steps = {"reserving", "holding", "staging_outbound", "void_shipping"}
    assert event["bizStep"] in SUBSET_STEPS | unmapped_steps
    if event["bizStep"] not in SUBSET_STEPS:
        assert EVENT_TYPE_MAP.get(event_type) not in MAPPING_TYPES
    if event["bizStep"] == "staging_outbound":
        assert event_type == "transfer.scheduled"


@pytest.mark.parametrize("event_type", SUBSET_TYPES)
def test_core_dp_event_types_validate_against_the_core_dp_mapping_schema(
    event_type: str, reference_dir: Path
) -> None:
    core_type = EVENT_TYPE_MAP[event_type]
    subject = fact(event_type)
    fixture = {
        "fixture_id": f"loopnode-{event_type}",
        "pinned_versions": {"epcis": "2.0.1", "cbv": "2.0"},
        "core_dp_mapping": {
            "evidence_event_type": core_type,
            "subject_type": subject.subject_type,
            "subject_id": subject.subject_id,
        },
        "epcis_subset_event": epcis.to_event(subject),
    }
    errors = [e.message for e in mapping_validator(reference_dir).iter_errors(fixture)]
    assert errors == []
    # SPEC-DIGEST §4.10: the epcList names the mapped subject.
    urn = f"urn:loop:{subject.subject_type}:{subject.subject_id}"
    assert urn in fixture["epcis_subset_event"]["epcList"]


def test_the_core_dp_transfer_fixture_is_reproduced(reference_dir: Path) -> None:
    path = reference_dir / "profiles/core-dp/epcis/fixtures/core-dp-transfer-object-event.json"
    upstream = json.loads(path.read_text())
    expected = upstream["epcis_subset_event"]
    mapping = upstream["core_dp_mapping"]
    event_type = next(k for k, v in EVENT_TYPE_MAP.items() if v == mapping["evidence_event_type"])
    event = epcis.to_event(
        fact(
            event_type,
            subject_id=mapping["subject_id"],
            passports=(),
            recorded_at=datetime.fromisoformat(expected["eventTime"]),
        )
    )
    assert event is not None
    for name in (
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "epcList",
    ):
        assert event[name] == expected[name], name
    assert mapping_validator(reference_dir).is_valid({**upstream, "epcis_subset_event": event})


def test_event_ids_are_stable_content_hashes() -> None:
    one = epcis.to_event(fact("transfer.in_transit"))
    two = epcis.to_event(fact("transfer.in_transit"))
    later = epcis.to_event(fact("transfer.in_transit", recorded_at=WHEN.replace(minute=3)))
    assert one is not None and two is not None and later is not None
    assert one["eventID"] == two["eventID"] != later["eventID"]
    assert one["eventID"].startswith("ni:///sha-256;")
    assert epcis.event_id_of(one) == one["eventID"]
    assert epcis.parse_event_id(one["eventID"].split(";")[1].upper()) == one["eventID"]
    document = epcis.epcis_document([one, two, later], WHEN)
    assert [e["eventID"] for e in document["epcisBody"]["eventList"]] == [
        one["eventID"],
        later["eventID"],
    ]


def test_trades_name_the_passport_they_concern() -> None:
    event = epcis.to_event(fact("match.accepted"))
    assert event is not None
    assert event["epcList"] == ["urn:loop:match:MCH-1", f"urn:loop:material:{SUBJECTS['material']}"]


@pytest.mark.parametrize(
    ("status", "disposition"),
    [
        ("available", "available"),
        ("reserved", "reserved"),
        ("withdrawn", "unavailable"),
        (None, "unknown"),
    ],
)
def test_status_updates_take_their_disposition_from_the_availability(
    status: str | None, disposition: str
) -> None:
    summary = {"status": status} if status else {}
    event = epcis.to_event(fact("material.status_updated", summary=summary))
    assert event is not None
    assert event["disposition"] == disposition


@pytest.mark.parametrize("event_type", ["material.read", "key.created", "node.handshake"])
def test_entries_without_epcis_meaning_have_no_event(event_type: str) -> None:
    unmapped = EvidenceFact(7, event_type, event_type.split(".")[0], "X-1", WHEN, "munich.loop")
    assert epcis.to_event(unmapped) is None


@pytest.mark.parametrize("text", ["", "ni:///sha-256;abc", "x" * 64, "ni:///md5;" + "a" * 64])
def test_malformed_event_ids_do_not_parse(text: str) -> None:
    assert epcis.parse_event_id(text) is None


def test_odd_characters_in_ids_are_percent_encoded_into_valid_uris() -> None:
    event = epcis.to_event(fact("material.registered", subject_id="MAT X/1"))
    assert event is not None
    assert event["epcList"] == ["urn:loop:material:MAT%20X%2F1"]
    assert gs1_errors(epcis.epcis_document([event], WHEN)) == []


def test_the_gs1_oracle_rejects_what_it_should() -> None:
    event = epcis.to_event(fact("transfer.in_transit"))
    assert event is not None
    for broken in (
        {**event, "epcList": ["not a uri"]},
        {**event, "eventTimeZoneOffset": "UTC"},
        {**event, "bizStep": "teleporting"},
        {**event, "unknownField": 1},
        {k: v for k, v in event.items() if k != "eventTime"},
    ):
        assert gs1_errors(epcis.epcis_document([broken], WHEN)) != [], broken
