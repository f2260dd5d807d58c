"""Custody and fulfilment (DECISIONS 11): what a completed transfer does to its passport.

The offer's quantity leaves the subject. When it is the whole quantity the record moves: its
`current_city` becomes the receiving city. Otherwise the record splits: a new record with a new
id (minted as the registry mints them, `metadata.parent_id` and the `parent_id` column pointing
back) holds the moved part at the receiving city, and the parent's quantity drops by it. Either
way a chain-of-custody entry is appended and the offer's reservation of quantity is released, so
"offers never exceed the subject" (DECISIONS 10) holds before and after.

Quantities and the receiving city are worked out in `domain/custody.py` (pure arithmetic); the
integer micro-unit columns are the authority for the invariant and move by exactly the offer's
micro-units, the documents carry the same amounts as exact decimals in the parent's unit.

Fulfilment (issue 15): the record that now holds the moved goods (the whole record on a move,
the new one on a split) is delivered, not on offer: it becomes `withdrawn` with the reason
`fulfilled` (a status-history row and evidence entry), so searches leave it out and the relay
announces it `available: false`. The parent of a split keeps its remaining quantity on offer.

Location: the record that goes to the receiving city (the whole record on a move, the new one
on a split) does not keep the coordinates it had, or a radius search would still find it where
it was. When the receiving city is this node's own city it takes the node's location;
otherwise its `location` is dropped, since where in the other city the goods went is not known,
and its lat/lon/unit-vector columns become null. The parent of a split stays where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from loopnode.domain import geo, ids
from loopnode.domain.custody import json_number, moves_whole, receiving_city, split
from loopnode.domain.errors import NotFound
from loopnode.domain.evidence import EvidenceEvent
from loopnode.domain.quantities import (
    Quantity,
    Unit,
    convert,
    quantity_from_json,
    to_base,
    to_decimal,
)
from loopnode.domain.times import format_timestamp, from_us, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.lifecycle.journal import Journal
from loopnode.services.ports import (
    CustodyEntry,
    ExchangeRow,
    ListQuery,
    RecordRow,
    UnitOfWork,
)
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.registry.service import KIND_TYPES, RegistryService

__all__ = ["Custody", "history", "receiving_city"]

MICRO = Decimal(1_000_000)
# The record that holds the moved goods is fulfilled: delivered, no longer on offer. It takes the
# protocol's terminal availability (`withdrawn`, reason `fulfilled`, as its offer does), so it
# leaves search, and peers are told `available: false` as for any withdrawal.
FULFILLED = "withdrawn"


class Custody:
    def __init__(self, node: NodeIdentity, random_hex: Callable[[int], str]) -> None:
        self._node = node
        self._random_hex = random_hex

    def complete(
        self, j: Journal, transfer: ExchangeRow, offer: ExchangeRow, match: ExchangeRow
    ) -> None:
        uow = j.uow
        kind = "material" if offer.material_id == offer.subject_id else "product"
        record = uow.records.get(kind, offer.subject_id, lock=True)
        if record is None:  # the offer's foreign key makes this unreachable
            raise NotFound(f"{offer.subject_id} not found on this node")
        city = receiving_city(offer.document, transfer.document, match.document)
        uow.subjects.release(record.id, offer.quantity_micro)
        if moves_whole(record.quantity_micro, offer.quantity_micro):
            parent, child = _moved(record, self._relocated(record.document, city), j.now), None
        else:
            parent, child = self._split(record, offer, city, j.now)
        if child is None:
            parent = replace(parent, availability=FULFILLED)
        else:
            child = replace(child, availability=FULFILLED)
        uow.subjects.rewrite(parent)
        j.known[parent.id] = parent.document
        if child is None:
            uow.subjects.set_availability(parent.id, FULFILLED, j.now_us)
        else:
            uow.records.insert(child)
        self._record(j, record, parent, child, transfer, offer)
        fulfilled = parent if child is None else child
        # A split-off part comes into being available (as a registration does) and is delivered
        # at once, so its history is one walk of the availability table like any passport's.
        previous = record.availability if child is None else "available"
        j.entered(
            fulfilled.kind, fulfilled.id, FULFILLED, previous, fulfilled.document, "fulfilled"
        )

    def _split(
        self, record: RecordRow, offer: ExchangeRow, city: str, now: datetime
    ) -> tuple[RecordRow, RecordRow]:
        unit = record.document["quantity"]["unit"]
        moved = convert(quantity_from_json(offer.document["quantity"]), unit).value
        value = to_decimal(record.document["quantity"]["value"])
        parts = split(record.quantity_micro, offer.quantity_micro, value, moved)
        parent_doc = {**record.document, "quantity": {**record.document["quantity"]}}
        parent_doc["quantity"]["value"] = json_number(parts.parent_value)
        parent = replace(
            record,
            document=parent_doc,
            quantity_micro=parts.parent_micro,
            record_hash=sha256_hex(parent_doc),
            updated_us=to_us(now),
        )
        metadata = record.document.get("metadata")
        child_doc = {
            **self._relocated(record.document, city),
            "id": self._mint(record, now),
            "quantity": {"value": json_number(parts.child_value), "unit": unit},
            "metadata": {
                **(metadata if isinstance(metadata, dict) else {}),
                "parent_id": record.id,
            },
        }
        child = RegistryService.build_row(
            record.kind, child_doc, now, source_node=record.source_node
        )
        return parent, replace(child, quantity_micro=parts.child_micro, parent_id=record.id)

    def _relocated(self, document: dict[str, Any], city: str) -> dict[str, Any]:
        """`document` at `city`: this node's location there, else no location at all."""
        relocated = {**document, "current_city": city}
        if city.casefold() == self._node.city.casefold():
            relocated["location"] = {"lat": self._node.lat, "lon": self._node.lon}
        else:
            relocated.pop("location", None)
        return relocated

    def _mint(self, record: RecordRow, now: datetime) -> str:
        mint = ids.mint_material_id if record.kind == "material" else ids.mint_product_id
        return mint(
            self._node.country,
            self._node.city_code,
            now.year,
            record.category,
            self._random_hex(10),
        )

    @staticmethod
    def _record(
        j: Journal,
        before: RecordRow,
        parent: RecordRow,
        child: RecordRow | None,
        transfer: ExchangeRow,
        offer: ExchangeRow,
    ) -> None:
        mode = "move" if child is None else "split"
        to_city = parent.current_city if child is None else child.current_city
        summary = {
            "transfer_id": transfer.id,
            "offer_id": offer.id,
            "mode": mode,
            "to_city": to_city,
        }

        def append(event: EvidenceEvent) -> None:
            j.uow.custody.append(
                CustodyEntry(
                    record_id=parent.id,
                    child_id=None if child is None else child.id,
                    transfer_id=transfer.id,
                    offer_id=offer.id,
                    match_id=transfer.match_id or "",
                    from_city=before.current_city,
                    to_city=to_city,
                    quantity_micro=offer.quantity_micro,
                    mode=mode,
                    sequence=event.sequence,
                    recorded_us=j.now_us,
                )
            )

        event = f"{parent.kind}.custody_changed"
        if child is not None:
            summary["child_id"] = child.id
            j.record(
                event, child.kind, child.id, child.document, {**summary, "parent_id": parent.id}
            )
        j.record(event, parent.kind, parent.id, parent.document, summary, append)


