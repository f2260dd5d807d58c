"""Transactions (spec §1.11, §3.6; SPEC-DIGEST §7 item 9; DECISIONS 8, 13).

`POST /transaction` takes any of the three schema definitions:
- MaterialTransaction records a transaction about a material registered here (404 otherwise;
  409 if its id is known), in its `status` (default
  `pending`), walking the 7-value TransactionStatus machine from `pending`;
- Settlement attaches to a known transaction (400 otherwise) with the same material, seller and
  buyer; its distribution must add up to `final_cost` (DECISIONS 13); a second one is 409;
- TransactionStatus moves a known transaction along the machine (409 for a forbidden move).
Each answers with the transaction's TransactionStatus, whose `settlement_url` is the transaction's
own URL. The stored MaterialTransaction only ever shows the five values its schema allows: it
keeps its last such status while the transaction is `in_transit` or `delivered`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.lifecycle import MACHINES
from loopnode.domain.money import InvalidAmount, Money
from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.protocol.validation import validate_entity
from loopnode.services.idempotency import IdempotencyService
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.lifecycle.service import (
    check_id_lengths,
    next_cursor,
    page_query,
    transition_body,
)
from loopnode.services.ports import TransactionRow, UnitOfWork, UnitOfWorkFactory
from loopnode.services.results import Change, Changed, Created

__all__ = ["TransactionService", "status_view"]

MACHINE = MACHINES["transaction"]
TYPES = ("MaterialTransaction", "Settlement", "TransactionStatus")
TRANSACTION_STATES = frozenset({"pending", "confirmed", "completed", "cancelled", "disputed"})
PARTS = ("seller_receives", "seller_community_fund", "buyer_community_fund", "transport_cost")
# Settlement in LoopCoin when a transaction is confirmed (services/ledger/settlement.py): it
# runs in the same unit of work and answers the emitted Settlement, or None.
SettleHook = Callable[[UnitOfWork, TransactionRow, datetime, str], dict[str, Any] | None]


def status_view(row: TransactionRow) -> dict[str, Any]:
    """The transaction as a TransactionStatus, with the stored documents beside it."""
    view: dict[str, Any] = {
        "@context": CONTEXT_V020,
        "@type": "TransactionStatus",
        "schema_version": "0.2.0",
        "transaction_id": row.id,
        "status": row.status,
        "updated_at": format_timestamp(from_us(row.updated_us)),
        "settlement_url": f"/api/v1/transaction/{row.id}",
    }
    return view


class TransactionService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        writes: IdempotencyService,
        on_confirmed: SettleHook | None = None,
    ) -> None:
        self._uow = uow
        self._writes = writes
        self._on_confirmed = on_confirmed

    def submit_change(self, payload: dict[str, Any], actor: str) -> Change[Created]:
        """Validate `payload` now; the submission as a change for a write unit of work."""
        kind = payload.get("@type")
        if kind not in TYPES:
            raise InvalidRequest(f"@type must be one of {', '.join(TYPES)}", {"@type": kind})
        validate_entity(payload, str(kind))
        check_id_lengths(payload)
        apply = {
            "MaterialTransaction": _record,
            "Settlement": _settle,
            "TransactionStatus": _status,
        }[str(kind)]

        def change(uow: UnitOfWork, now: datetime) -> Created:
            journal = Journal(uow, now, actor)
            row = apply(journal, payload, self._on_confirmed)
            journal.flush()
            return Created(status_view(row), f"/api/v1/transaction/{row.id}")

        return change

    def submit(self, payload: dict[str, Any], actor: str) -> Created:
        return self._writes.apply(self.submit_change(payload, actor))

    def transition_change(
        self, transaction_id: str, body: dict[str, Any], actor: str
    ) -> Change[Changed]:
        status, reason = transition_body(body)

        def change(uow: UnitOfWork, now: datetime) -> Changed:
            journal = Journal(uow, now, actor)
            row = uow.transactions.get(transaction_id, lock=True)
            if row is None:
                raise _missing(transaction_id)
            row = _move(journal, row, status, reason, self._on_confirmed)
            journal.flush()
            return Changed(status_view(row))

        return change

    def transition(self, transaction_id: str, body: dict[str, Any], actor: str) -> Changed:
        return self._writes.apply(self.transition_change(transaction_id, body, actor))

    def get(self, transaction_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.transactions.get(transaction_id)
        if row is None:
            raise _missing(transaction_id)
        return {**status_view(row), "transaction": row.document, "settlement": row.settlement}

    def list(self, params: dict[str, str], cursor: str | None, limit: int | None) -> dict[str, Any]:
        query, bound, size = page_query(
            "transaction", params, ("status", "material_id"), cursor, limit, MACHINE.states
        )
        with self._uow() as uow:
            rows = uow.transactions.page(query)
        page, more = rows[:size], len(rows) > size
        last = (page[-1].created_us, page[-1].id) if page else None
        return {
            "results": [status_view(row) for row in page],
            "next_cursor": next_cursor(last, bound) if more and last else None,
        }


def _record(j: Journal, payload: dict[str, Any], hook: SettleHook | None) -> TransactionRow:
    material = payload["material"]
    known = j.uow.records.get("material", material) is not None or (
        # A buyer's node knows a seller's material from the seller's own announcement.
        j.uow.federation.announcements.remote(payload["seller"], material) is not None
    )
    if not known:
        # A transaction about nothing this node knows means nothing (issue 15).
        raise NotFound(
            f"material {material} is neither registered on this node nor announced by its seller",
            {"searched_id": material},
        )
    target = payload.get("status", MACHINE.initial)
    path = MACHINE.path(MACHINE.initial, target)
    document = {**payload, "status": MACHINE.initial}
    row = TransactionRow(
        id=payload["id"],
        material_id=payload["material"],
        seller=payload["seller"],
        buyer=payload["buyer"],
        status=MACHINE.initial,
        document=document,
        created_us=j.now_us,
        updated_us=j.now_us,
    )
    j.uow.transactions.insert(row)
    j.entered("transaction", row.id, row.status, None, document)
    for state in path[1:]:
        row = _move(j, row, state, None, hook)
    return row


def _settle(j: Journal, payload: dict[str, Any], _hook: SettleHook | None) -> TransactionRow:
    row = _known(j.uow, payload["transaction_id"])
    for field, stored in (
        ("material", row.material_id),
        ("seller", row.seller),
        ("buyer", row.buyer),
    ):
        if payload[field] != stored:
            raise InvalidRequest(
                f"the settlement's {field} differs from transaction {row.id}'s",
                {"field": field, "value": payload[field], "transaction": stored},
            )
    parts = payload["distribution"]
    paid = sum((_money(parts[p], f"distribution.{p}") for p in PARTS if p in parts), Money.zero())
    if paid != _money(payload["final_cost"], "final_cost"):
        raise InvalidRequest(
            "the distribution does not add up to final_cost (DECISIONS 13)",
            {"final_cost": payload["final_cost"], "distributed": str(paid)},
        )
    if row.settlement is not None:
        raise Conflict(f"transaction {row.id} is already settled", {"transaction_id": row.id})
    row = replace(row, settlement=payload, updated_us=j.now_us)
    j.uow.transactions.update(row)
    j.record("settlement.recorded", "settlement", row.id, payload, {"transaction_id": row.id})
    return row


def _money(value: object, field: str) -> Money:
    """A wire amount as exact cents (DECISIONS 12): sums are integers, never float arithmetic.

    The body parser hands JSON numbers over as int or float; a float is read through its shortest
    round-trip text (`repr`), which is the decimal the sender wrote for any amount of up to 15
    significant digits, and must then be a whole number of cents.
    """
    try:
        return Money.parse(repr(value) if isinstance(value, float) else value)
    except InvalidAmount as exc:
        raise InvalidRequest(f"{field}: {exc.message}", {"field": field, **exc.details}) from exc


def _status(j: Journal, payload: dict[str, Any], hook: SettleHook | None) -> TransactionRow:
    row = _known(j.uow, payload["transaction_id"])
    notes = (payload.get("details") or {}).get("notes")
    return _move(j, row, payload["status"], notes if isinstance(notes, str) else None, hook)


def _move(
    j: Journal,
    row: TransactionRow,
    status: str,
    reason: str | None,
    hook: SettleHook | None = None,
) -> TransactionRow:
    MACHINE.check(row.status, status)
    document = row.document
    if status in TRANSACTION_STATES:
        document = {**document, "status": status}
    changed = replace(row, status=status, document=document, updated_us=j.now_us)
    settlement = None
    if status == "confirmed" and hook is not None:
        settlement = hook(j.uow, changed, j.now, j.actor)
    if settlement is not None:
        changed = replace(changed, settlement=settlement)
    j.uow.transactions.update(changed)
    if settlement is not None:
        subject = {"transaction_id": row.id}
        j.record("settlement.recorded", "settlement", row.id, settlement, subject)
    j.entered("transaction", row.id, status, row.status, status_view(changed), reason)
    return changed


def _known(uow: UnitOfWork, transaction_id: str) -> TransactionRow:
    row = uow.transactions.get(transaction_id, lock=True)
    if row is None:
        raise InvalidRequest(
            f"transaction_id {transaction_id} names no transaction on this node",
            {"transaction_id": transaction_id},
        )
    return row


def _missing(transaction_id: str) -> NotFound:
    return NotFound(
        f"transaction {transaction_id} not found on this node", {"searched_id": transaction_id}
    )
