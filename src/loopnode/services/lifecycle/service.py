"""Offers, matches and transfers as use cases (DECISIONS 7-11): create, change status, read, list.

A payload is made whole (an id minted when absent, `OFR-`/`MCH-`/`TRF-` + hex), validated against
its protocol model, and screened for personal data (DECISIONS 5) before any transaction opens.
The change itself (`create_change`, `transition_change`) runs in one write unit of work through
`Exchange`, together with its evidence entries and, when the client sent an `Idempotency-Key`,
the stored response (web/idempotency.py); `create` and `transition` run it for in-process
callers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from loopnode.domain import ids
from loopnode.domain.errors import InvalidRequest, Issue, NotFound, ValidationFailed
from loopnode.domain.lifecycle import MACHINES
from loopnode.domain.privacy import find_personal_data
from loopnode.protocol.validation import validate_entity
from loopnode.services.dpp.trade_findings import trade_findings
from loopnode.services.idempotency import IdempotencyService
from loopnode.services.lifecycle.custody import history
from loopnode.services.lifecycle.engine import Exchange
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.ports import ExchangeRow, ListQuery, UnitOfWork, UnitOfWorkFactory
from loopnode.services.registry import cursors
from loopnode.services.results import Change, Changed, Created

__all__ = [
    "ENTITY_TYPES",
    "LifecycleService",
    "check_id_lengths",
    "page_query",
    "prepare",
    "transition_body",
]

ENTITY_TYPES = {"offer": "Offer", "match": "Match", "transfer": "Transfer"}
PREFIXES = {"offer": ids.OFFER_PREFIX, "match": ids.MATCH_PREFIX, "transfer": ids.TRANSFER_PREFIX}
LIST_FILTERS = {
    "offer": ("status", "material_id", "product_id"),
    "match": ("status", "material_id", "product_id", "offer_id"),
    "transfer": ("status", "material_id", "product_id", "offer_id", "match_id"),
}
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_REASON = 200
MAX_ID = 160
ID_FIELDS = (
    "id",
    "material_id",
    "product_id",
    "offer_id",
    "match_id",
    "transaction_id",
    "material",
)


def prepare(entity_type: str, payload: dict[str, Any], mint: Callable[[], str]) -> dict[str, Any]:
    """The payload with an id (minted when absent), valid and free of personal data."""
    document = dict(payload)
    if "id" not in document:
        document["id"] = mint()
    validate_entity(document, entity_type)
    check_id_lengths(document)
    personal = find_personal_data(document)
    if personal:
        raise ValidationFailed(personal, "personal data is not allowed in LOOP payloads")
    return document


def check_id_lengths(document: dict[str, Any]) -> None:
    """The id patterns have no upper bound; the node stores ids of at most 160 characters."""
    issues = [
        Issue(f"/{field}", f"must be at most {MAX_ID} characters")
        for field in ID_FIELDS
        if isinstance(document.get(field), str) and len(document[field]) > MAX_ID
    ]
    if issues:
        raise ValidationFailed(issues)


def transition_body(body: dict[str, Any]) -> tuple[str, str | None]:
    """`{"status": ..., "reason"?: ...}` of a status route."""
    issues = [Issue(f"/{key}", "is not allowed") for key in body if key not in ("status", "reason")]
    status, reason = body.get("status"), body.get("reason")
    if not isinstance(status, str):
        issues.append(Issue("/status", "is required and must be a string"))
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        issues.append(Issue("/reason", f"must be a string of at most {MAX_REASON} characters"))
    if issues:
        raise ValidationFailed(issues)
    assert isinstance(status, str)
    return status, reason


def page_query(
    kind: str,
    params: dict[str, str],
    allowed: tuple[str, ...],
    cursor: str | None,
    limit: int | None,
    states: tuple[str, ...],
) -> tuple[ListQuery, str, int]:
    """A keyset listing query from query parameters; returns it with its cursor binding and size."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidRequest(f"unknown filter(s): {', '.join(unknown)}", {"allowed": allowed})
    if "status" in params and params["status"] not in states:
        raise InvalidRequest(
            f"status must be one of {', '.join(states)}", {"status": params["status"]}
        )
    size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= size <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", {"limit": limit})
    bound = cursors.binding("lifecycle", kind, sorted(params.items()))
    after = None
    if cursor is not None:
        position = cursors.decode(cursor, bound)
        after = (position.updated_us, position.record_id)
    return ListQuery(tuple(sorted(params.items())), after, size + 1), bound, size


