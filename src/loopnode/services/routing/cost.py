"""LoopCost quotes (spec §7, DECISIONS 14) with the signals and distances they need.

`loop_cost` (domain/cost.py) is the formula. This module finds its inputs: the origin's signal
for the category is the export penalty rate, the destination's the import rate (spec §6: signals
apply equally to imports and exports). This node's signals come from its own published config;
a peer's from its published config (`GET {peer}/api/v1/signals`), cached in the database and
fetched again when older than `peer_signals_ttl_s`. A missing category falls back to the
config's `default`, then 0. Distance is the great-circle distance between the nodes' registered
locations (this node's settings, the peers' handshakes), to the metre. A caller may pass any of
these explicitly instead.

Amounts are in the seller's (origin's) LoopCoin currency; for a material of this node that is
this node's currency. Converting between nodes' currencies is the ledger's job.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from loopnode.domain import geo
from loopnode.domain.cost import CostBreakdown, loop_cost
from loopnode.domain.errors import InvalidRequest, LoopError
from loopnode.domain.money import Money
from loopnode.domain.routing import (
    Candidate,
    check_distance,
    check_price,
    parse_price,
    select,
)
from loopnode.domain.signals import check_value, signal_for
from loopnode.domain.times import format_timestamp
from loopnode.protocol.validation import validate_entity
from loopnode.services.federation.ports import PeerRow
from loopnode.services.ports import Clock, RecordRow, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.routing.ports import Signals
from loopnode.services.routing.signals import SignalService, exact_decimal

PeerSignalFetch = Callable[[PeerRow], Awaitable[bytes]]
QUOTE_FIELDS = frozenset(
    {
        "category",
        "base_price",
        "origin_node",
        "destination_node",
        "origin_signal",
        "destination_signal",
        "distance_km",
    }
)


class PeerSignalDirectory:
    """The signal tables of approved peers: cached rows, refreshed after a TTL."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        peers: Callable[[], list[PeerRow]],
        fetch: PeerSignalFetch,
        ttl_s: float,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._peers = peers
        self.fetcher = fetch
        self._ttl = timedelta(seconds=ttl_s)

    def cached(self, node_id: str) -> Signals | None:
        with self._uow() as uow:
            found = uow.signals.peer_signals(node_id)
        return None if found is None else found[0]

    async def refresh(
        self, node_ids: Iterable[str] | None = None, *, force: bool = False
    ) -> dict[str, str]:
        """Fetch the stale (or, with `force`, all) named approved peers; node -> outcome."""
        wanted = None if node_ids is None else set(node_ids)
        outcomes: dict[str, str] = {}
        if wanted is not None and not wanted:
            return outcomes
        for peer in self._peers():
            if wanted is not None and peer.node_id not in wanted:
                continue
            if not force and self._fresh(peer.node_id):
                outcomes[peer.node_id] = "cached"
                continue
            outcomes[peer.node_id] = await self._refresh_one(peer)
        return outcomes

    def _fresh(self, node_id: str) -> bool:
        with self._uow() as uow:
            found = uow.signals.peer_signals(node_id)
        return found is not None and self._clock.now() - found[1] < self._ttl

    async def _refresh_one(self, peer: PeerRow) -> str:
        try:
            body = await self.fetcher(peer)
            signals = parse_peer_config(body, peer.node_id)
        except LoopError as exc:
            return f"refused: {exc.message}"
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        with self._uow(write=True) as uow:
            uow.signals.store_peer_signals(peer.node_id, signals, self._clock.now())
        return "fetched"


def parse_peer_config(body: bytes, node_id: str) -> Signals:
    """A peer's LoopSignalConfig, schema-checked, its values as exact decimals."""
    try:
        plain = json.loads(body)
        exact = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise InvalidRequest(f"{node_id} answered signals that are not JSON") from exc
    validate_entity(plain, "LoopSignalConfig")
    if plain["node"] != node_id:
        raise InvalidRequest(f"{node_id} published signals for {plain['node']}")
    return {key: check_value(Decimal(value), key) for key, value in exact["signals"].items()}


