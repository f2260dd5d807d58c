"""The exchange rules: offers, matches and transfers inside one unit of work (spec §3.6,
§3.6.1; DECISIONS 8-11).

Theory of operation. Every change locks the rows it reads before deciding, always in the order
offer → match → transfer → passport (the evidence head comes last, see `journal`), so two writers
on PostgreSQL never deadlock; on SQLite the write transaction already excludes other writers.
The rules themselves are pure functions in `domain/exchange.py` (this module reads and locks
what they need, asks them in the order DECISIONS 9 gives, then persists), and the database
constraints (partial unique indexes, composite foreign keys, the offered-quantity CHECK) catch
whatever a missed race would let through.

Creation enters the entity's initial state and then walks `StateMachine.path` to the state the
client asked for, applying what each implied transition means: a Match created `accepted` first
reserves its offer as `proposed` would; a Transfer created `completed` moves the goods. An offer
is `reserved` exactly while it has an active match, so offers are never created `reserved`, and
the status route cannot reserve or reopen them by hand: matches do that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, overload

from loopnode.domain import exchange as rules
from loopnode.domain.errors import InvalidRequest, NotFound
from loopnode.domain.lifecycle import MACHINES
from loopnode.domain.quantities import dimension, quantity_from_json, require_exchangeable
from loopnode.domain.times import TimestampError, parse_timestamp, to_us
from loopnode.services.lifecycle.custody import Custody
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.ports import ExchangeRow, RecordRow, UnitOfWork
from loopnode.services.registry.service import quantity_micro

__all__ = ["Exchange"]

OFFER, MATCH, TRANSFER = MACHINES["offer"], MACHINES["match"], MACHINES["transfer"]


class Exchange:
    def __init__(self, custody: Custody) -> None:
        self._custody = custody

    # -- creation -----------------------------------------------------------------------------
    def create_offer(self, j: Journal, document: dict[str, Any]) -> ExchangeRow:
        record = _locked_subject(j.uow, document)
        subject = _subject(record)
        rules.check_offerable(subject)
        micro = _offer_micro(document, record)
        until_us = _timestamp_us(document, "available_until")
        target = document["status"]
        rules.check_new_offer(target, document["available_until"], until_us, j.now_us)
        rules.require_room(subject, micro)
        if not j.uow.subjects.reserve(record.id, micro):  # the database's word is the last
            raise rules.oversold(subject, micro)
        j.known[record.id] = record.document  # a reservation moves columns, not the document
        row = ExchangeRow(
            entity="offer",
            id=document["id"],
            status=OFFER.initial,
            subject_id=record.id,
            material_id=document.get("material_id"),
            product_id=document.get("product_id"),
            document={**document, "status": OFFER.initial},
            created_us=j.now_us,
            updated_us=j.now_us,
            offer_id=document["id"],
            quantity_micro=micro,
            available_until_us=until_us,
        )
        j.uow.exchange.insert(row)
        j.entered("offer", row.id, row.status, None, row.document)
        if target == "withdrawn":
            row = self._withdraw_offer(j, row, None)
        return row

    def create_match(self, j: Journal, document: dict[str, Any]) -> ExchangeRow:
        offer = j.uow.exchange.get("offer", document["offer_id"], lock=True)
        if offer is None:
            raise _unknown("offer", document["offer_id"])
        _require_same_subject("match", document, offer)
        active = j.uow.exchange.active_match(offer.id) if offer.status == "reserved" else None
        rules.check_matchable(_held(offer), offer.available_until_us, j.now_us, _held(active))
        path = MATCH.path(MATCH.initial, document["status"])
        row = _child_row("match", document, offer, j.now_us)
        plain, rest = rules.plain_prefix(MATCH, path[1:])
        row = _insert_through(j, row, plain)
        self._set(j, offer, "reserved", f"match {row.id}")
        for state in plain:
            j.entered("match", row.id, state, _before(path, state), _at(row, state))
        for state in rest:
            row = self._enter_match(j, row, state, None)
        return row

    def create_transfer(self, j: Journal, document: dict[str, Any]) -> ExchangeRow:
        uow = j.uow
        offer = uow.exchange.parent("match", document["match_id"], "offer")
        if offer is None:
            raise _unknown("match", document["match_id"])
        match = _get(uow, "match", document["match_id"], lock=True)
        j.known[match.id] = match.document  # a transfer's creation leaves its match as it is
        _require_same_subject("transfer", document, offer)
        live = uow.exchange.live_transfer(match.id) if match.status == "accepted" else None
        rules.check_transfer_allowed(_held(match), _held(live))
        path = TRANSFER.path(TRANSFER.initial, document["status"])
        row = replace(_child_row("transfer", document, offer, j.now_us), match_id=match.id)
        plain, rest = rules.plain_prefix(TRANSFER, path[1:])
        # Inserted once, already in its final state: the states on the way are journaled and
        # their side effects run, but no UPDATE writes a state that only this unit of work saw.
        _insert_through(j, row, path[1:])
        last = plain[-1] if plain else TRANSFER.initial
        row = replace(row, status=last, document=_at(row, last))
        for state in plain:
            j.entered("transfer", row.id, state, _before(path, state), _at(row, state))
        for state in rest:
            row = self._enter_transfer(j, row, state, None, offer, match, stored=True)
        return row

    # -- transitions --------------------------------------------------------------------------
    def transition(
        self, j: Journal, entity: str, entity_id: str, status: str, reason: str | None
    ) -> ExchangeRow:
        uow = j.uow
        if entity == "offer":
            return self._enter_offer(j, _get(uow, "offer", entity_id, lock=True), status, reason)
        offer = uow.exchange.parent(entity, entity_id, "offer")
        if offer is None:
            raise _not_found(entity, entity_id)
        if entity == "match":
            return self._enter_match(j, _get(uow, "match", entity_id, lock=True), status, reason)
        agreed = uow.exchange.parent("transfer", entity_id, "match")
        if agreed is None:  # rows are never deleted: the transfer found above has its match
            raise _not_found(entity, entity_id)
        j.known[agreed.id] = agreed.document  # a transfer's move leaves its match as it is
        transfer = _get(uow, "transfer", entity_id, lock=True)
        return self._enter_transfer(j, transfer, status, reason, offer, agreed)

    def _enter_offer(
        self, j: Journal, offer: ExchangeRow, state: str, reason: str | None
    ) -> ExchangeRow:
        OFFER.check(offer.status, state)
        active = j.uow.exchange.active_match(offer.id) if state == "open" else None
        rules.check_offer_move(_held(offer), state, _held(active))
        if state == "open":
            return self._set(j, offer, state, reason)
        return self._withdraw_offer(j, offer, reason)

    def _withdraw_offer(self, j: Journal, offer: ExchangeRow, reason: str | None) -> ExchangeRow:
        active = j.uow.exchange.active_match(offer.id)
        if active is not None:
            match = _get(j.uow, "match", active.id, lock=True)
            _require_no_live_transfer(j.uow, match, "expired")
            self._set(j, match, "expired", f"offer {offer.id} withdrawn")
        j.uow.subjects.release(offer.subject_id, offer.quantity_micro)
        return self._set(j, offer, "withdrawn", reason)

    def _enter_match(
        self, j: Journal, match: ExchangeRow, state: str, reason: str | None
    ) -> ExchangeRow:
        MATCH.check(match.status, state)
        if not rules.ends_match(state):
            return self._set(j, match, state, reason)
        _require_no_live_transfer(j.uow, match, state)
        match = self._set(j, match, state, reason)
        offer = _get(j.uow, "offer", match.offer_id or "", lock=True)
        if offer.status == "reserved":
            self._set(j, offer, "open", f"match {match.id} {state}")
        return match

    def _enter_transfer(
        self,
        j: Journal,
        transfer: ExchangeRow,
        state: str,
        reason: str | None,
        offer: ExchangeRow,
        match: ExchangeRow,
        *,
        stored: bool = False,
    ) -> ExchangeRow:
        """`stored`: the row is already in the database in `state` (a creation)."""
        TRANSFER.check(transfer.status, state)
        transfer = self._set(j, transfer, state, reason, write=not stored)
        if rules.fulfils_offer(state):
            self._custody.complete(j, transfer, offer, match)
            self._set(j, offer, "withdrawn", "fulfilled")
        return transfer

    @staticmethod
    def _set(
        j: Journal, row: ExchangeRow, status: str, reason: str | None, *, write: bool = True
    ) -> ExchangeRow:
        changed = replace(
            row, status=status, document={**row.document, "status": status}, updated_us=j.now_us
        )
        if write:
            j.uow.exchange.update(changed)
        j.entered(row.entity, row.id, status, row.status, changed.document, reason)
        return changed


def _at(row: ExchangeRow, state: str) -> dict[str, Any]:
    return {**row.document, "status": state}


def _before(path: Sequence[str], state: str) -> str:
    return path[path.index(state) - 1]


def _insert_through(j: Journal, row: ExchangeRow, plain: Sequence[str]) -> ExchangeRow:
    """Insert `row` in the last of `plain` (or as it is); journal its initial state.

    A match or transfer created in a later state passes through the states before it within
    its own unit of work. The states without side effects (`rules.plain_prefix`) are only
    journaled: the row is inserted once, already in the last of them, instead of inserted and
    then updated once per state (docs/performance.md)."""
    j.entered(row.entity, row.id, row.status, None, row.document)
    previous = row.status
    for state in plain:
        MACHINES[row.entity].check(previous, state)
        previous = state
    stored = replace(row, status=previous, document=_at(row, previous))
    j.uow.exchange.insert(stored)
    return stored


def _get(uow: UnitOfWork, entity: str, entity_id: str, *, lock: bool = False) -> ExchangeRow:
    found = uow.exchange.get(entity, entity_id, lock=lock)
    if found is None:  # rows are never deleted; a reference always resolves
        raise _not_found(entity, entity_id)
    return found


def _not_found(entity: str, entity_id: str) -> NotFound:
    return NotFound(f"{entity} {entity_id} not found on this node", {"searched_id": entity_id})


def _child_row(
    entity: str, document: dict[str, Any], offer: ExchangeRow, now_us: int
) -> ExchangeRow:
    initial = MACHINES[entity].initial
    return ExchangeRow(
        entity=entity,
        id=document["id"],
        status=initial,
        subject_id=offer.subject_id,
        material_id=offer.material_id,
        product_id=offer.product_id,
        document={**document, "status": initial},
        created_us=now_us,
        updated_us=now_us,
        offer_id=offer.id,
    )


def _locked_subject(uow: UnitOfWork, document: dict[str, Any]) -> RecordRow:
    """Lock every passport the offer names; the subject is the material when both are named."""
    found: list[RecordRow] = []
    for field in rules.SUBJECT_FIELDS:
        record_id = document.get(field)
        if record_id is None:
            continue
        kind = field.removesuffix("_id")
        record = uow.records.get(kind, record_id, lock=True)
        if record is None:
            raise InvalidRequest(
                f"{field} {record_id} names no {kind} on this node",
                {"field": field, "unknown_id": record_id},
            )
        found.append(record)
    return found[0]


def _offer_micro(document: dict[str, Any], record: RecordRow) -> int:
    quantity = quantity_from_json(document["quantity"])
    if dimension(quantity.unit) != dimension(record.quantity_unit):
        raise InvalidRequest(
            f"the offer's unit {quantity.unit.value} does not measure what {record.id} is "
            f"counted in ({record.quantity_unit})",
            {"unit": quantity.unit.value, "subject_unit": record.quantity_unit},
        )
    require_exchangeable(quantity)
    return quantity_micro(document["quantity"]["value"], document["quantity"]["unit"])


def _require_same_subject(entity: str, document: dict[str, Any], offer: ExchangeRow) -> None:
    subjects = {"material_id": offer.material_id, "product_id": offer.product_id}
    rules.check_same_subject(entity, document, offer.id, subjects)


def _require_no_live_transfer(uow: UnitOfWork, match: ExchangeRow, target: str) -> None:
    rules.check_no_live_transfer(_held(match), target, _held(uow.exchange.live_transfer(match.id)))


@overload
def _held(row: ExchangeRow) -> rules.Held: ...
@overload
def _held(row: ExchangeRow | None) -> rules.Held | None: ...
def _held(row: ExchangeRow | None) -> rules.Held | None:
    return None if row is None else rules.Held(row.id, row.status)


def _subject(record: RecordRow) -> rules.Subject:
    return rules.Subject(
        record.id,
        record.kind,
        record.quantity_unit,
        record.availability,
        record.quantity_micro,
        record.offered_micro,
    )


def _unknown(entity: str, entity_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"{entity}_id {entity_id} names no {entity} on this node", {f"{entity}_id": entity_id}
    )


def _timestamp_us(document: dict[str, Any], field: str) -> int:
    try:
        return to_us(parse_timestamp(document[field]))
    except TimestampError as exc:
        raise InvalidRequest(str(exc), {"field": field}) from exc
