"""What a write use case did, for the web layer to answer as it sees fit (issue 9).

Services say what happened (`Created` at a path, `Changed`); `web/` picks status codes and
headers. `Replayed` is the response stored for an `Idempotency-Key` the first time round, sent
again as it was (services/idempotency.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from loopnode.services.ports import UnitOfWork

__all__ = ["Change", "Changed", "Created", "Render", "Replayed", "Result", "StoredResponse"]


@dataclass(frozen=True, slots=True)
class Created:
    """A new entity, now readable at `path` on this node."""

    document: dict[str, Any]
    path: str


@dataclass(frozen=True, slots=True)
class Changed:
    """An existing entity changed; `document` is how it reads now."""

    document: dict[str, Any]


Result: TypeAlias = Created | Changed
R = TypeVar("R", Created, Changed)

# A write as one function of an open write unit of work and the time it runs at; the caller
# decides the transaction (and whether an Idempotency-Key's stored response commits with it).
Change: TypeAlias = Callable[[UnitOfWork, datetime], R]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response as the key table keeps it: what web rendered for the first request."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The stored response of an earlier request with the same key and body."""

    response: StoredResponse


# Web's rendering of a result: what a replay of it must send.
Render: TypeAlias = Callable[[Result], StoredResponse]