@dataclass(frozen=True, slots=True)
class Quote:
    category: str
    base_price: Money
    origin: str
    destination: str
    origin_signal: Decimal
    destination_signal: Decimal
    distance_km: Decimal
    breakdown: CostBreakdown
    currency: str

    @property
    def total(self) -> Money:
        return self.breakdown.total

    @property
    def local(self) -> bool:
        return self.origin == self.destination

    def as_wire(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "base_price": str(self.base_price),
            "origin_node": self.origin,
            "destination_node": self.destination,
            "local": self.local,
            "origin_signal": str(self.origin_signal),
            "destination_signal": str(self.destination_signal),
            "distance_km": str(self.distance_km),
            "total": str(self.total),
            "breakdown": self.breakdown.as_wire(),
            "currency": self.currency,
        }


class LoopCostService:
    def __init__(
        self,
        node: NodeIdentity,
        signals: SignalService,
        directory: PeerSignalDirectory,
        peers: Callable[[], list[PeerRow]],
        clock: Clock,
        distances: dict[str, Decimal] | None = None,
    ) -> None:
        self._distances = dict(distances or {})
        self._node = node
        self._signals = signals
        self._directory = directory
        self._peers = peers
        self._clock = clock
        self.currency = f"LC-{node.city_code}"

    @property
    def directory(self) -> PeerSignalDirectory:
        return self._directory

    # -- POST /loopcost -----------------------------------------------------------------------
    def quote(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer a quote request; `body` has its numbers as Decimal (exact)."""
        unknown = sorted(set(body) - QUOTE_FIELDS)
        if unknown:
            raise InvalidRequest(
                f"unknown fields: {', '.join(unknown)}", {"allowed": sorted(QUOTE_FIELDS)}
            )
        category = _text(body, "category")
        origin, destination = _text(body, "origin_node"), _text(body, "destination_node")
        quote = self.price(
            category,
            parse_price(_required(body, "base_price")),
            origin,
            destination,
            origin_signal=_optional_decimal(body, "origin_signal"),
            destination_signal=_optional_decimal(body, "destination_signal"),
            distance_km=_optional_decimal(body, "distance_km"),
        )
        return {**quote.as_wire(), "quoted_at": format_timestamp(self._clock.now())}

    def nodes_needing_signals(self, body: dict[str, Any]) -> list[str]:
        """Peers whose signals a quote request will look up (to refresh them first)."""
        needed = []
        for role in ("origin", "destination"):
            node = body.get(f"{role}_node")
            if (
                isinstance(node, str)
                and node != self._node.node_id
                and (body.get(f"{role}_signal") is None)
            ):
                needed.append(node)
        return needed

    # -- the pricing every routing feature uses ------------------------------------------------
    def price(
        self,
        category: str,
        base_price: Money,
        origin: str,
        destination: str,
        *,
        origin_signal: Decimal | None = None,
        destination_signal: Decimal | None = None,
        distance_km: Decimal | None = None,
    ) -> Quote:
        check_price(base_price)
        if distance_km is not None:
            check_distance(distance_km)
        local = origin == destination
        if local:
            o_signal = d_signal = Decimal(0)
            km = Decimal(0)
        else:
            o_signal = origin_signal if origin_signal is not None else self.signal(origin, category)
            d_signal = (
                destination_signal
                if destination_signal is not None
                else self.signal(destination, category)
            )
            km = distance_km if distance_km is not None else self.distance_km(origin, destination)
        breakdown = loop_cost(
            base_price,
            local=local,
            origin_signal=o_signal,
            destination_signal=d_signal,
            distance_km=km,
        )
        return Quote(
            category,
            base_price,
            origin,
            destination,
            o_signal,
            d_signal,
            km,
            breakdown,
            self.currency,
        )

    def select(
        self, category: str, origin: str, candidates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Price candidate buyers and pick one (§3.3 step 6, §12.1 step 5).

        Each candidate is `{"node", "base_price", "ref"?}` (base price as offered by that
        buyer); the answer lists every candidate with its LoopCost and breakdown, lowest first
        (local first on a tie), and the selected one with the reason. For the demo and other
        callers that hold their candidates already.
        """
        priced: list[tuple[Candidate, Quote]] = []
        for item in candidates:
            node = str(item["node"])
            price = item["base_price"]
            base = price if isinstance(price, Money) else parse_price(price)
            quote = self.price(category, base, origin, node)
            ref = None if item.get("ref") is None else str(item["ref"])
            candidate = Candidate(
                "local-demand" if quote.local else "bid",
                node,
                ref,
                quote.total.cents,
                quote.local,
                True,
            )
            priced.append((candidate, quote))
        chosen = select([c for c, _ in priced])
        ranked = sorted(priced, key=lambda pair: pair[0].sort_key())

        def wire(candidate: Candidate, quote: Quote) -> dict[str, Any]:
            return {
                "node": candidate.node,
                "ref": candidate.ref,
                **quote.as_wire(),
                "loop_cost": str(quote.total),
            }

        selected = next((wire(c, q) for c, q in ranked if c == chosen.selected), None)
        return {
            "candidates": [wire(c, q) for c, q in ranked],
            "selected": selected,
            "reason": chosen.reason,
        }

    def record_coster(self) -> Callable[[RecordRow], Money | None]:
        """For search: the LoopCost of bringing a record to this node, None without a price.

        A record's price is its `base_price` (a decimal for the whole lot; an extension field
        LOOP does not define). Signals are looked up once per node and category.
        """
        memo: dict[tuple[str, str], Decimal | None] = {}

        def cached_signal(node_id: str, category: str) -> Decimal | None:
            key = (node_id, category)
            if key not in memo:
                try:
                    memo[key] = self.signal(node_id, category)
                except LoopError:
                    memo[key] = None
            return memo[key]

        def cost(row: RecordRow) -> Money | None:
            base = _record_price(row.document.get("base_price"))
            if base is None:
                return None
            here = self._node.node_id
            if row.source_node == here:
                return base
            export = cached_signal(row.source_node, row.category)
            import_ = cached_signal(here, row.category)
            if export is None or import_ is None:
                return None
            try:
                return self.price(
                    row.category,
                    base,
                    row.source_node,
                    here,
                    origin_signal=export,
                    destination_signal=import_,
                ).total
            except LoopError:
                return None

        return cost

    def signal(self, node_id: str, category: str) -> Decimal:
        if node_id == self._node.node_id:
            return signal_for(self._signals.cached_signals(), category)
        table = self._directory.cached(node_id)
        if table is None:
            raise InvalidRequest(
                f"no published signals of {node_id} are known: it is not an approved peer or "
                "has not answered GET /signals; pass the signal explicitly",
                {"node": node_id},
            )
        return signal_for(table, category)

    def location(self, node_id: str) -> tuple[float, float] | None:
        if node_id == self._node.node_id:
            return self._node.lat, self._node.lon
        for peer in self._peers():
            if peer.node_id == node_id and peer.lat is not None and peer.lon is not None:
                return peer.lat, peer.lon
        return None

    def distance_km(self, origin: str, destination: str) -> Decimal:
        """Configured (`peer_distances_km`, e.g. by road) else great-circle kilometres."""
        here = self._node.node_id
        other = destination if origin == here else origin if destination == here else None
        if other is not None and other in self._distances:
            return self._distances[other]
        a, b = self.location(origin), self.location(destination)
        if a is None or b is None:
            missing = origin if a is None else destination
            raise InvalidRequest(
                f"the location of {missing} is not known: pass distance_km", {"node": missing}
            )
        return km_between(a, b)


def _record_price(value: object) -> Money | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_price(value)
    except LoopError:
        return None


def km_between(a: tuple[float, float], b: tuple[float, float]) -> Decimal:
    """Great-circle kilometres, to the metre, as an exact decimal."""
    return Decimal(f"{geo.haversine_km(a[0], a[1], b[0], b[1]):.3f}")


def _required(body: dict[str, Any], name: str) -> Any:
    if name not in body or body[name] is None:
        raise InvalidRequest(f"/{name} is required", {"field": name})
    return body[name]


def _text(body: dict[str, Any], name: str) -> str:
    value = _required(body, name)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise InvalidRequest(f"/{name} must be a non-empty string", {"field": name})
    return value


def _optional_decimal(body: dict[str, Any], name: str) -> Decimal | None:
    if body.get(name) is None:
        return None
    try:
        return exact_decimal(body[name])
    except InvalidRequest as exc:
        raise InvalidRequest(f"/{name} must be a number", {"field": name}) from exc
