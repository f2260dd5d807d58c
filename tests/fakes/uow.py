"""An in-memory unit of work: the registry and lifecycle stores of `services/ports.py`.

Enough of the one `UnitOfWork` to unit-test the registry, lifecycle, material status, custody
and idempotency services without a database. The SQL stores' contracts are kept where the
services rely on them: a taken id is `Conflict`, one active match per offer and one live
transfer per match are `Conflict` (the partial unique indexes), a match or transfer whose
subject differs from its offer's is `InvalidRequest` (the composite foreign key), offers never
hold more than their subject (the CHECK; arithmetic from `domain/exchange.py`), a second row for
an idempotency key is `KeyTaken`, and evidence entries are hash-chained. A unit of work that
leaves by an exception leaves the state as it found it, and so does a savepoint.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson

from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.domain.evidence import GENESIS_HASH, EvidenceEvent, chain_next, entry_hash
from loopnode.domain.exchange import offered_after_release
from loopnode.domain.lifecycle import ACTIVE_MATCH_STATES, LIVE_TRANSFER_STATES
from loopnode.services.ports import (
    CustodyEntry,
    EvidenceDraft,
    ExchangeRow,
    IdempotencyRow,
    KeyTaken,
    ListQuery,
    RecordQuery,
    RecordRow,
    StatusChange,
    StatusUpdateRow,
    TransactionRow,
)

__all__ = ["MemoryState", "MemoryUnitOfWork", "memory_uow"]


@dataclass
class MemoryState:
    """Everything the stores hold; one per fake database."""

    node_id: str = "munich.loop"
    records: dict[str, RecordRow] = field(default_factory=dict)
    exchange: dict[tuple[str, str], ExchangeRow] = field(default_factory=dict)
    custody: list[CustodyEntry] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)
    status_updates: dict[str, StatusUpdateRow] = field(default_factory=dict)
    transactions: dict[str, TransactionRow] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRow] = field(default_factory=dict)
    organisations: dict[tuple[str, str], str] = field(default_factory=dict)
    evidence: list[tuple[EvidenceEvent, str]] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0


def _page(rows: Sequence[Any], query: ListQuery) -> list[Any]:
    kept = [r for r in rows if all(getattr(r, column) == value for column, value in query.filters)]
    kept.sort(key=lambda r: (r.created_us, r.id))
    if query.after is not None:
        kept = [r for r in kept if (r.created_us, r.id) > query.after]
    return kept[: query.limit]


class MemoryRecords:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def insert(self, row: RecordRow) -> None:
        if row.id in self.s.records:
            raise Conflict(f"{row.id} is already registered", {"id": row.id})
        self.s.records[row.id] = row

    def insert_many(self, rows: Sequence[RecordRow]) -> None:
        ids = [row.id for row in rows]
        if len(set(ids)) < len(ids) or any(i in self.s.records for i in ids):
            raise Conflict("a record of the batch is already registered", {})
        for row in rows:
            self.s.records[row.id] = row

    def get(self, kind: str, record_id: str, *, lock: bool = False) -> RecordRow | None:
        row = self.s.records.get(record_id)
        return row if row is not None and row.kind == kind else None

    def document_json(self, kind: str, record_id: str) -> bytes | None:
        row = self.get(kind, record_id)
        return None if row is None else orjson.dumps(row.document)

    def existing_ids(self, kind: str, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if self.get(kind, i) is not None}

    def page(self, query: RecordQuery) -> list[RecordRow]:
        rows = sorted(self._matching(query), key=lambda r: (r.updated_us, r.id))
        if query.after is not None:
            rows = [r for r in rows if (r.updated_us, r.id) > query.after]
        return rows[: query.limit]

    def count(self, query: RecordQuery) -> int:
        return len(self._matching(query))

    def count_active(self, kind: str) -> int:
        return sum(
            r.kind == kind and r.availability != "withdrawn" for r in self.s.records.values()
        )

    def _matching(self, query: RecordQuery) -> list[RecordRow]:
        wanted = {
            "category": query.category,
            "origin_city": query.origin_city,
            "current_city": query.current_city,
            "availability": query.availability,
            "source_node": query.source_node,
        }
        return [
            r
            for r in self.s.records.values()
            if r.kind == query.kind
            and all(v is None or getattr(r, k) == v for k, v in wanted.items())
            and not (query.exclude_withdrawn and r.availability == "withdrawn")
        ]


class MemorySubjects:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def lock(self, record_id: str) -> str | None:
        row = self.s.records.get(record_id)
        return None if row is None else row.kind

    def reserve(self, record_id: str, micro: int) -> bool:
        row = self.s.records[record_id]
        if row.offered_micro + micro > row.quantity_micro:
            return False
        self.s.records[record_id] = replace(row, offered_micro=row.offered_micro + micro)
        return True

    def release(self, record_id: str, micro: int) -> None:
        row = self.s.records[record_id]
        offered = offered_after_release(row.offered_micro, micro)
        self.s.records[record_id] = replace(row, offered_micro=offered)

    def set_availability(self, record_id: str, availability: str, updated_us: int) -> None:
        row = self.s.records[record_id]
        self.s.records[record_id] = replace(row, availability=availability, updated_us=updated_us)

    def rewrite(self, row: RecordRow) -> None:
        stored = self.s.records[row.id]
        if stored.offered_micro > row.quantity_micro:  # the CHECK
            raise InvalidRequest(
                "the record's quantity would fall below what its offers hold", {"id": row.id}
            )
        self.s.records[row.id] = replace(
            stored,
            document=row.document,
            current_city=row.current_city,
            lat=row.lat,
            lon=row.lon,
            unit_vector=row.unit_vector,
            quantity_micro=row.quantity_micro,
            record_hash=row.record_hash,
            updated_us=row.updated_us,
        )


class MemoryExchange:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def insert(self, row: ExchangeRow) -> None:
        if (row.entity, row.id) in self.s.exchange:
            raise Conflict(f"a {row.entity} with id {row.id} already exists", {"id": row.id})
        if row.entity != "offer":
            offer = self.s.exchange.get(("offer", row.offer_id or ""))
            if offer is None or offer.subject_id != row.subject_id:
                raise InvalidRequest(
                    f"the {row.entity}'s subject differs from its offer's or is unknown",
                    {"subject_id": row.subject_id},
                )
        self._unique(row)
        self.s.exchange[(row.entity, row.id)] = row

    def get(self, entity: str, entity_id: str, *, lock: bool = False) -> ExchangeRow | None:
        return self.s.exchange.get((entity, entity_id))

    def parent(self, entity: str, entity_id: str, parent: str) -> ExchangeRow | None:
        child = self.s.exchange.get((entity, entity_id))
        parent_id = None if child is None else getattr(child, f"{parent}_id")
        return None if parent_id is None else self.s.exchange.get((parent, parent_id))

    def update(self, row: ExchangeRow) -> None:
        stored = self.s.exchange[(row.entity, row.id)]
        changed = replace(
            stored, status=row.status, document=row.document, updated_us=row.updated_us
        )
        self._unique(changed)
        self.s.exchange[(row.entity, row.id)] = changed

    def active_match(self, offer_id: str) -> ExchangeRow | None:
        return self._one("match", "offer_id", offer_id, ACTIVE_MATCH_STATES)

    def live_transfer(self, match_id: str) -> ExchangeRow | None:
        return self._one("transfer", "match_id", match_id, LIVE_TRANSFER_STATES)

    def page(self, entity: str, query: ListQuery) -> list[ExchangeRow]:
        return _page([r for (e, _), r in self.s.exchange.items() if e == entity], query)

    def _one(
        self, entity: str, column: str, value: str, states: frozenset[str]
    ) -> ExchangeRow | None:
        return next(
            (
                r
                for (e, _), r in self.s.exchange.items()
                if e == entity and getattr(r, column) == value and r.status in states
            ),
            None,
        )

    def _unique(self, row: ExchangeRow) -> None:
        """The partial unique indexes: one active match per offer, one live transfer per match."""
        if row.entity == "match" and row.status in ACTIVE_MATCH_STATES:
            other = self.active_match(row.offer_id or "")
            if other is not None and other.id != row.id:
                raise Conflict(
                    f"offer {row.offer_id} already has an active match",
                    {"offer_id": row.offer_id, "rule": "one active match per offer"},
                )
        if row.entity == "transfer" and row.status in LIVE_TRANSFER_STATES:
            other = self.live_transfer(row.match_id or "")
            if other is not None and other.id != row.id:
                raise Conflict(
                    f"match {row.match_id} already has a live transfer",
                    {"match_id": row.match_id, "rule": "one live transfer per match"},
                )


class MemoryCustody:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def append(self, entry: CustodyEntry) -> None:
        self.s.custody.append(entry)

    def of(self, record_id: str) -> list[CustodyEntry]:
        return [e for e in self.s.custody if record_id in (e.record_id, e.child_id)]


class MemoryHistory:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def append(self, change: StatusChange) -> None:
        self.s.history.append(change)

    def append_many(self, changes: Sequence[StatusChange]) -> None:
        self.s.history.extend(changes)

    def of(self, entity_type: str, entity_id: str) -> list[StatusChange]:
        return [
            c for c in self.s.history if (c.entity_type, c.entity_id) == (entity_type, entity_id)
        ]


class MemoryStatusUpdates:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def insert(self, row: StatusUpdateRow) -> None:
        if row.id in self.s.status_updates:
            raise Conflict(f"a MaterialStatusUpdate with id {row.id} exists", {"id": row.id})
        self.s.status_updates[row.id] = row

    def get(self, update_id: str) -> StatusUpdateRow | None:
        return self.s.status_updates.get(update_id)

    def page(self, query: ListQuery) -> list[StatusUpdateRow]:
        return _page(list(self.s.status_updates.values()), query)


class MemoryTransactions:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def insert(self, row: TransactionRow) -> None:
        if row.id in self.s.transactions:
            raise Conflict(f"transaction {row.id} exists", {"id": row.id})
        self.s.transactions[row.id] = row

    def get(self, transaction_id: str, *, lock: bool = False) -> TransactionRow | None:
        return self.s.transactions.get(transaction_id)

    def update(self, row: TransactionRow) -> None:
        self.s.transactions[row.id] = row

    def page(self, query: ListQuery) -> list[TransactionRow]:
        return _page(list(self.s.transactions.values()), query)

    def count(self, created_since_us: int | None = None) -> int:
        since = created_since_us or 0
        return sum(row.created_us >= since for row in self.s.transactions.values())


class MemoryIdempotency:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def get(self, principal: str, key: str) -> IdempotencyRow | None:
        return self.s.idempotency.get((principal, key))

    def insert(self, row: IdempotencyRow) -> None:
        if (row.principal, row.key) in self.s.idempotency:
            raise KeyTaken("this Idempotency-Key is taken", {"key": row.key})
        self.s.idempotency[(row.principal, row.key)] = row

    def complete(
        self,
        principal: str,
        key: str,
        status_code: int,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        row = self.s.idempotency[(principal, key)]
        self.s.idempotency[(principal, key)] = replace(
            row, state="done", status_code=status_code, body=body, headers=dict(headers)
        )

    def delete(self, principal: str, key: str) -> None:
        self.s.idempotency.pop((principal, key), None)

    def purge(self, now_us: int) -> int:
        expired = [k for k, row in self.s.idempotency.items() if row.expires_us <= now_us]
        for k in expired:
            del self.s.idempotency[k]
        return len(expired)


class MemoryOrganisations:
    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def set(self, kind: str, record_id: str, organisation: str) -> None:
        self.s.organisations[(kind, record_id)] = organisation

    def get(self, kind: str, record_id: str) -> str | None:
        return self.s.organisations.get((kind, record_id))


class MemoryEvidence:
    """A hash-chained log: each entry links to the one before, as the SQL log's do."""

    def __init__(self, state: MemoryState) -> None:
        self.s = state

    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent:
        sequence, head = self.head()
        summary = orjson.dumps(draft.summary).decode() if draft.summary else None
        event = chain_next(
            sequence,
            head,
            node_id=self.s.node_id,
            event_type=draft.event_type,
            subject_type=draft.subject_type,
            subject_id=draft.subject_id,
            actor=draft.actor,
            payload_hash_sha256=draft.payload_hash,
            recorded_at=now,
            summary=summary,
        )
        self.s.evidence.append((event, entry_hash(event)))
        return event

    def append_many(self, drafts: Sequence[EvidenceDraft], now: datetime) -> list[EvidenceEvent]:
        return [self.append(draft, now) for draft in drafts]

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]:
        return [e for e, _ in self.s.evidence if e.sequence > after_sequence][:limit]

    def iterate(self) -> Iterator[tuple[EvidenceEvent, str]]:
        return iter(list(self.s.evidence))

    def head(self) -> tuple[int, str]:
        if not self.s.evidence:
            return 0, GENESIS_HASH
        last, last_hash = self.s.evidence[-1]
        return last.sequence, last_hash


