"""The ports the services need: storage behind the node's one unit of work, and a clock.

Every feature types against the one `UnitOfWork` below; the stores of a feature keep their
Protocols in that feature's ports module (ledger, routing, core-dp, federation, messaging).

Adapters implement these Protocols (SQLAlchemy in `adapters/storage`, fakes in tests). Rows
cross the boundary as the frozen dataclasses below, never as ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from loopnode.domain.errors import Conflict
from loopnode.domain.evidence import EvidenceEvent

if TYPE_CHECKING:
    from loopnode.services.coredp.ports import CoreDpStores
    from loopnode.services.federation.ports import FederationStores
    from loopnode.services.ledger.ports import LedgerStore
    from loopnode.services.messaging.ports import MessagingStores
    from loopnode.services.routing.ports import DemandStore, OverflowStore, SignalStore


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A page entry of a search that answers stored documents as they are: its keyset position
    and the document's JSON text exactly as stored (never parsed)."""

    updated_us: int
    id: str
    document_json: str


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A MaterialDNA/ProductDNA passport with its indexed projections."""

    id: str
    kind: str
    category: str
    condition: str | None
    origin_city: str
    current_city: str
    lat: float | None
    lon: float | None
    unit_vector: tuple[float, float, float] | None
    quantity_unit: str
    quantity_micro: int
    available_from_us: int
    expires_us: int | None
    source_node: str
    document: dict[str, Any]
    record_hash: str
    created_us: int
    updated_us: int
    availability: str = "available"
    offered_micro: int = 0
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Filters and keyset position for listing and searching passports.

    Every filter is optional; `after` is the (updated_us, id) of the last row already seen.
    """

    kind: str
    category: str | None = None
    category_prefix: str | None = None
    id_prefix: str | None = None
    origin_city: str | None = None
    current_city: str | None = None
    availability: str | None = None
    source_node: str | None = None
    condition: str | None = None
    min_quantity_micro: int | None = None
    min_quantity_value: float | None = None
    available_from_gte_us: int | None = None
    available_from_lt_us: int | None = None
    updated_since_us: int | None = None
    updated_until_us: int | None = None
    near: tuple[float, float, float] | None = None
    near_lat_bounds: tuple[float, float] | None = None
    near_min_dot: float | None = None
    after: tuple[int, str] | None = None
    limit: int = 50
    # Searches leave withdrawn passports out (issue 15); listings keep them for synchronisation.
    exclude_withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class EvidenceDraft:
    """What a state change asks the evidence log to record."""

    event_type: str
    subject_type: str
    subject_id: str
    actor: str
    payload_hash: str
    summary: dict[str, Any] = field(default_factory=dict)
    # When the change happened, if not when the entry is appended (a batched write's own time).
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    key_id: str
    name: str
    secret_hash: str
    roles: tuple[str, ...]
    created_us: int
    expires_us: int
    revoked_us: int | None = None


DocumentRead = Callable[[str, str], "bytes | None"]
"""`(kind, record_id)` → the stored document's JSON bytes, or None: one statement, outside a
unit of work (the GET route's read; `RecordStore.document_json` inside one)."""


class RecordStore(Protocol):
    def insert(self, row: RecordRow) -> None:
        """Store a new passport; raises `Conflict` when the id exists."""

    def insert_many(self, rows: Sequence[RecordRow]) -> None:
        """Store new passports at once (a batch's registrations); raises when any id exists,
        storing none of them."""

    def get(self, kind: str, record_id: str, *, lock: bool = False) -> RecordRow | None:
        """The passport; with `lock`, its row locked for the unit of work (`FOR UPDATE` on
        PostgreSQL; SQLite's write transaction holds the whole database) in the same
        statement."""
        ...

    def document_json(self, kind: str, record_id: str) -> bytes | None:
        """The stored document's JSON bytes exactly as stored (what `get(...).document`
        serialises to), without parsing it: the read path passes them through."""
        ...

    def existing_ids(self, kind: str, ids: Sequence[str]) -> set[str]: ...

    def page(self, query: RecordQuery) -> list[RecordRow]: ...

    def page_documents(self, query: RecordQuery) -> list[StoredDocument]:
        """`page` for answers that only pass the documents on: the same rows in the same
        order, each as its position and stored JSON text."""
        ...

    def count(self, query: RecordQuery) -> int: ...

    def count_active(self, kind: str) -> int: ...