def next_cursor(last: tuple[int, str], bound: str) -> str:
    # Position.updated_us carries created_us here: listings page in creation order.
    return cursors.encode(cursors.Position(last[0], last[1]), bound)


class LifecycleService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        writes: IdempotencyService,
        exchange: Exchange,
        random_hex: Callable[[int], str],
    ) -> None:
        self._uow = uow
        self._writes = writes
        self._exchange = exchange
        self._random_hex = random_hex

    def create_change(self, entity: str, payload: dict[str, Any], actor: str) -> Change[Created]:
        """Validate `payload` now; the creation as a change for a write unit of work."""
        document = prepare(ENTITY_TYPES[entity], payload, lambda: self._mint(entity))
        create = {
            "offer": self._exchange.create_offer,
            "match": self._exchange.create_match,
            "transfer": self._exchange.create_transfer,
        }[entity]

        def change(uow: UnitOfWork, now: datetime) -> Created:
            journal = Journal(uow, now, actor)
            row = create(journal, document)
            journal.flush()
            return Created(_answer(uow, row, journal), f"/api/v1/{entity}/{row.id}")

        return change

    def create(self, entity: str, payload: dict[str, Any], actor: str) -> Created:
        return self._writes.apply(self.create_change(entity, payload, actor))

    def transition_change(
        self, entity: str, entity_id: str, body: dict[str, Any], actor: str
    ) -> Change[Changed]:
        status, reason = transition_body(body)

        def change(uow: UnitOfWork, now: datetime) -> Changed:
            journal = Journal(uow, now, actor)
            row = self._exchange.transition(journal, entity, entity_id, status, reason)
            journal.flush()
            return Changed(_answer(uow, row, journal))

        return change

    def transition(self, entity: str, entity_id: str, body: dict[str, Any], actor: str) -> Changed:
        return self._writes.apply(self.transition_change(entity, entity_id, body, actor))

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.exchange.get(entity, entity_id)
        if row is None:
            raise NotFound(
                f"{entity} {entity_id} not found on this node", {"searched_id": entity_id}
            )
        return row.document

    def list(
        self, entity: str, params: dict[str, str], cursor: str | None, limit: int | None
    ) -> dict[str, Any]:
        states = MACHINES[entity].states
        query, bound, size = page_query(entity, params, LIST_FILTERS[entity], cursor, limit, states)
        with self._uow() as uow:
            rows = uow.exchange.page(entity, query)
        return _page(rows, size, bound)

    def history(self, kind: str, record_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            return history(uow, kind, record_id)

    def _mint(self, entity: str) -> str:
        return ids.mint_entity_id(PREFIXES[entity], self._random_hex(10))


def _answer(uow: UnitOfWork, row: ExchangeRow, journal: Journal) -> dict[str, Any]:
    """The stored entity plus its regulatory profile findings, always a list (never stored)."""
    return {**row.document, "profile_findings": trade_findings(uow, row, journal.known)}


def _page(rows: list[ExchangeRow], size: int, bound: str) -> dict[str, Any]:
    page, more = rows[:size], len(rows) > size
    last = (page[-1].created_us, page[-1].id) if page else None
    return {
        "results": [row.document for row in page],
        "next_cursor": next_cursor(last, bound) if more and last else None,
    }
