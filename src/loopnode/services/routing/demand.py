"""Demand: wanted listings (issue 11 item 3), the local side of routing.

A listing says what a pseudonymous requester of this node would take: a category, a quantity
with its unit, an optional maximum price (the most it would pay in LoopCost for the whole
quantity), where (default: this node's location) and until when. Listings are stored, searched
by category (`*` suffix wildcard) and state, and take part in the lifecycle: routing selects
one for a material and marks it `matched` with the Match id; the requester may withdraw it.
Personal data is refused like everywhere else (DECISIONS 5). The requester must be an existing
LoopCoin account of this node (400 otherwise), and only its holder (or an operator) may list
for it or withdraw its listing (403; services/access/ownership.py).
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from loopnode.domain.errors import Conflict, InvalidRequest, Issue, NotFound, ValidationFailed
from loopnode.domain.money import Money
from loopnode.domain.privacy import find_personal_data
from loopnode.domain.quantities import Quantity, dimension, quantity_from_json, to_base
from loopnode.domain.routing import check_price, parse_price
from loopnode.domain.signals import CATEGORIES
from loopnode.domain.times import TimestampError, format_timestamp, parse_timestamp
from loopnode.services.access.apikeys import Principal
from loopnode.services.access.ownership import ensure_account_holder, ensure_holder
from loopnode.services.ports import Clock, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.routing.ports import DemandRow

FIELDS: Final = frozenset(
    {"category", "quantity", "max_price", "location", "valid_until", "requester", "notes"}
)
REQUESTER_RE: Final = re.compile(r"^(user|business|node):[^@\s]{1,120}@([a-z0-9\-]+\.loop)\Z")
MICRO: Final = Decimal(1_000_000)
MAX_LIMIT: Final = 200
STATES: Final = ("open", "matched", "withdrawn")


def micro_units(quantity: Quantity) -> int:
    """Integer millionths of the unit's base (kg, l, piece, bundle), rounded down."""
    return int(to_base(quantity).value * MICRO)


