"""The routing calculator (issue 11 item 4): every destination a lot could take, priced.

Candidates for a material of this node:
* **local demand**: open, unexpired listings of the same category that take the whole lot
  (LoopCost = base price; a listing whose `max_price` is below it is ineligible);
* **bids**: open, unexpired MaterialOffers peers sent for this material (`POST /federate/offer`),
  priced as a trade to the bidder's node at the base price the bid offers (§12.1: Vienna offers
  60 and its LoopCost is 104), with its published import signal and the distance;
* **peers whose signals show import demand**: approved peers whose published config names the
  category (tentative: nobody there has committed to take it yet).

Ranking and selection are `domain/routing.py`. The lot's base price is the `base_price` query
parameter, else the material's `base_price` field, else the price of the first bid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopnode.domain.errors import InvalidRequest, LoopError, NotFound
from loopnode.domain.money import Money
from loopnode.domain.routing import Candidate, Selection, parse_price, select
from loopnode.domain.times import format_timestamp
from loopnode.services.federation.ports import PeerRow
from loopnode.services.ports import Clock, RecordRow
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.routing.cost import LoopCostService, Quote
from loopnode.services.routing.demand import DemandService
from loopnode.services.routing.demand import render as render_demand
from loopnode.services.routing.signals import exact_decimal

BidLister = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Priced:
    """A candidate with the quote behind it (None when it could not be priced)."""

    candidate: Candidate
    quote: Quote | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    material: RecordRow
    base_price: Money
    priced: list[Priced]
    selection: Selection

    @property
    def selected(self) -> Priced | None:
        chosen = self.selection.selected
        return None if chosen is None else next(p for p in self.priced if p.candidate == chosen)


class RouteCalculator:
    def __init__(
        self,
        node: NodeIdentity,
        clock: Clock,
        cost: LoopCostService,
        demand: DemandService,
        records: Callable[[str], RecordRow | None],
        bids: BidLister,
        peers: Callable[[], list[PeerRow]],
    ) -> None:
        self._node = node
        self._clock = clock
        self._cost = cost
        self._demand = demand
        self._records = records
        self._bids = bids
        self._peers = peers

    @property
    def cost(self) -> LoopCostService:
        return self._cost

    async def refresh_signals(self) -> None:
        await self._cost.directory.refresh()

    def routes(self, material_id: str, base_price: str | None = None) -> dict[str, Any]:
        return render_plan(self.plan(material_id, base_price), self._cost.currency, self._clock)

    def plan(self, material_id: str, base_price: str | None = None) -> RoutePlan:
        material = self._records(material_id)
        if material is None or material.kind != "material":
            raise NotFound(f"no material {material_id}", {"searched_id": material_id})
        if material.source_node != self._node.node_id:
            raise InvalidRequest(f"{material_id} is held by {material.source_node}, not here")
        bids = self._bids(material_id)
        base = self._base_price(material, base_price, bids)
        priced = [
            *self._local_demand(material, base),
            *self._bid_candidates(material, base, bids),
        ]
        bidders = {p.candidate.node for p in priced}
        priced += self._signal_candidates(material, base, bidders)
        return RoutePlan(material, base, priced, select([p.candidate for p in priced]))

    # -- candidates ----------------------------------------------------------------------------
    def _local_demand(self, material: RecordRow, base: Money) -> list[Priced]:
        here = self._node.node_id
        found = []
        for row in self._demand.open_for(
            material.category, material.quantity_unit, material.quantity_micro
        ):
            quote = self._cost.price(material.category, base, here, here)
            over = row.max_price_cents is not None and quote.total.cents > row.max_price_cents
            candidate = Candidate(
                "local-demand",
                here,
                row.id,
                quote.total.cents,
                True,
                True,
                eligible=not over,
                reason="above the listing's max_price" if over else None,
            )
            found.append(Priced(candidate, quote, {"demand": render_demand(row)}))
        return found

    def _bid_candidates(
        self, material: RecordRow, base: Money, bids: list[dict[str, Any]]
    ) -> list[Priced]:
        found = []
        for bid in bids:
            node = str(bid["bidder_node"])
            offered = _bid_price(bid)
            quote, problem = self._try_price(material, offered or base, node)
            candidate = Candidate(
                "bid",
                node,
                str(bid["id"]),
                None if quote is None else quote.total.cents,
                False,
                True,
                eligible=quote is not None,
                reason=problem,
            )
            found.append(Priced(candidate, quote, {"bid": bid}))
        return found

    def _signal_candidates(
        self, material: RecordRow, base: Money, exclude: set[str]
    ) -> list[Priced]:
        found = []
        for peer in self._peers():
            if peer.node_id in exclude:
                continue
            table = self._cost.directory.cached(peer.node_id)
            if table is None or material.category not in table:
                continue
            quote, problem = self._try_price(material, base, peer.node_id)
            candidate = Candidate(
                "peer-signal",
                peer.node_id,
                None,
                None if quote is None else quote.total.cents,
                False,
                False,
                eligible=quote is not None,
                reason=problem or "no bid yet: tentative",
            )
            found.append(Priced(candidate, quote, {"signal": str(table[material.category])}))
        return found

    def _try_price(
        self, material: RecordRow, base: Money, node: str
    ) -> tuple[Quote | None, str | None]:
        try:
            return self._cost.price(material.category, base, self._node.node_id, node), None
        except LoopError as exc:
            return None, exc.message

    @staticmethod
    def _base_price(material: RecordRow, given: str | None, bids: list[dict[str, Any]]) -> Money:
        if given is not None:
            return parse_price(given)
        own = material.document.get("base_price")
        if own is not None and not isinstance(own, bool):
            return parse_price(own)
        for bid in bids:
            price = bid["offer"].get("base_price")
            if isinstance(price, int | float) and not isinstance(price, bool):
                return Money.of(exact_decimal(price))
        raise InvalidRequest(
            f"{material.id} has no base_price: pass ?base_price=60.00",
            {"material_id": material.id},
        )


def _bid_price(bid: dict[str, Any]) -> Money | None:
    """The base price a bid offers (§12.1: Vienna bids base 60, LoopCost 104), if exact."""
    price = bid["offer"].get("base_price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return None
    try:
        return parse_price(price)
    except LoopError:
        return None


def render_plan(plan: RoutePlan, currency: str, clock: Clock) -> dict[str, Any]:
    material = plan.material
    return {
        "material_id": material.id,
        "category": material.category,
        "quantity": material.document.get("quantity"),
        "origin_node": material.source_node,
        "base_price": str(plan.base_price),
        "currency": currency,
        "candidates": [
            render_candidate(p) for p in sorted(plan.priced, key=lambda p: p.candidate.sort_key())
        ],
        "selected": None if plan.selected is None else render_candidate(plan.selected),
        "reason": plan.selection.reason,
        "computed_at": format_timestamp(clock.now()),
    }


def render_candidate(priced: Priced) -> dict[str, Any]:
    c, quote = priced.candidate, priced.quote
    item: dict[str, Any] = {
        "kind": c.kind,
        "node": c.node,
        "ref": c.ref,
        "local": c.local,
        "firm": c.firm,
        "eligible": c.eligible,
        "loop_cost": None if quote is None else str(quote.total),
        "breakdown": None if quote is None else quote.breakdown.as_wire(),
        "distance_km": None if quote is None else str(quote.distance_km),
        **priced.detail,
    }
    if c.reason is not None:
        item["reason"] = c.reason
    return item


def open_bids(federation_bids: Any) -> BidLister:
    """Open, unexpired bids for one material from the federation's bid service."""

    def listing(material_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            page = federation_bids.page("open", after, 100)
            found += [
                b
                for b in page["results"]
                if b["material_id"] == material_id and b["status"] == "open"
            ]
            if page["next_after"] is None:
                return found
            after = page["next_after"]

    return listing
