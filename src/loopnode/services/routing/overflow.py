"""The overflow policy (issue 11 item 5; spec §3.3 steps 2-8, §9.3): local first, then the
federation, every decision in the evidence log with the costs that justified it.

`OverflowService.step()` is the time-driven part. It is a plain function of the database and
the injected clock, so a background task (`overflow_worker`), the CLI (`loopnode route step`)
or a test can run it; nothing sleeps. Each step:

1. **enrols** local materials it has not seen yet (state `local`, local window from their
   registration: `overflow_local_window_s`);
2. for materials in `local`: when the routing calculator selects a local demand listing, the
   lot is **absorbed** (Offer + Match to that listing); when the window has passed without one,
   the node **announces** it to its approved peers (the existing flooding code: signed
   MaterialAnnouncement, TTL, outbox) and collects bids until `overflow_bid_window_s` later
   (state `announced`);
3. for materials in `announced` whose bid deadline has passed: the lowest-LoopCost firm
   candidate (a local listing that appeared meanwhile still wins ties) is **routed** (Offer,
   and the bid accepted into a Match). Without any, the deadline moves one window on;
4. **bids** for remote materials that this node's open demand wants (the buyer's side of §12.1
   step 4): one MaterialOffer per (material, listing), offering the highest base price whose
   LoopCost from the origin stays within the listing's `max_price`.

With `overflow_auto_select = false`, steps 2 and 3 stop at `proposed`: the decision is stored
and the operator confirms it (`POST /api/v1/material/{id}/routes/confirm`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain.errors import Conflict, LoopError, NotFound
from loopnode.domain.money import Money
from loopnode.domain.times import format_timestamp, from_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.ports import Clock, EvidenceDraft, RecordRow, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.results import Created
from loopnode.services.routing.cost import km_between
from loopnode.services.routing.ports import DemandRow, OverflowRow
from loopnode.services.routing.routes import Priced, RouteCalculator, RoutePlan, render_candidate

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
BATCH = 100
PROBE_CENTS = 10**10
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OverflowSettings:
    local_window: timedelta
    bid_window: timedelta
    auto_select: bool = True
    offer_days: int = 30


class Lifecycle(Protocol):
    def create(self, entity: str, payload: dict[str, Any], actor: str) -> Created: ...

    def list(
        self, entity: str, params: dict[str, str], cursor: str | None, limit: int | None
    ) -> dict[str, Any]: ...


class Federation(Protocol):
    """What overflow needs of the federation services (wired in bootstrap.py)."""

    def announce(self, material: RecordRow) -> int: ...

    def accept_bid(self, bid_id: int) -> str: ...

    def remote_materials(self, category: str) -> list[dict[str, Any]]: ...

    def is_peer(self, node_id: str) -> bool: ...

    def send_bid(
        self, to: str, material: str, base_price: Money, loop_cost: Money, valid_until: str
    ) -> None: ...


# A lot in these states has not been released to the federation by the policy.
HELD_STATES = frozenset({"local", "proposed", "absorbed"})


def held(uow: UnitOfWorkFactory, material_ids: list[str]) -> set[str]:
    """The materials the federation relay must not announce yet: not enrolled, or still in
    their local window or awaiting the operator (issue 11 item 5: local first). Once the
    policy overflows a lot it announces it itself. A free function so that the relay, built
    before the overflow service, can be given it at construction."""
    with uow() as unit:
        rows = {m: unit.overflow.get(m) for m in material_ids}
    return {m for m, row in rows.items() if row is None or row.state in HELD_STATES}


class OverflowService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        node: NodeIdentity,
        routes: RouteCalculator,
        lifecycle: Lifecycle,
        federation: Federation,
        settings: OverflowSettings,
        local_materials: Callable[[], list[RecordRow]],
        record: Callable[[str], RecordRow | None],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._routes = routes
        self._lifecycle = lifecycle
        self._federation = federation
        self._settings = settings
        self._local_materials = local_materials
        self._record = record

    def held(self, material_ids: list[str]) -> set[str]:
        return held(self._uow, material_ids)

    # -- the step ----------------------------------------------------------------------------
    async def refresh_signals(self) -> None:
        """Refresh stale peers' signals (network); call before `step` or `confirm`."""
        await self._routes.refresh_signals()

    def step(self) -> dict[str, Any]:
        report: dict[str, Any] = {"enrolled": self.enrol(), "decisions": [], "bids": []}
        now = self._clock.now()
        with self._uow() as uow:
            waiting = uow.overflow.due("local", FAR_FUTURE, BATCH)
            closing = uow.overflow.due("announced", now, BATCH)
        errors: list[dict[str, str]] = []
        for phase, rows in ((self._local_phase, waiting), (self._bid_phase, closing)):
            for row in rows:
                try:
                    decision = phase(row)
                except LoopError as exc:  # one lot's trouble must not stop the others
                    errors.append({"material_id": row.material_id, "error": exc.message})
                    continue
                if decision is not None:
                    report["decisions"].append(decision)
        report["bids"] = self.bid_for_remote()
        if errors:
            report["errors"] = errors
        return report

    def enrol(self) -> int:
        now = self._clock.now()
        added = 0
        for material in self._local_materials():
            registered = from_us(material.created_us)
            with self._uow(write=True) as uow:
                if uow.overflow.start(material.id, registered + self._settings.local_window, now):
                    added += 1
        return added

    def _local_phase(self, row: OverflowRow) -> dict[str, Any] | None:
        plan = self._plan(row.material_id)
        if plan is None:
            return None
        chosen = plan.selected
        if chosen is not None and chosen.candidate.kind == "local-demand":
            return self._decide(row, plan, "absorbed")
        if self._clock.now() < row.local_until:
            return None
        announced = self._federation.announce(plan.material)
        bids_until = self._clock.now() + self._settings.bid_window
        return self._record_decision(
            row,
            plan,
            "announced",
            "announced",
            bids_until=bids_until,
            extra={"announced_to": announced, "bids_until": format_timestamp(bids_until)},
        )

    def _bid_phase(self, row: OverflowRow) -> dict[str, Any]:
        plan = self._plan(row.material_id)
        if plan is None or plan.selected is None:
            bids_until = self._clock.now() + self._settings.bid_window
            if plan is None:
                return {"material_id": row.material_id, "decision": "gone"}
            return self._record_decision(
                row,
                plan,
                "announced",
                "no-bid",
                bids_until=bids_until,
                extra={"bids_until": format_timestamp(bids_until)},
            )
        state = "absorbed" if plan.selected.candidate.local else "routed"
        return self._decide(row, plan, state)

    def _decide(self, row: OverflowRow, plan: RoutePlan, state: str) -> dict[str, Any]:
        if not self._settings.auto_select:
            return self._record_decision(row, plan, "proposed", f"proposed-{state}")
        self._claim(row)
        match_id = self._execute(plan)
        return self._record_decision(row, plan, state, state, extra={"match_id": match_id})

    # -- operator confirmation ---------------------------------------------------------------
    def confirm(self, material_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.overflow.get(material_id)
        if row is None:
            raise NotFound(f"{material_id} has no routing decision", {"material_id": material_id})
        if row.state != "proposed":
            raise Conflict(f"{material_id} is {row.state}, not proposed", {"state": row.state})
        plan = self._plan(material_id)
        if plan is None or plan.selected is None:
            raise Conflict(f"nothing can take {material_id} any more")
        state = "absorbed" if plan.selected.candidate.local else "routed"
        self._claim(row)
        match_id = self._execute(plan)
        return self._record_decision(
            row,
            plan,
            state,
            f"confirmed-{state}",
            extra={"match_id": match_id},
            expected="proposed",
        )

    def status(self, material_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.overflow.get(material_id)
        if row is None:
            raise NotFound(f"{material_id} is not tracked by routing", {"material_id": material_id})
        return render_row(row)

    def listing(self, state: str | None = None) -> dict[str, Any]:
        with self._uow() as uow:
            rows = uow.overflow.listing(state, 500)
        return {"results": [render_row(r) for r in rows]}

    def _claim(self, row: OverflowRow) -> None:
        """Make sure no other worker acts on this decision at the same time."""
        with self._uow(write=True) as uow:
            if not uow.overflow.claim(row.material_id, row.state, row.updated, self._clock.now()):
                raise Conflict(f"{row.material_id} is being decided by another worker")

    # -- executing a selection ---------------------------------------------------------------
    def _execute(self, plan: RoutePlan) -> str:
        chosen = plan.selected
        assert chosen is not None
        offer_id = self._open_offer(plan, chosen)
        if chosen.candidate.kind == "bid":
            assert chosen.candidate.ref is not None
            return self._federation.accept_bid(int(chosen.candidate.ref))
        demand = chosen.detail["demand"]
        match = self._lifecycle.create("match", self._match(plan, chosen, offer_id), "routing")
        match_id = str(match.document["id"])
        with self._uow(write=True) as uow:
            uow.demand.set_status(demand["id"], "matched", expected="open", match_id=match_id)
        return match_id

    def _open_offer(self, plan: RoutePlan, chosen: Priced) -> str:
        material = plan.material
        page = self._lifecycle.list(
            "offer", {"material_id": material.id, "status": "open"}, None, 1
        )
        if page.get("results"):
            return str(page["results"][0]["id"])
        until = self._clock.now() + timedelta(days=self._settings.offer_days)
        offer = {
            "@context": CONTEXT,
            "@type": "Offer",
            "schema_version": LOOP_SPEC_VERSION,
            "material_id": material.id,
            "from_city": material.current_city,
            "to_city": self._destination_city(chosen),
            "quantity": material.document["quantity"],
            "status": "open",
            "available_until": format_timestamp(until),
        }
        return str(self._lifecycle.create("offer", offer, "routing").document["id"])

    def _match(self, plan: RoutePlan, chosen: Priced, offer_id: str) -> dict[str, Any]:
        quote = chosen.quote
        assert quote is not None
        return {
            "@context": CONTEXT,
            "@type": "Match",
            "schema_version": LOOP_SPEC_VERSION,
            "material_id": plan.material.id,
            "offer_id": offer_id,
            "from_city": plan.material.current_city,
            "to_city": self._destination_city(chosen),
            "status": "accepted",
            "matched_at": format_timestamp(self._clock.now()),
            "metadata": {
                "routing": plan.selection.reason,
                "demand_id": chosen.candidate.ref,
                "loop_cost": str(quote.total),
                "breakdown": quote.breakdown.as_wire(),
            },
        }

    def _destination_city(self, chosen: Priced) -> str:
        if chosen.candidate.local:
            return self._node.city
        offer = chosen.detail.get("bid", {}).get("offer", {})
        return str(offer.get("to_city") or chosen.candidate.node)[:80]

    # -- the buyer's side --------------------------------------------------------------------
    def bid_for_remote(self) -> list[dict[str, Any]]:
        """Bid for announced remote materials that an open local listing wants."""
        sent = []
        with self._uow() as uow:
            listings = uow.demand.search(
                category=None, status="open", now=self._clock.now(), limit=BATCH
            )
        for listing in listings:
            if listing.max_price_cents is None:
                continue
            for remote in self._federation.remote_materials(listing.category):
                outcome = self._bid(listing, remote)
                if outcome is not None:
                    sent.append(outcome)
        return sent

    def _bid(self, listing: DemandRow, remote: dict[str, Any]) -> dict[str, Any] | None:
        origin = str(remote.get("source_node") or remote.get("origin"))
        material_id = str(remote.get("material"))
        if not self._federation.is_peer(origin):
            return None  # bids go to the node that holds the material (§12.1 step 4)
        offer = self._affordable(listing, origin, _announced_km(remote, self._node))
        if offer is None:
            return None
        base, loop_cost = offer
        until = min(
            listing.valid_until, self._clock.now() + timedelta(days=self._settings.offer_days)
        )
        with self._uow(write=True) as uow:
            if not uow.overflow.note_bid(material_id, listing.id, origin, self._clock.now()):
                return None
        self._federation.send_bid(origin, material_id, base, loop_cost, format_timestamp(until))
        return {
            "material": material_id,
            "to": origin,
            "demand_id": listing.id,
            "base_price": str(base),
            "loop_cost": str(loop_cost),
        }

    def _affordable(
        self, listing: DemandRow, origin: str, km: Decimal | None
    ) -> tuple[Money, Money] | None:
        """The highest base price whose LoopCost from `origin` stays within the listing's
        `max_price`, with that LoopCost; None when even a zero base is over it or the origin's
        signals are unknown."""
        ceiling = listing.max_price_cents or 0
        here = self._node.node_id
        if km is None and self._routes.cost.location(origin) is None:
            return None

        def price(base: Money) -> Money:
            return self._routes.cost.price(
                listing.category, base, origin, here, distance_km=km
            ).total

        try:
            free = price(Money(0)).cents
            probe = price(Money(PROBE_CENTS)).cents
        except LoopError:
            return None
        rate = Decimal(probe - free) / PROBE_CENTS  # LoopCost cents per base cent, to 1e-10
        if free > ceiling:
            return None
        cents = int((Decimal(ceiling - free) / rate).to_integral_value(ROUND_FLOOR))
        for _ in range(100):  # rounding of the parts may cost a few cents more
            if cents < 0:
                return None
            total = price(Money(cents))
            if total.cents <= ceiling:
                return Money(cents), total
            cents -= 1
        return None

    # -- bookkeeping -------------------------------------------------------------------------
    def _plan(self, material_id: str) -> RoutePlan | None:
        try:
            return self._routes.plan(material_id)
        except NotFound:
            return None
        except LoopError as exc:
            if "base_price" in exc.message:
                return None
            raise

    def _record_decision(
        self,
        row: OverflowRow,
        plan: RoutePlan,
        state: str,
        decision: str,
        *,
        bids_until: Any = None,
        extra: dict[str, Any] | None = None,
        expected: str | None = None,
    ) -> dict[str, Any]:
        now = self._clock.now()
        chosen = plan.selected
        record = {
            "material_id": row.material_id,
            "decision": decision,
            "base_price": str(plan.base_price),
            "reason": plan.selection.reason,
            "selected": None if chosen is None else render_candidate(chosen),
            "candidates": [
                {
                    "kind": p.candidate.kind,
                    "node": p.candidate.node,
                    "ref": p.candidate.ref,
                    "loop_cost": None if p.quote is None else str(p.quote.total),
                }
                for p in sorted(plan.priced, key=lambda p: p.candidate.sort_key())
            ],
            "decided_at": format_timestamp(now),
            **(extra or {}),
        }
        with self._uow(write=True) as uow:
            moved = uow.overflow.advance(
                row.material_id,
                expected=expected or row.state,
                state=state,
                now=now,
                bids_until=bids_until,
                decision=record,
            )
            if not moved:
                raise Conflict(f"{row.material_id} was decided by someone else meanwhile")
            uow.evidence.append(
                EvidenceDraft(
                    event_type="material.routed",
                    subject_type="material",
                    subject_id=row.material_id,
                    actor="routing",
                    payload_hash=sha256_hex(record),
                    summary={k: record[k] for k in ("decision", "reason", "candidates")},
                ),
                now,
            )
        return record


def _announced_km(remote: dict[str, Any], node: NodeIdentity) -> Decimal | None:
    """Distance to the origin from the announcement's `origin_location`, when it has one
    (a node that received our handshake may not know our location otherwise)."""
    where = remote.get("origin_location")
    if not isinstance(where, dict):
        return None
    lat, lon = where.get("lat"), where.get("lon")
    if isinstance(lat, bool) or isinstance(lon, bool):
        return None
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    try:
        return km_between((float(lat), float(lon)), (node.lat, node.lon))
    except LoopError:
        return None


def render_row(row: OverflowRow) -> dict[str, Any]:
    return {
        "material_id": row.material_id,
        "state": row.state,
        "local_until": format_timestamp(row.local_until),
        "bids_until": None if row.bids_until is None else format_timestamp(row.bids_until),
        "decision": row.decision,
        "updated_at": format_timestamp(row.updated),
    }