class EvidenceLog(Protocol):
    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent: ...

    def append_many(self, drafts: Sequence[EvidenceDraft], now: datetime) -> list[EvidenceEvent]:
        """`append` of each draft in order, as one write: consecutive sequences, each entry
        linked to the one before."""
        ...

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]: ...

    def iterate(self) -> Iterator[tuple[EvidenceEvent, str]]:
        """Every entry in sequence order, with the entry hash stored beside it."""

    def head(self) -> tuple[int, str]: ...

    def get(self, sequence: int) -> tuple[EvidenceEvent, str] | None:
        """One entry and its stored hash."""

    def tombstone(self, tombstone: EvidenceEvent, redacted_by: int) -> None:
        """Store a redacted entry (domain `redact`) over the original, once."""

    def record_mismatches(self) -> list[tuple[str, str, str]]:
        """(subject type, id, problem) of each record its evidence does not account for."""


class ApiKeyStore(Protocol):
    def insert(self, row: ApiKeyRow) -> None: ...

    def by_secret_hash(self, secret_hash: str) -> ApiKeyRow | None: ...

    def all(self) -> list[ApiKeyRow]: ...

    def revoke(self, key_id: str, now_us: int) -> bool: ...

    def count_valid(self, now_us: int) -> int:
        """Keys neither revoked nor expired at `now_us`."""


# -- exchange lifecycle (DECISIONS 7-11) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    """An Offer, Match or Transfer (`entity`) with its indexed projections.

    `subject_id` is the passport whose quantity an offer holds (its `material_id`, else its
    `product_id`); matches and transfers carry their offer's. `quantity_micro` (offers only) is in
    micro-units of the subject's base unit, like `RecordRow.quantity_micro`.
    """

    entity: str
    id: str
    status: str
    subject_id: str
    material_id: str | None
    product_id: str | None
    document: dict[str, Any]
    created_us: int
    updated_us: int
    offer_id: str | None = None
    match_id: str | None = None
    quantity_micro: int = 0
    available_until_us: int = 0


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Equality filters (column, value) and a keyset position (created_us, id) for listings."""

    filters: tuple[tuple[str, str], ...] = ()
    after: tuple[int, str] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    """One link of the chain of custody: a completed transfer moved or split a passport."""

    record_id: str
    child_id: str | None
    transfer_id: str
    offer_id: str
    match_id: str
    from_city: str
    to_city: str
    quantity_micro: int
    mode: str
    sequence: int
    recorded_us: int


@dataclass(frozen=True, slots=True)
class StatusChange:
    """An entity entered `status`; `sequence` is the evidence entry that recorded it."""

    entity_type: str
    entity_id: str
    status: str
    previous: str | None
    reason: str | None
    actor: str
    sequence: int
    recorded_us: int


@dataclass(frozen=True, slots=True)
class StatusUpdateRow:
    """A stored MaterialStatusUpdate."""

    id: str
    material_id: str
    status: str
    document: dict[str, Any]
    created_us: int


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """A MaterialTransaction, its current (7-value) status and its Settlement, if any."""

    id: str
    material_id: str
    seller: str
    buyer: str
    status: str
    document: dict[str, Any]
    created_us: int
    updated_us: int
    settlement: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    principal: str
    key: str
    request_hash: str
    state: str
    created_us: int
    expires_us: int
    status_code: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class KeyTaken(Conflict):
    """Another request holds this (principal, Idempotency-Key): the unique constraint said so."""


class ExchangeStore(Protocol):
    def insert(self, row: ExchangeRow) -> None:
        """Raises `Conflict` for a taken id, a second active match or a second live transfer,
        `InvalidRequest` for a subject that differs from its offer's."""

    def get(self, entity: str, entity_id: str, *, lock: bool = False) -> ExchangeRow | None: ...

    def parent(self, entity: str, entity_id: str, parent: str) -> ExchangeRow | None:
        """The `parent` (`offer` or `match`) that `entity_id` belongs to, locked for the unit of
        work by the statement that finds it; None when `entity_id` is unknown."""

    def update(self, row: ExchangeRow) -> None:
        """Store `row`'s status, document and updated_us."""

    def active_match(self, offer_id: str) -> ExchangeRow | None: ...

    def live_transfer(self, match_id: str) -> ExchangeRow | None: ...

    def page(self, entity: str, query: ListQuery) -> list[ExchangeRow]: ...


