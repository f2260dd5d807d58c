"""The evidence log as GS1 EPCIS 2.0 ObjectEvents, following the core-dp EPCIS mapping.

Theory of operation (EPCIS 2.0 / CBV 2.0; core-dp `epcis/` fixture and
`schemas/epcis-mapping.schema.json`; SPEC-DIGEST §4.10; issue 13 item 3). Every evidence entry
about a passport or a trade (registered, offer, match, transfer, status and custody changes)
becomes one ObjectEvent:

* `epcList`: `urn:loop:{subject type}:{subject id}`, followed by the passports the trade is
  about (`urn:loop:material:…` / `urn:loop:product:…`), except in an `ADD`, which would claim
  to commission them; a passport's trace (the subject filter) holds its offers, matches and
  transfers either way;
* `action`, `bizStep`, `disposition`: CBV 2.0 bare names from `STEPS`. The six evidence events
  the core-dp mapping names (registered, offer-published, match-accepted, transfer-dispatched,
  -received, -acked) use only the subset's four business steps: a record coming into existence
  (a passport registered, an offer published) is `ADD` + `commissioning`, since the event
  commissions its EPC; the fixture fixes transfer-dispatched → `shipping`/`in_transit`. Events
  core-dp has no mapping for (reservations, rejections, cancellations, status changes) keep the
  closest CBV step (`reserving`, `holding`, `staging_outbound`, `void_shipping`): valid EPCIS,
  and outside the subset only where the subset says nothing; documented in docs/dpp.md;
* `eventTime` is the evidence entry's `recorded_at` in UTC with `eventTimeZoneOffset` `+00:00`;
  `readPoint` is the node, `urn:loop:node:{node id}`;
* `eventID` is `ni:///sha-256;{hex}` (RFC 6920) of the RFC 8785 form of the event without its
  id, so it is stable across calls and equal events have equal ids (lists drop repeats).

Evidence about anything else (reads, keys, node traffic, ledger) has no EPCIS event: `to_event`
answers None for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from loopnode.domain.times import format_timestamp
from loopnode.protocol.canonical import canonical_bytes

__all__ = [
    "EPCIS_CONTEXT",
    "MAPPED_EVENT_TYPES",
    "SCHEMA_VERSION",
    "STEPS",
    "EvidenceFact",
    "Step",
    "dedupe",
    "epc",
    "epcis_document",
    "event_id_of",
    "node_urn",
    "parse_event_id",
    "to_event",
]

EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
SCHEMA_VERSION: Final = "2.0"
EVENT_ID_PREFIX: Final = "ni:///sha-256;"
PASSPORT_KINDS: Final = ("material", "product")


@dataclass(frozen=True, slots=True)
class Step:
    """What an evidence event means in CBV terms."""

    action: str
    biz_step: str
    disposition: str


STEPS: Final[Mapping[str, Step]] = {
    "material.registered": Step("ADD", "commissioning", "active"),
    "product.registered": Step("ADD", "commissioning", "active"),
    "material.custody_changed": Step("OBSERVE", "receiving", "active"),
    "product.custody_changed": Step("OBSERVE", "receiving", "active"),
    # The offer's EPC comes into existence here; the subset's step for that is commissioning.
    "offer.published": Step("ADD", "commissioning", "available"),
    "offer.reserved": Step("OBSERVE", "reserving", "reserved"),
    "offer.reopened": Step("OBSERVE", "holding", "available"),
    "offer.withdrawn": Step("OBSERVE", "holding", "unavailable"),
    "offer.acked": Step("OBSERVE", "accepting", "available"),
    "offer.rejected": Step("OBSERVE", "holding", "unavailable"),
    "match.proposed": Step("OBSERVE", "reserving", "in_progress"),
    "match.accepted": Step("OBSERVE", "accepting", "reserved"),
    "match.rejected": Step("OBSERVE", "holding", "available"),
    "match.expired": Step("OBSERVE", "holding", "available"),
    "transfer.scheduled": Step("OBSERVE", "staging_outbound", "in_progress"),
    "transfer.in_transit": Step("OBSERVE", "shipping", "in_transit"),
    "transfer.completed": Step("OBSERVE", "receiving", "active"),
    "transfer.cancelled": Step("OBSERVE", "void_shipping", "active"),
    "transfer.acked": Step("OBSERVE", "accepting", "active"),
}
# MaterialStatusUpdate: the availability entered decides the disposition.
_STATUS_EVENTS: Final = ("material.status_updated", "product.status_updated")
MAPPED_EVENT_TYPES: Final = (*STEPS, *_STATUS_EVENTS)
_AVAILABILITY: Final[Mapping[str, str]] = {
    "available": "available",
    "reserved": "reserved",
    "withdrawn": "unavailable",
}


@dataclass(frozen=True, slots=True)
class EvidenceFact:
    """One evidence entry with what the lifecycle tables add: the passports it concerns."""

    sequence: int
    event_type: str
    subject_type: str
    subject_id: str
    recorded_at: datetime
    node_id: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    passports: tuple[tuple[str, str], ...] = ()


def epc(kind: str, identifier: str) -> str:
    """`urn:loop:{kind}:{id}`; characters outside the URN-safe set are percent-encoded."""
    return f"urn:loop:{kind}:{quote(identifier, safe='-._~:')}"


def node_urn(node_id: str) -> str:
    return f"urn:loop:node:{quote(node_id, safe='-._~')}"


def step_of(fact: EvidenceFact) -> Step | None:
    if fact.event_type in _STATUS_EVENTS:
        status = fact.summary.get("status")
        disposition = _AVAILABILITY.get(status) if isinstance(status, str) else None
        return Step("OBSERVE", "holding", disposition or "unknown")
    return STEPS.get(fact.event_type)


def to_event(fact: EvidenceFact) -> dict[str, Any] | None:
    """The ObjectEvent for `fact`, with its `eventID`; None when the entry has no EPCIS meaning."""
    step = step_of(fact)
    if step is None:
        return None
    epcs = [epc(fact.subject_type, fact.subject_id)]
    # An ADD commissions every EPC it lists; the passports of an offer exist already, so its
    # commissioning names the offer alone (the subject filter still finds it by the tables).
    for kind, identifier in () if step.action == "ADD" else fact.passports:
        urn = epc(kind, identifier)
        if kind in PASSPORT_KINDS and urn not in epcs:
            epcs.append(urn)
    body: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": format_timestamp(fact.recorded_at.astimezone(UTC)),
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": step.action,
        "bizStep": step.biz_step,
        "disposition": step.disposition,
        "readPoint": {"id": node_urn(fact.node_id)},
    }
    return {"eventID": event_id_of(body), **body}


def event_id_of(body: Mapping[str, Any]) -> str:
    """`ni:///sha-256;` + hex SHA-256 of the RFC 8785 form of the event without `eventID`."""
    without_id = {k: v for k, v in body.items() if k != "eventID"}
    return EVENT_ID_PREFIX + hashlib.sha256(canonical_bytes(without_id)).hexdigest()


def parse_event_id(text: str) -> str | None:
    """The canonical `ni:///sha-256;{64 hex}` form of `text` (also given as bare hex), or None."""
    digest = text[len(EVENT_ID_PREFIX) :] if text.startswith(EVENT_ID_PREFIX) else text
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return EVENT_ID_PREFIX + digest


def dedupe(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Events in order, each `eventID` once."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for event in events:
        if event["eventID"] not in seen:
            seen.add(event["eventID"])
            out.append(dict(event))
    return out


def epcis_document(events: Sequence[Mapping[str, Any]], created: datetime) -> dict[str, Any]:
    """An EPCISDocument holding `events` (deduplicated)."""
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": format_timestamp(created.astimezone(UTC)),
        "epcisBody": {"eventList": dedupe(events)},
    }
