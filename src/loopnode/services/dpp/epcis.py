"""EPCIS 2.0 reads over the evidence log: event documents with filters and paging, one event by id.

Pages walk the evidence sequence: `cursor` is the last evidence sequence a page looked at, so
paging is stable while new entries are appended. Looking an event up by its id uses the
event-id index (`EpcisStore.indexed`), filled on demand from where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from loopnode.domain.errors import InvalidRequest, NotFound
from loopnode.domain.times import parse_timestamp, to_us
from loopnode.protocol import epcis
from loopnode.protocol.epcis import EvidenceFact
from loopnode.services.ports import Clock

__all__ = ["EpcisPage", "EpcisService", "EpcisStore", "FactQuery"]

MAX_LIMIT = 500
INDEX_BATCH = 500
_SUBJECT_PREFIX = "urn:loop:"


@dataclass(frozen=True, slots=True)
class FactQuery:
    event_types: tuple[str, ...]
    after: int = 0
    subject: str | None = None
    from_us: int | None = None
    until_us: int | None = None
    limit: int = 100


class EpcisStore(Protocol):
    def facts(self, query: FactQuery) -> list[EvidenceFact]: ...

    def fact(self, sequence: int) -> EvidenceFact | None: ...

    def indexed(self, event_id: str) -> int | None: ...

    def index_watermark(self) -> int: ...

    def remember(self, pairs: Iterable[tuple[str, int]]) -> None: ...


@dataclass(frozen=True, slots=True)
class EpcisPage:
    document: dict[str, Any]
    next_cursor: int | None


class EpcisService:
    def __init__(self, store: EpcisStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def events(
        self,
        *,
        subject: str | None = None,
        from_: str | None = None,
        until: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> EpcisPage:
        """An EPCISDocument of the events after `cursor` matching the filters (oldest first)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
        query = FactQuery(
            event_types=epcis.MAPPED_EVENT_TYPES,
            after=_cursor(cursor),
            subject=_subject(subject),
            from_us=_instant("from", from_),
            until_us=_instant("until", until),
            limit=limit,
        )
        facts = self._store.facts(query)
        events = [event for event in map(epcis.to_event, facts) if event is not None]
        more = len(facts) == limit
        document = epcis.epcis_document(events, self._clock.now())
        return EpcisPage(document, facts[-1].sequence if more and facts else None)

    def event(self, event_id: str) -> dict[str, Any]:
        """One event as a standalone JSON-LD EPCIS event; NotFound when no entry has that id."""
        canonical = epcis.parse_event_id(event_id)
        if canonical is None:
            raise NotFound("no EPCIS event has this id", {"searched_id": event_id[:200]})
        sequence = self._store.indexed(canonical)
        if sequence is None:
            self._catch_up()
            sequence = self._store.indexed(canonical)
        fact = self._store.fact(sequence) if sequence is not None else None
        event = epcis.to_event(fact) if fact is not None else None
        if event is None or event["eventID"] != canonical:
            raise NotFound("no EPCIS event has this id", {"searched_id": canonical})
        return {"@context": [epcis.EPCIS_CONTEXT], **event}

    def _catch_up(self) -> None:
        after = self._store.index_watermark()
        while True:
            query = FactQuery(epcis.MAPPED_EVENT_TYPES, after=after, limit=INDEX_BATCH)
            facts = self._store.facts(query)
            pairs = []
            for fact in facts:
                event = epcis.to_event(fact)
                if event is not None:
                    pairs.append((event["eventID"], fact.sequence))
            self._store.remember(pairs)
            if len(facts) < INDEX_BATCH:
                return
            after = facts[-1].sequence


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidRequest("cursor must be the next_cursor of a previous page")
    return int(cursor)


def _subject(subject: str | None) -> str | None:
    """A subject id, given bare (`MAT-…`) or as its EPC (`urn:loop:material:MAT-…`)."""
    if subject is None:
        return None
    if subject.startswith(_SUBJECT_PREFIX):
        _kind, _, subject = subject[len(_SUBJECT_PREFIX) :].partition(":")
        subject = unquote(subject)
    if not subject or len(subject) > 160:
        raise InvalidRequest("subject must be a record id or urn:loop:{type}:{id}")
    return subject


def _instant(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return to_us(parse_timestamp(value))
    except (ValueError, InvalidRequest) as exc:
        raise InvalidRequest(f"{name} must be an RFC 3339 date-time", {"parameter": name}) from exc