class MemoryUnitOfWork:
    """One transaction over a `MemoryState`: kept on a clean exit, undone on an exception."""

    def __init__(self, state: MemoryState, *, write: bool = False) -> None:
        self.state = state
        self.write = write
        self.records = MemoryRecords(state)
        self.subjects = MemorySubjects(state)
        self.exchange = MemoryExchange(state)
        self.custody = MemoryCustody(state)
        self.history = MemoryHistory(state)
        self.status_updates = MemoryStatusUpdates(state)
        self.transactions = MemoryTransactions(state)
        self.idempotency = MemoryIdempotency(state)
        self.organisations = MemoryOrganisations(state)
        self.evidence = MemoryEvidence(state)
        self._saved: dict[str, Any] | None = None

    def __enter__(self) -> MemoryUnitOfWork:
        self._saved = copy.deepcopy(self.state.__dict__)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._saved is not None
        if exc_type is None:
            self.state.commits += 1
            return
        commits, rollbacks = self.state.commits, self.state.rollbacks
        self.state.__dict__.update(self._saved)
        self.state.commits, self.state.rollbacks = commits, rollbacks + 1

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = copy.deepcopy(self.state.__dict__)
        try:
            yield
        except BaseException:
            self.state.__dict__.update(saved)
            raise


def memory_uow(state: MemoryState) -> Any:
    """A `UnitOfWorkFactory` over `state`: `factory(write=True)` opens a write unit of work."""

    def factory(*, write: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(state, write=write)

    return factory
