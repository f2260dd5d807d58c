"""The ports the services need: storage behind a unit of work, and a clock.

Adapters implement these Protocols (SQLAlchemy in `adapters/storage`, fakes in tests). Rows
cross the boundary as the frozen dataclasses below, never as ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from loopnode.domain.evidence import EvidenceEvent


class Clock(Protocol):
    def now(self) -> datetime: ...


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


@dataclass(frozen=True, slots=True)
class EvidenceDraft:
    """What a state change asks the evidence log to record."""

    event_type: str
    subject_type: str
    subject_id: str
    actor: str
    payload_hash: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    key_id: str
    name: str
    secret_hash: str
    roles: tuple[str, ...]
    created_us: int
    expires_us: int
    revoked_us: int | None = None


class RecordStore(Protocol):
    def insert(self, row: RecordRow) -> None:
        """Store a new passport; raises `Conflict` when the id exists."""

    def get(self, kind: str, record_id: str) -> RecordRow | None: ...

    def existing_ids(self, kind: str, ids: Sequence[str]) -> set[str]: ...

    def page(self, query: RecordQuery) -> list[RecordRow]: ...

    def count(self, query: RecordQuery) -> int: ...

    def count_active(self, kind: str) -> int: ...


class EvidenceLog(Protocol):
    def append(self, draft: EvidenceDraft, now: datetime) -> EvidenceEvent: ...

    def page(self, after_sequence: int, limit: int) -> list[EvidenceEvent]: ...

    def iterate(self) -> Iterator[tuple[EvidenceEvent, str]]:
        """Every entry in sequence order, with the entry hash stored beside it."""

    def head(self) -> tuple[int, str]: ...


class ApiKeyStore(Protocol):
    def insert(self, row: ApiKeyRow) -> None: ...

    def by_secret_hash(self, secret_hash: str) -> ApiKeyRow | None: ...

    def all(self) -> list[ApiKeyRow]: ...

    def revoke(self, key_id: str, now_us: int) -> bool: ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block commits; an exception rolls back."""

    # Read-only members, so that an adapter may hold more specific store types.
    @property
    def records(self) -> RecordStore: ...

    @property
    def evidence(self) -> EvidenceLog: ...

    @property
    def api_keys(self) -> ApiKeyStore: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# `write=True` opens a write transaction (SQLite: BEGIN IMMEDIATE).
UnitOfWorkFactory = Callable[..., UnitOfWork]
