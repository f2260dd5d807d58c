"""Wiring of the routing services (issue 11) to their adapters, called from `bootstrap.build`.

Kept beside the adapters so that `bootstrap.py` gains one line, as the federation's wiring does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from loopnode.adapters.storage.routing_sql import SqlRoutingUnitOfWork
from loopnode.config import Settings
from loopnode.services.identity import NodeIdentity
from loopnode.services.ports import Clock
from loopnode.services.routing_ports import RoutingUowFactory
from loopnode.services.signals import SignalService, SignalSettings

__all__ = ["Routing", "build_routing"]


@dataclass
class Routing:
    """The routing services of one node (`container.routing`)."""

    uow: RoutingUowFactory
    signals: SignalService


def build_routing(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    node: NodeIdentity,
    random_hex: Callable[[int], str],
) -> Routing:
    uow: RoutingUowFactory = partial(SqlRoutingUnitOfWork, engine, settings.node_id)
    signal_settings = SignalSettings(
        node_id=settings.node_id,
        initial=dict(settings.signals),
        config_days=settings.signal_config_days,
        quorum=settings.signal_quorum,
        eligible_voters=settings.signal_eligible_voters,
    )
    return Routing(uow=uow, signals=SignalService(uow, clock, signal_settings, random_hex))