def _moved(record: RecordRow, document: dict[str, Any], now: datetime) -> RecordRow:
    """The record with its relocated document and the projections that follow from it."""
    location = document.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is None or lon is None:
        lat = lon = None
    else:
        lat, lon = float(lat), float(lon)
    return replace(
        record,
        document=document,
        current_city=document["current_city"],
        lat=lat,
        lon=lon,
        unit_vector=None if lat is None or lon is None else geo.unit_vector(lat, lon),
        record_hash=sha256_hex(document),
        updated_us=to_us(now),
    )


def history(uow: UnitOfWork, kind: str, record_id: str) -> dict[str, Any]:
    """A passport's chain of custody, availability history and offers, oldest first."""
    record = uow.records.get(kind, record_id)
    if record is None:
        raise NotFound(
            f"{KIND_TYPES[kind]} {record_id} not found on this node", {"searched_id": record_id}
        )
    base = to_base(Quantity(Decimal(0), Unit(record.quantity_unit))).unit.value
    offers = uow.exchange.page("offer", ListQuery((("subject_id", record_id),), limit=1000))
    return {
        "id": record.id,
        "kind": kind,
        "current_city": record.current_city,
        "quantity": record.document.get("quantity"),
        "parent_id": record.parent_id,
        "availability": record.availability,
        "custody": [_custody_view(entry, base) for entry in uow.custody.of(record_id)],
        "status": [
            {
                "status": change.status,
                "previous": change.previous,
                "reason": change.reason,
                "actor": change.actor,
                "sequence": change.sequence,
                "recorded_at": format_timestamp(from_us(change.recorded_us)),
            }
            for change in uow.history.of(kind, record_id)
        ],
        "offers": [
            {"id": o.id, "status": o.status, "quantity": o.document.get("quantity")} for o in offers
        ],
    }


def _custody_view(entry: CustodyEntry, base_unit: str) -> dict[str, Any]:
    return {
        "sequence": entry.sequence,
        "mode": entry.mode,
        "record_id": entry.record_id,
        "child_id": entry.child_id,
        "transfer_id": entry.transfer_id,
        "offer_id": entry.offer_id,
        "match_id": entry.match_id,
        "from_city": entry.from_city,
        "to_city": entry.to_city,
        "quantity": {
            "value": json_number(Decimal(entry.quantity_micro) / MICRO),
            "unit": base_unit,
        },
        "recorded_at": format_timestamp(from_us(entry.recorded_us)),
    }