class DemandService:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, node: NodeIdentity, random_hex: Any
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._random_hex = random_hex

    def create(self, body: dict[str, Any], principal: Principal | None = None) -> dict[str, Any]:
        """Store a listing; `principal` (the caller, always passed by the web route) must hold
        the requester's account unless an operator; None is an in-process caller the node trusts."""
        row = self._row(body)
        with self._uow(write=True) as uow:
            account = uow.ledger.account(row.requester)
            ensure_account_holder(principal, account, "requester", row.requester)
            uow.demand.insert(row)
        return render(row)

    def get(self, demand_id: str) -> dict[str, Any]:
        return render(self._get(demand_id))

    def search(
        self,
        category: str | None = None,
        status: str | None = "open",
        include_expired: bool = False,
        limit: int = 50,
    ) -> dict[str, Any]:
        if status is not None and status not in STATES:
            raise InvalidRequest(f"status must be one of {', '.join(STATES)}", {"status": status})
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
        now = None if include_expired else self._clock.now()
        with self._uow() as uow:
            rows = uow.demand.search(category=category, status=status, now=now, limit=limit)
        return {"results": [render(row) for row in rows]}

    def open_for(self, category: str, unit: str, quantity_micro: int) -> list[DemandRow]:
        """Open, unexpired listings for `category` that can take the whole quantity."""
        with self._uow() as uow:
            rows = uow.demand.search(
                category=category, status="open", now=self._clock.now(), limit=MAX_LIMIT
            )
        wanted = dimension(unit)
        return [
            row
            for row in rows
            if dimension(row.quantity_unit) == wanted and row.quantity_micro >= quantity_micro
        ]

    def set_status(
        self, demand_id: str, body: dict[str, Any], principal: Principal | None = None
    ) -> dict[str, Any]:
        status = body.get("status")
        if status != "withdrawn":
            raise InvalidRequest("a listing can only be withdrawn here (routing matches it)")
        if principal is not None and not principal.has("operator"):
            # The requester of a stored listing never changes, nor does its account's holder.
            with self._uow() as uow:
                row = uow.demand.get(demand_id)
                account = None if row is None else uow.ledger.account(row.requester)
            if row is not None:
                ensure_holder(principal, None if account is None else account.holder)
        return self.transition(demand_id, "withdrawn")

    def transition(
        self, demand_id: str, status: str, match_id: str | None = None
    ) -> dict[str, Any]:
        with self._uow(write=True) as uow:
            if not uow.demand.set_status(demand_id, status, expected="open", match_id=match_id):
                current = uow.demand.get(demand_id)
                if current is None:
                    raise NotFound(f"no demand listing {demand_id}", {"id": demand_id})
                raise Conflict(
                    f"demand {demand_id} is {current.status}", {"status": current.status}
                )
        return self.get(demand_id)

    def _get(self, demand_id: str) -> DemandRow:
        with self._uow() as uow:
            row = uow.demand.get(demand_id)
        if row is None:
            raise NotFound(f"no demand listing {demand_id}", {"id": demand_id})
        return row

    # -- validation ---------------------------------------------------------------------------
    def _row(self, body: dict[str, Any]) -> DemandRow:
        issues = [Issue(f"/{key}", "is not a demand field") for key in body if key not in FIELDS]
        issues += [
            Issue(f"/{key}", "is required")
            for key in ("category", "quantity", "valid_until", "requester")
            if key not in body
        ]
        if issues:
            raise ValidationFailed(issues)
        personal = find_personal_data({k: v for k, v in body.items() if k != "requester"})
        if personal:
            raise ValidationFailed(personal, "personal data is not accepted in demand listings")
        notes = body.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > 500):
            raise ValidationFailed([Issue("/notes", "must be a string of at most 500 characters")])
        category = body["category"]
        if category not in CATEGORIES:
            raise ValidationFailed([Issue("/category", "must be a MaterialDNA category")])
        quantity = self._quantity(body["quantity"])
        lat, lon = self._location(body.get("location"))
        now = self._clock.now()
        valid_until = _future(body["valid_until"], now)
        max_price = (
            None if body.get("max_price") is None else parse_price(body["max_price"], "max_price")
        )
        if max_price is not None:
            check_price(max_price, "max_price")
        row = DemandRow(
            id=f"DEM-{self._random_hex(12)}",
            node=self._node.node_id,
            category=category,
            quantity_value=str(quantity.value),
            quantity_unit=str(quantity.unit),
            quantity_micro=micro_units(quantity),
            max_price_cents=None if max_price is None else max_price.cents,
            lat=lat,
            lon=lon,
            valid_until=valid_until,
            requester=self._requester(body["requester"]),
            status="open",
            document={},
            created=now,
        )
        return replace(row, document={"notes": body["notes"]} if "notes" in body else {})

    @staticmethod
    def _quantity(value: Any) -> Quantity:
        if not isinstance(value, dict):
            raise ValidationFailed([Issue("/quantity", "must be {value, unit}")])
        quantity = quantity_from_json(value)
        if quantity.value <= 0 or micro_units(quantity) <= 0:
            raise ValidationFailed([Issue("/quantity/value", "must be positive")])
        if micro_units(quantity) > 2**62:
            raise ValidationFailed([Issue("/quantity/value", "is too large")])
        return quantity

    def _location(self, value: Any) -> tuple[float, float]:
        if value is None:
            return self._node.lat, self._node.lon
        if not isinstance(value, dict) or set(value) != {"lat", "lon"}:
            raise ValidationFailed([Issue("/location", "must be {lat, lon}")])
        lat, lon = value["lat"], value["lon"]
        for name, number, bound in (("lat", lat, 90), ("lon", lon, 180)):
            if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
                raise ValidationFailed([Issue(f"/location/{name}", "must be a number")])
            if not -bound <= number <= bound:
                raise ValidationFailed([Issue(f"/location/{name}", f"must be within ±{bound}")])
        return float(lat), float(lon)

    def _requester(self, value: Any) -> str:
        match = REQUESTER_RE.match(value) if isinstance(value, str) else None
        if match is None or match.group(2) != self._node.node_id:
            raise ValidationFailed(
                [
                    Issue(
                        "/requester",
                        f"must be a pseudonymous account id of {self._node.node_id}"
                        f" such as 'business:b-7f3a@{self._node.node_id}'",
                    )
                ]
            )
        return str(value)


def _future(value: Any, now: Any) -> Any:
    if not isinstance(value, str):
        raise ValidationFailed([Issue("/valid_until", "must be a date-time string")])
    try:
        moment = parse_timestamp(value)
    except TimestampError as exc:
        raise ValidationFailed([Issue("/valid_until", str(exc))]) from exc
    if moment <= now:
        raise ValidationFailed([Issue("/valid_until", "must be in the future")])
    return moment


def render(row: DemandRow) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": row.id,
        "node": row.node,
        "category": row.category,
        "quantity": {"value": _number(row.quantity_value), "unit": row.quantity_unit},
        "max_price": None if row.max_price_cents is None else str(Money(row.max_price_cents)),
        "location": {"lat": row.lat, "lon": row.lon},
        "valid_until": format_timestamp(row.valid_until),
        "requester": row.requester,
        "status": row.status,
        "match_id": row.match_id,
        "created_at": format_timestamp(row.created),
    }
    if "notes" in row.document:
        document["notes"] = row.document["notes"]
    return document


def _number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)