class SubjectLedger(Protocol):
    """What the lifecycle changes on passports: offered quantity, availability, custody."""

    def lock(self, record_id: str) -> str | None:
        """Lock the passport's row for this unit of work; its kind, or None when unknown."""

    def reserve(self, record_id: str, micro: int) -> bool:
        """Add `micro` to the offered quantity unless that would exceed the record's quantity."""

    def release(self, record_id: str, micro: int) -> None: ...

    def set_availability(self, record_id: str, availability: str, updated_us: int) -> None: ...

    def rewrite(self, row: RecordRow) -> None:
        """Store a changed document with its projections (city, quantity, hash, updated_us)."""


class CustodyLog(Protocol):
    def append(self, entry: CustodyEntry) -> None: ...

    def of(self, record_id: str) -> list[CustodyEntry]:
        """Entries that moved or split `record_id`, or created it by a split."""


class StatusHistory(Protocol):
    def append(self, change: StatusChange) -> None: ...

    def append_many(self, changes: Sequence[StatusChange]) -> None:
        """`append` of each change, as one executemany."""
        ...

    def of(self, entity_type: str, entity_id: str) -> list[StatusChange]: ...


class StatusUpdateStore(Protocol):
    def insert(self, row: StatusUpdateRow) -> None: ...

    def get(self, update_id: str) -> StatusUpdateRow | None: ...

    def page(self, query: ListQuery) -> list[StatusUpdateRow]: ...


class TransactionStore(Protocol):
    def insert(self, row: TransactionRow) -> None: ...

    def get(self, transaction_id: str, *, lock: bool = False) -> TransactionRow | None: ...

    def update(self, row: TransactionRow) -> None: ...

    def page(self, query: ListQuery) -> list[TransactionRow]: ...

    def count(self, created_since_us: int | None = None) -> int: ...


class IdempotencyStore(Protocol):
    def get(self, principal: str, key: str) -> IdempotencyRow | None: ...

    def insert(self, row: IdempotencyRow) -> None:
        """Raises `KeyTaken` when the (principal, key) row exists."""

    def complete(
        self,
        principal: str,
        key: str,
        status_code: int,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> None: ...

    def delete(self, principal: str, key: str) -> None: ...

    def purge(self, now_us: int) -> int: ...


class OrganisationStore(Protocol):
    """The organisation that registered a record (`services/access/ownership.py`)."""

    def set(self, kind: str, record_id: str, organisation: str) -> None: ...

    def get(self, kind: str, record_id: str) -> str | None: ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block commits; an exception rolls back."""

    # Read-only members, so that an adapter may hold more specific store types.
    @property
    def records(self) -> RecordStore: ...

    @property
    def evidence(self) -> EvidenceLog: ...

    @property
    def organisations(self) -> OrganisationStore: ...

    @property
    def api_keys(self) -> ApiKeyStore: ...

    @property
    def exchange(self) -> ExchangeStore: ...

    @property
    def subjects(self) -> SubjectLedger: ...

    @property
    def custody(self) -> CustodyLog: ...

    @property
    def history(self) -> StatusHistory: ...

    @property
    def status_updates(self) -> StatusUpdateStore: ...

    @property
    def transactions(self) -> TransactionStore: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    # The federation, core-dp and messaging stores (services/federation, services/coredp_*,
    # services/messaging): one unit of work for every service, so a received message, its
    # lifecycle change, its evidence and the messages it queues commit together.
    @property
    def federation(self) -> FederationStores: ...

    @property
    def coredp(self) -> CoreDpStores: ...

    @property
    def messaging(self) -> MessagingStores: ...

    # The LoopCoin ledger and the routing stores (services/ledger, services/routing_*), in the
    # same transaction as the evidence entries they write.
    @property
    def ledger(self) -> LedgerStore: ...

    @property
    def signals(self) -> SignalStore: ...

    @property
    def demand(self) -> DemandStore: ...

    @property
    def overflow(self) -> OverflowStore: ...

    def savepoint(self) -> AbstractContextManager[object]:
        """A nested transaction: an exception inside rolls back to it and propagates, the
        rest of the unit of work stays usable (group commit, services/group_commit.py)."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# `write=True` opens a write transaction (SQLite: BEGIN IMMEDIATE).
UnitOfWorkFactory = Callable[..., UnitOfWork]


class PeerSearch(Protocol):
    """Merges this node's core-dp search answer with its approved peers' (federation)."""

    def __call__(
        self, kind: str, request: dict[str, Any], local: dict[str, Any]
    ) -> dict[str, Any]: ...
