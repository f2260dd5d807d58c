"""The evidence hash chain: building it, and finding the first broken entry."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.domain import evidence as evidence_module
from loopnode.domain.errors import InvalidRequest, LoopError
from loopnode.domain.evidence import (
    EVENT_TYPES,
    GENESIS_HASH,
    REDACTED_ACTOR,
    EvidenceEvent,
    chain_next,
    content_digest,
    content_intact,
    derive_event_id,
    entry_hash,
    next_event,
    redact,
    verify_chain,
)

NODE = "munich.loop"
T0 = datetime(2026, 7, 17, 0, 0, tzinfo=UTC)
PAYLOAD_HASH = hashlib.sha256(b"{}").hexdigest()
KINDS = sorted(EVENT_TYPES.items())


def _chain(length: int, kinds: list[tuple[str, str]] | None = None) -> list[EvidenceEvent]:
    events: list[EvidenceEvent] = []
    for index in range(length):
        event_type, subject_type = (kinds or KINDS)[index % len(kinds or KINDS)]
        events.append(
            next_event(
                events[-1] if events else None,
                node_id=NODE,
                event_type=event_type,
                subject_type=subject_type,
                subject_id=f"SUBJECT-{index:04d}",
                actor=NODE,
                payload_hash_sha256=hashlib.sha256(str(index).encode()).hexdigest(),
                recorded_at=T0 + timedelta(seconds=index),
            )
        )
    return events


def _replace(event: EvidenceEvent, field: str, value: Any) -> EvidenceEvent:
    changes: dict[str, Any] = {field: value}
    return dataclasses.replace(event, **changes)


def test_first_event_starts_at_one_after_the_genesis_hash() -> None:
    (first,) = _chain(1)

    assert first.sequence == 1
    assert first.prev_hash == GENESIS_HASH == "0" * 64
    assert first.event_id == derive_event_id(NODE, 1)


def test_each_event_links_to_the_hash_of_its_predecessor() -> None:
    events = _chain(5)

    for previous, event in itertools.pairwise(events):
        assert event.sequence == previous.sequence + 1
        assert event.prev_hash == entry_hash(previous)


def test_event_ids_are_evt_and_32_hex_and_deterministic() -> None:
    event_id = derive_event_id(NODE, 7)

    assert event_id == derive_event_id(NODE, 7)
    assert event_id != derive_event_id(NODE, 8)
    assert event_id != derive_event_id("berlin.loop", 7)
    assert event_id.startswith("evt_")
    assert len(event_id) == 36
    int(event_id[4:], 16)


def _v2(event: EvidenceEvent) -> EvidenceEvent:
    """The entry as hash version 2 wrote it (databases from before migration 0014_evidence)."""
    return dataclasses.replace(event, hash_version=2, content_salt=None, content_hash=None)


def test_version_2_entry_hash_is_sha256_of_sorted_compact_json_of_all_fields() -> None:
    event = _v2(_chain(1)[0])
    expected_text = json.dumps(
        {
            "actor": event.actor,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "node_id": event.node_id,
            "payload_hash_sha256": event.payload_hash_sha256,
            "prev_hash": event.prev_hash,
            "recorded_at": "2026-07-17T00:00:00Z",
            "sequence": 1,
            "subject_id": event.subject_id,
            "subject_type": event.subject_type,
            "summary": None,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )

    assert entry_hash(event) == hashlib.sha256(expected_text.encode()).hexdigest()


def test_version_3_entry_hash_covers_the_content_commitment_and_the_record_state() -> None:
    (event,) = _chain(1)
    expected_text = json.dumps(
        {
            "content_hash": content_digest(event.actor, None, event.content_salt or ""),
            "event_id": event.event_id,
            "event_type": event.event_type,
            "hash_version": 3,
            "node_id": event.node_id,
            "payload_hash_sha256": event.payload_hash_sha256,
            "prev_hash": event.prev_hash,
            "record_hash": None,
            "recorded_at": "2026-07-17T00:00:00Z",
            "sequence": 1,
            "subject_id": event.subject_id,
            "subject_type": event.subject_type,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )

    assert event.hash_version == 3
    assert entry_hash(event) == hashlib.sha256(expected_text.encode()).hexdigest()


@pytest.mark.parametrize("field", ["actor", "summary", "content_salt"])
def test_version_3_content_is_checked_against_its_salted_commitment(field: str) -> None:
    (event,) = _chain(1)
    changed = _replace(event, field, {"actor": "apikey:mallory", "summary": "{}"}.get(field, "0"))

    assert content_intact(event)
    assert not content_intact(changed)


def test_a_tombstone_keeps_the_entry_hash_and_drops_the_content() -> None:
    (event,) = _chain(1)
    tombstone = redact(event, "GDPR art. 17 request 2026-12")

    assert entry_hash(tombstone) == entry_hash(event)
    assert (tombstone.actor, tombstone.summary, tombstone.content_salt) == (
        REDACTED_ACTOR,
        None,
        None,
    )
    assert tombstone.redacted and content_intact(tombstone)
    with pytest.raises(InvalidRequest, match="already redacted"):
        redact(tombstone, "again")
    with pytest.raises(InvalidRequest, match="hash version 2"):
        redact(_v2(event), "too old")


def test_the_commitment_is_salted_so_equal_content_commits_differently() -> None:
    first, second = (
        chain_next(
            0,
            GENESIS_HASH,
            node_id=NODE,
            event_type="material.read",
            subject_type="material",
            subject_id="MAT-1",
            actor="apikey:alice",
            payload_hash_sha256=PAYLOAD_HASH,
            recorded_at=T0,
        )
        for _ in range(2)
    )

    assert first.content_hash != second.content_hash


@pytest.mark.parametrize(
    "field",
    ["event_type", "subject_type", "subject_id", "actor", "node_id", "payload_hash_sha256",
     "recorded_at", "sequence", "event_id", "prev_hash", "summary"],
)  # fmt: skip
def test_version_2_entry_hash_covers_every_field(field: str) -> None:
    event = _v2(_chain(1)[0])
    replacement: object = {
        "event_type": "offer.published",
        "subject_type": "offer",
        "subject_id": "OTHER",
        "actor": "apikey:demo",
        "node_id": "berlin.loop",
        "payload_hash_sha256": "f" * 64,
        "recorded_at": T0 + timedelta(microseconds=1),
        "sequence": 2,
        "event_id": derive_event_id(NODE, 99),
        "prev_hash": "a" * 64,
        "summary": '{"quantity":1}',
    }[field]

    assert entry_hash(_replace(event, field, replacement)) != entry_hash(event)


@pytest.mark.parametrize(
    "field",
    ["event_type", "subject_type", "subject_id", "node_id", "payload_hash_sha256",
     "recorded_at", "sequence", "event_id", "prev_hash", "content_hash", "record_hash"],
)  # fmt: skip
def test_version_3_entry_hash_covers_every_hashed_field(field: str) -> None:
    (event,) = _chain(1)
    replacement: object = {
        "event_type": "offer.published",
        "subject_type": "offer",
        "subject_id": "OTHER",
        "node_id": "berlin.loop",
        "payload_hash_sha256": "f" * 64,
        "recorded_at": T0 + timedelta(microseconds=1),
        "sequence": 2,
        "event_id": derive_event_id(NODE, 99),
        "prev_hash": "a" * 64,
        "content_hash": "b" * 64,
        "record_hash": "c" * 64,
    }[field]

    assert entry_hash(_replace(event, field, replacement)) != entry_hash(event)


def test_recorded_at_is_normalised_to_utc_without_changing_the_hash() -> None:
    (event,) = _chain(1)
    shifted = dataclasses.replace(
        event, recorded_at=event.recorded_at.astimezone(timezone(timedelta(hours=2)))
    )

    assert shifted.recorded_at.tzinfo == UTC
    assert entry_hash(shifted) == entry_hash(event)


def test_intact_chain_verifies() -> None:
    events = _chain(12)

    assert verify_chain(events) is None
    assert verify_chain(events, head_hash=entry_hash(events[-1])) is None
    assert verify_chain([]) is None


def test_gap_in_sequence_is_reported_at_the_entry_after_the_gap() -> None:
    events = _chain(6)

    assert verify_chain(events[:3] + events[4:]) == 5


def test_repeated_or_reordered_entries_are_reported() -> None:
    events = _chain(4)

    assert verify_chain([events[0], events[1], events[1], events[2]]) == 2
    assert verify_chain([events[0], events[2], events[1]]) == 3


def test_log_not_starting_at_one_is_reported() -> None:
    assert verify_chain(_chain(3)[1:]) == 2


def test_wrong_predecessor_hash_is_reported() -> None:
    events = _chain(4)
    events[2] = dataclasses.replace(events[2], prev_hash="b" * 64)

    assert verify_chain(events) == 3


def test_rewritten_entry_is_detected_by_its_successor() -> None:
    events = _chain(5)
    events[1] = dataclasses.replace(events[1], payload_hash_sha256="c" * 64)

    assert verify_chain(events) == 3


def test_rewritten_last_entry_is_detected_only_against_an_anchored_head() -> None:
    events = _chain(5)
    head = entry_hash(events[-1])
    events[-1] = dataclasses.replace(events[-1], payload_hash_sha256="d" * 64)

    assert verify_chain(events) is None
    assert verify_chain(events, head_hash=head) == 5


def test_a_forged_actor_on_the_last_entry_breaks_its_content_commitment_without_an_anchor() -> None:
    events = _chain(5)
    events[-1] = dataclasses.replace(events[-1], actor="apikey:forged")

    assert verify_chain(events) == 5


def test_segment_verifies_from_a_known_predecessor() -> None:
    events = _chain(8)

    assert verify_chain(events[3:], prev_hash=entry_hash(events[2]), first_sequence=4) is None
    assert verify_chain(events[3:], prev_hash=entry_hash(events[1]), first_sequence=4) == 4


@given(st.integers(2, 30), st.data())
def test_any_single_rewrite_is_found_at_or_right_after_the_rewritten_entry(
    length: int, data: st.DataObject
) -> None:
    events = _chain(length)
    index = data.draw(st.integers(0, length - 2))
    field, value = data.draw(
        st.sampled_from(
            [
                ("subject_id", "FORGED"),
                ("actor", "apikey:forged"),
                ("payload_hash_sha256", "d" * 64),
                ("recorded_at", T0 - timedelta(days=1)),
                ("prev_hash", "e" * 64),
            ]
        )
    )
    events[index] = _replace(events[index], field, value)

    broken = verify_chain(events)

    assert broken in (index + 1, index + 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sequence", 0),
        ("sequence", True),
        ("sequence", 2**53),
        ("event_id", "evt_short"),
        ("event_id", "EVT_0123456789abcdef0123"),
        ("event_type", "Offer Published"),
        ("subject_type", ""),
        ("payload_hash_sha256", "A" * 64),
        ("prev_hash", "0" * 63),
        ("subject_id", ""),
        ("actor", "lone \ud800"),
        ("recorded_at", datetime(2026, 7, 17)),
    ],
)
def test_malformed_events_are_refused(field: str, value: object) -> None:
    (event,) = _chain(1)

    with pytest.raises(InvalidRequest):
        _replace(event, field, value)


def test_next_event_refuses_types_outside_the_vocabulary() -> None:
    with pytest.raises(LoopError, match="unknown evidence event type"):
        next_event(
            None,
            node_id=NODE,
            event_type="offer.teleported",
            subject_type="offer",
            subject_id="OFR-2F7A6B9C",
            actor=NODE,
            payload_hash_sha256=PAYLOAD_HASH,
            recorded_at=T0,
        )
    with pytest.raises(LoopError):
        next_event(
            None,
            node_id=NODE,
            event_type="offer.published",
            subject_type="match",
            subject_id="OFR-2F7A6B9C",
            actor=NODE,
            payload_hash_sha256=PAYLOAD_HASH,
            recorded_at=T0,
        )


def test_non_ascii_fields_hash_as_raw_utf8() -> None:
    (event,) = _chain(1)
    munich = dataclasses.replace(event, subject_id="München-Süd")

    assert entry_hash(munich) != entry_hash(event)
    assert verify_chain([munich]) is None


def test_chain_next_links_to_the_head_it_is_given() -> None:
    (first,) = _chain(1)
    second = chain_next(
        first.sequence,
        entry_hash(first),
        node_id=NODE,
        event_type="material.registered",
        subject_type="material",
        subject_id="MAT-DE-MUC-2026-PLASTIC-000002",
        actor="tests",
        payload_hash_sha256="b" * 64,
        recorded_at=T0,
        summary='{"note":"x"}',
    )
    assert (second.sequence, second.prev_hash) == (2, entry_hash(first))
    assert second.event_id == derive_event_id(NODE, 2)
    assert verify_chain([first, second]) is None
    tampered = _replace(second, "payload_hash_sha256", "c" * 64)
    assert verify_chain([first, second], head_hash=entry_hash(tampered)) == 2
    assert verify_chain([first, _replace(second, "summary", '{"note":"y"}')]) == 2


_HASHED_TEXT = st.text(st.characters(exclude_categories=("Cs",)))  # every code point but surrogates


@given(
    st.dictionaries(
        st.sampled_from(["actor", "summary", "salt", "subject_id", "node_id", "event_id"]),
        st.one_of(st.none(), _HASHED_TEXT, st.integers(0, 2**53 - 1)),
    )
)
def test_the_hashed_form_is_the_json_dumps_form_byte_for_byte(fields: dict[str, Any]) -> None:
    """The orjson fast path must write what the documented json.dumps form writes, or every
    stored entry hash would stop verifying."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert evidence_module._canonical(fields) == text.encode("utf-8")


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_hashed_timestamp_is_the_strftime_form(moment: datetime) -> None:
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"

    assert evidence_module._hash_timestamp(moment) == expected


def test_control_characters_hash_as_the_json_dumps_escapes() -> None:
    fields = {"actor": "".join(map(chr, range(0x20))) + '"\\\x7f\u2028'}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert evidence_module._canonical(fields) == text.encode("utf-8")
