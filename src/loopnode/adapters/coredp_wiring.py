"""Wiring of the core-dp exchange to its adapters (called from `bootstrap.build`).

Kept beside the adapters so that `bootstrap.py` gains one line, as the federation's wiring
does. The signing key is the federation's `NodeKeys.signing_key` (the current key after a
rotation); the transport is `HttpTransport`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loopnode.adapters.messaging.http import HttpTransport
from loopnode.config import Settings
from loopnode.services.coredp_delivery import CoreDpDelivery, CoreDpWorker
from loopnode.services.coredp_dna import DnaOperations, Search
from loopnode.services.coredp_exchange import CoreDpExchange
from loopnode.services.coredp_messages import CoreDpIdentity, CoreDpSettings, advertised_endpoint
from loopnode.services.coredp_ports import CoreDpUowFactory, SigningKey
from loopnode.services.coredp_receiver import CoreDpReceiver
from loopnode.services.coredp_steps import Steps
from loopnode.services.exchange import Exchange
from loopnode.services.identity import NodeIdentity
from loopnode.services.ports import Clock

__all__ = ["CoreDp", "build_coredp"]


@dataclass
class CoreDp:
    """The core-dp services of one node (`container.coredp`)."""

    receiver: CoreDpReceiver
    exchange: CoreDpExchange
    delivery: CoreDpDelivery
    transport: HttpTransport
    settings: CoreDpSettings
    run_worker: bool

    def worker(self) -> CoreDpWorker:
        return CoreDpWorker(self.delivery, self.settings.poll_s)


def build_coredp(
    settings: Settings,
    uow: CoreDpUowFactory,
    clock: Clock,
    node: NodeIdentity,
    *,
    exchange: Exchange,
    signing_key: SigningKey,
    random_hex: Callable[[int], str],
    search: Search | None = None,
    coredp_settings: CoreDpSettings | None = None,
) -> CoreDp:
    tunables = coredp_settings or CoreDpSettings()
    identity = CoreDpIdentity(
        node.node_id, advertised_endpoint(node.api_base, node.node_id), signing_key
    )
    steps = Steps(node.node_id, exchange, tunables)
    transport = HttpTransport(
        node_id=node.node_id,
        signing_key=signing_key,
        clock=clock,
        ca_bundle=settings.tls_ca_bundle or None,
        development=settings.environment == "development",
    )
    delivery = CoreDpDelivery(uow, clock, identity, steps, transport, tunables)
    return CoreDp(
        receiver=CoreDpReceiver(
            uow, clock, identity, steps, DnaOperations(node.node_id, search), tunables
        ),
        exchange=CoreDpExchange(
            uow, clock, identity, steps, delivery, exchange, random_hex, tunables
        ),
        delivery=delivery,
        transport=transport,
        settings=tunables,
        run_worker=settings.federation_worker,
    )
