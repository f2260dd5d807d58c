"""MaterialStatusUpdate: a material's availability (spec §1.6 lab extension; DECISIONS 6, 8).

Availability is its own state machine (available ↔ reserved, any → withdrawn; withdrawn is
terminal), kept in `dna_records.availability` apart from the registration status. Each update is
stored as received, moves the record along the machine (409 for a forbidden move), and is one
`material.status_updated` evidence entry. A material whose open or reserved offers still hold
quantity cannot be withdrawn (409): withdraw the offers first. New offers on a withdrawn material
are refused (400).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.lifecycle import MACHINES
from loopnode.services.idempotency import IdempotencyService
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.lifecycle.service import next_cursor, page_query, prepare
from loopnode.services.ports import StatusUpdateRow, UnitOfWork, UnitOfWorkFactory
from loopnode.services.results import Change, Created

__all__ = ["MaterialStatusService", "mint_uuid"]

AVAILABILITY = MACHINES["availability"]


def mint_uuid(random_hex: Callable[[int], str]) -> str:
    """A version-4 UUID from 32 injected hex digits."""
    raw = random_hex(32).lower()
    variant = "89ab"[int(raw[16], 16) % 4]
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[17:20]}-{raw[20:32]}"


class MaterialStatusService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        writes: IdempotencyService,
        random_hex: Callable[[int], str],
    ) -> None:
        self._uow = uow
        self._writes = writes
        self._random_hex = random_hex

    def record_change(self, payload: dict[str, Any], actor: str) -> Change[Created]:
        """Validate `payload` now; the update as a change for a write unit of work."""
        document = prepare("MaterialStatusUpdate", payload, lambda: mint_uuid(self._random_hex))

        def change(uow: UnitOfWork, now: datetime) -> Created:
            journal = Journal(uow, now, actor)
            _apply(journal, document)
            journal.flush()
            return Created(document, f"/api/v1/material-status/{document['id']}")

        return change

    def record(self, payload: dict[str, Any], actor: str) -> Created:
        return self._writes.apply(self.record_change(payload, actor))

    def get(self, update_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.status_updates.get(update_id)
        if row is None:
            raise NotFound(
                f"MaterialStatusUpdate {update_id} not found on this node",
                {"searched_id": update_id},
            )
        return row.document

    def list(self, params: dict[str, str], cursor: str | None, limit: int | None) -> dict[str, Any]:
        query, bound, size = page_query(
            "material-status", params, ("status", "material_id"), cursor, limit, AVAILABILITY.states
        )
        with self._uow() as uow:
            rows = uow.status_updates.page(query)
        page, more = rows[:size], len(rows) > size
        last = (page[-1].created_us, page[-1].id) if page else None
        return {
            "results": [row.document for row in page],
            "next_cursor": next_cursor(last, bound) if more and last else None,
        }


def _apply(j: Journal, document: dict[str, Any]) -> None:
    uow, material_id, target = j.uow, document["material_id"], document["status"]
    record = uow.records.get("material", material_id, lock=True)
    if record is None:
        raise InvalidRequest(
            f"material_id {material_id} names no material on this node",
            {"material_id": material_id},
        )
    AVAILABILITY.check(record.availability, target)
    if target == "withdrawn" and record.offered_micro > 0:
        raise Conflict(
            f"material {material_id} has open or reserved offers; withdraw them first",
            {"entity": "availability", "current": record.availability, "target": target},
        )
    uow.status_updates.insert(
        StatusUpdateRow(document["id"], material_id, target, document, j.now_us)
    )
    uow.subjects.set_availability(material_id, target, j.now_us)
    j.entered(
        "material", material_id, target, record.availability, document, document.get("reason")
    )
