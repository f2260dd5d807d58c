"""Wiring of the routing services (issue 11) to their adapters, called from `bootstrap.build`.

Kept beside the adapters so that `bootstrap.py` gains one line, as the federation's wiring does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from loopnode.adapters.federation.overflow import FederationBridge
from loopnode.adapters.storage.uow import SqlUnitOfWork
from loopnode.config import Settings
from loopnode.domain.errors import InvalidRequest
from loopnode.services.federation.ports import PeerAddress, PeerRow
from loopnode.services.ports import Clock, RecordQuery, RecordRow, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.routing.cost import LoopCostService, PeerSignalDirectory
from loopnode.services.routing.demand import DemandService
from loopnode.services.routing.overflow import OverflowService, OverflowSettings
from loopnode.services.routing.routes import RouteCalculator, open_bids
from loopnode.services.routing.signals import SignalService, SignalSettings

if TYPE_CHECKING:  # bootstrap builds the federation and imports this module
    from loopnode.bootstrap import Federation

__all__ = ["Routing", "build_routing"]


@dataclass
class Routing:
    """The routing services of one node (`container.routing`)."""

    uow: UnitOfWorkFactory
    signals: SignalService
    cost: LoopCostService
    demand: DemandService
    routes: RouteCalculator
    overflow: OverflowService


def build_routing(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    node: NodeIdentity,
    random_hex: Callable[[int], str],
    federation: Federation,
    lifecycle: Any,
) -> Routing:
    uow: UnitOfWorkFactory = partial(SqlUnitOfWork, engine, settings.node_id)
    signal_settings = SignalSettings(
        node_id=settings.node_id,
        initial=dict(settings.signals),
        config_days=settings.signal_config_days,
        quorum=settings.signal_quorum,
        eligible_voters=settings.signal_eligible_voters,
    )
    signals = SignalService(uow, clock, signal_settings, random_hex)
    peers = federation.peers.approved
    directory = PeerSignalDirectory(
        uow, clock, peers, _signal_fetch(federation, settings), settings.peer_signals_ttl_s
    )
    cost = LoopCostService(node, signals, directory, peers, clock, dict(settings.peer_distances_km))
    demand = DemandService(uow, clock, node, random_hex)
    core_uow = partial(SqlUnitOfWork, engine, settings.node_id)

    def record(material_id: str) -> RecordRow | None:
        with core_uow() as unit:
            return unit.records.get("material", material_id)

    routes = RouteCalculator(node, clock, cost, demand, record, open_bids(federation.bids), peers)

    def local_materials() -> list[RecordRow]:
        with core_uow() as unit:
            return list(
                unit.records.page(
                    RecordQuery(
                        kind="material",
                        limit=10_000,
                        source_node=settings.node_id,
                        availability="available",
                    )
                )
            )

    overflow = OverflowService(
        uow,
        clock,
        node,
        routes,
        lifecycle,
        FederationBridge(federation, clock),
        OverflowSettings(
            local_window=timedelta(seconds=settings.overflow_local_window_s),
            bid_window=timedelta(seconds=settings.overflow_bid_window_s),
            auto_select=settings.overflow_auto_select,
        ),
        local_materials,
        record,
    )
    return Routing(
        uow=uow, signals=signals, cost=cost, demand=demand, routes=routes, overflow=overflow
    )


def _signal_fetch(federation: Federation, settings: Settings) -> Callable[[PeerRow], Any]:
    """GET {peer}/signals through the federation transport (its TLS pins and URL policy)."""

    async def fetch(peer: PeerRow) -> bytes:
        transport = federation.transport_factory()
        try:
            answer = await transport.get(
                peer.endpoint.rstrip("/") + "/signals",
                pin=PeerAddress.of(peer),
                timeout=settings.federation_timeout_s,
            )
        finally:
            await transport.aclose()
        if answer.status != 200:
            raise InvalidRequest(f"{peer.node_id} answered {answer.status} to GET /signals")
        return answer.body

    return fetch
