"""The exchange rules: offers, matches and transfers inside one unit of work (spec §3.6,
§3.6.1; DECISIONS 8-11).

Theory of operation. Every change locks the rows it reads before deciding, always in the order
offer → match → transfer → passport (the evidence head comes last, see `journal`), so two writers
on PostgreSQL never deadlock; on SQLite the write transaction already excludes other writers.
The rules are checked here in the order DECISIONS 9 gives them, and the database constraints
(partial unique indexes, composite foreign keys, the offered-quantity CHECK) catch whatever a
missed race would let through.

Creation enters the entity's initial state and then walks `StateMachine.path` to the state the
client asked for, applying what each implied transition means: a Match created `accepted` first
reserves its offer as `proposed` would; a Transfer created `completed` moves the goods. An offer
is `reserved` exactly while it has an active match, so offers are never created `reserved`, and
the status route cannot reserve or reopen them by hand: matches do that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.lifecycle import MACHINES
from loopnode.domain.quantities import dimension, quantity_from_json, require_exchangeable
from loopnode.domain.times import TimestampError, format_timestamp, from_us, parse_timestamp, to_us
from loopnode.services.custody import Custody
from loopnode.services.journal import Journal
from loopnode.services.ports import ExchangeRow, RecordRow, UnitOfWork
from loopnode.services.registry import quantity_micro

__all__ = ["Exchange"]

OFFER, MATCH, TRANSFER = MACHINES["offer"], MACHINES["match"], MACHINES["transfer"]
SUBJECT_FIELDS = ("material_id", "product_id")


class Exchange:
    def __init__(self, custody: Custody) -> None:
        self._custody = custody

    # -- creation -----------------------------------------------------------------------------
    def create_offer(self, j: Journal, document: dict[str, Any]) -> ExchangeRow:
        record = _locked_subject(j.uow, document)
        if record.availability == "withdrawn":
            raise InvalidRequest(f"{record.kind} {record.id} is withdrawn", {"id": record.id})
        micro = _offer_micro(document, record)
        until_us = _timestamp_us(document, "available_until")
        target = document["status"]
        if target == "reserved":
            raise InvalidRequest(
                "an offer is reserved only by a match created against it: create it open",
                {"status": target},
            )
        if target == "open" and until_us <= j.now_us:
            raise InvalidRequest(
                "available_until has passed", {"available_until": document["available_until"]}
            )
        if not j.uow.subjects.reserve(record.id, micro):
            raise _oversold(record, micro)
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
        _require_matchable(j.uow, offer, j.now_us)
        path = MATCH.path(MATCH.initial, document["status"])
        row = _child_row("match", document, offer, j.now_us)
        plain, rest = _plain_prefix(MATCH, path[1:])
        row = _insert_through(j, row, plain)
        self._set(j, offer, "reserved", f"match {row.id}")
        for state in plain:
            j.entered("match", row.id, state, _before(path, state), _at(row, state))
        for state in rest:
            row = self._enter_match(j, row, state, None)
        return row

    def create_transfer(self, j: Journal, document: dict[str, Any]) -> ExchangeRow:
        uow = j.uow
        seen = uow.exchange.get("match", document["match_id"])
        if seen is None:
            raise _unknown("match", document["match_id"])
        offer = _get(uow, "offer", seen.offer_id or "", lock=True)
        match = _get(uow, "match", seen.id, lock=True)
        _require_same_subject("transfer", document, offer)
        if match.status != "accepted":
            raise InvalidRequest(
                f"a transfer needs an accepted match; match {match.id} is {match.status}",
                {"match_id": match.id, "current": match.status},
            )
        live = uow.exchange.live_transfer(match.id)
        if live is not None:
            raise Conflict(
                f"match {match.id} already has a live transfer ({live.id}, {live.status})",
                {"match_id": match.id, "transfer_id": live.id, "rule": "one live transfer"},
            )
        path = TRANSFER.path(TRANSFER.initial, document["status"])
        row = replace(_child_row("transfer", document, offer, j.now_us), match_id=match.id)
        plain, rest = _plain_prefix(TRANSFER, path[1:])
        row = _insert_through(j, row, plain)
        for state in plain:
            j.entered("transfer", row.id, state, _before(path, state), _at(row, state))
        for state in rest:
            row = self._enter_transfer(j, row, state, None, offer, match)
        return row

    # -- transitions --------------------------------------------------------------------------
    def transition(
        self, j: Journal, entity: str, entity_id: str, status: str, reason: str | None
    ) -> ExchangeRow:
        uow = j.uow
        seen = uow.exchange.get(entity, entity_id)
        if seen is None:
            raise NotFound(
                f"{entity} {entity_id} not found on this node", {"searched_id": entity_id}
            )
        offer = _get(uow, "offer", seen.offer_id or "", lock=True)
        if entity == "offer":
            return self._enter_offer(j, offer, status, reason)
        match = _get(uow, "match", seen.match_id or seen.id, lock=True)
        if entity == "match":
            return self._enter_match(j, match, status, reason)
        transfer = _get(uow, "transfer", entity_id, lock=True)
        return self._enter_transfer(j, transfer, status, reason, offer, match)

    def _enter_offer(
        self, j: Journal, offer: ExchangeRow, state: str, reason: str | None
    ) -> ExchangeRow:
        OFFER.check(offer.status, state)
        details = {"entity": "offer", "current": offer.status, "target": state}
        if state == "reserved":
            raise Conflict(
                f"offer {offer.id} is {offer.status}; it is reserved only by a match created "
                "against it",
                details,
            )
        active = j.uow.exchange.active_match(offer.id)
        if state == "open" and active is not None:
            raise Conflict(
                f"offer {offer.id} is reserved by match {active.id}; "
                "reject or expire that match to release it",
                {**details, "match_id": active.id},
            )
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
        if state not in MATCH.terminal:
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
    ) -> ExchangeRow:
        TRANSFER.check(transfer.status, state)
        transfer = self._set(j, transfer, state, reason)
        if state == "completed":
            # DECISIONS 11: the goods leave the subject, and the offer is closed as fulfilled.
            self._custody.complete(j, transfer, offer, match)
            self._set(j, offer, "withdrawn", "fulfilled")
        return transfer

    @staticmethod
    def _set(j: Journal, row: ExchangeRow, status: str, reason: str | None) -> ExchangeRow:
        changed = replace(
            row, status=status, document={**row.document, "status": status}, updated_us=j.now_us
        )
        j.uow.exchange.update(changed)
        j.entered(row.entity, row.id, status, row.status, changed.document, reason)
        return changed


# A match or transfer created in a later state passes through the states before it within its
# own unit of work. The states without side effects (not terminal) are only journaled: the row
# is inserted once, already in the last of them, instead of inserted and then updated once per
# state (docs/performance.md). The evidence and status history are exactly as before.
def _plain_prefix(machine: Any, states: Sequence[str]) -> tuple[list[str], list[str]]:
    plain: list[str] = []
    for state in states:
        if state in machine.terminal:
            break
        plain.append(state)
    return plain, list(states[len(plain) :])


def _at(row: ExchangeRow, state: str) -> dict[str, Any]:
    return {**row.document, "status": state}


def _before(path: Sequence[str], state: str) -> str:
    return path[path.index(state) - 1]


def _insert_through(j: Journal, row: ExchangeRow, plain: Sequence[str]) -> ExchangeRow:
    """Insert `row` in the last of `plain` (or as it is); journal its initial state."""
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
        raise NotFound(f"{entity} {entity_id} not found on this node", {"searched_id": entity_id})
    return found


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
    for field in SUBJECT_FIELDS:
        record_id = document.get(field)
        if record_id is None:
            continue
        kind = field.removesuffix("_id")
        record = uow.records.get(kind, record_id) if uow.subjects.lock(record_id) else None
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


def _oversold(record: RecordRow, micro: int) -> InvalidRequest:
    return InvalidRequest(
        f"open and reserved offers of {record.id} would exceed its quantity",
        {
            "id": record.id,
            "unit": record.quantity_unit,
            "available_micro": record.quantity_micro,
            "offered_micro": record.offered_micro,
            "requested_micro": micro,
            "rule": "offers never exceed the subject (DECISIONS 10)",
        },
    )


def _require_same_subject(entity: str, document: dict[str, Any], offer: ExchangeRow) -> None:
    for field in SUBJECT_FIELDS:
        if field in document and document[field] != getattr(offer, field):
            raise InvalidRequest(
                f"the {entity}'s {field} differs from offer {offer.id}'s",
                {"field": field, "value": document[field], "offer": getattr(offer, field)},
            )


def _require_matchable(uow: UnitOfWork, offer: ExchangeRow, now_us: int) -> None:
    """DECISIONS 9: withdrawn or past its time → 400; reserved → 409 when an active match
    holds it (the specific "one active match" rule), 400 otherwise."""
    details = {"offer_id": offer.id, "current": offer.status}
    if offer.status == "withdrawn":
        raise InvalidRequest(f"offer {offer.id} is withdrawn", details)
    if offer.available_until_us <= now_us:
        until = format_timestamp(from_us(offer.available_until_us))
        raise InvalidRequest(f"offer {offer.id} expired at {until}", details)
    if offer.status == "reserved":
        active = uow.exchange.active_match(offer.id)
        if active is not None:
            raise Conflict(
                f"offer {offer.id} already has an active match ({active.id})",
                {**details, "match_id": active.id, "rule": "one active match per offer"},
            )
        raise InvalidRequest(f"offer {offer.id} is reserved", details)


def _require_no_live_transfer(uow: UnitOfWork, match: ExchangeRow, target: str) -> None:
    live = uow.exchange.live_transfer(match.id)
    if live is not None:
        raise Conflict(
            f"match {match.id} has a {live.status} transfer ({live.id}), so it cannot become "
            f"{target}: goods in transit never reopen their offer",
            {"entity": "match", "current": match.status, "target": target, "transfer_id": live.id},
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
