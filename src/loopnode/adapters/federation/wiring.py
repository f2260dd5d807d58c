"""Wiring of the federation services to their adapters (called from `bootstrap.build`).

Kept beside the adapters so that `bootstrap.py` gains one line. Everything the services need
from outside is injected here: the key file, the httpx transport, the clock, the jitter and id
sources, and the settings.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loopnode.adapters.federation.keyfile import KeyFile
from loopnode.adapters.messaging.http import HttpTransport
from loopnode.config import Settings
from loopnode.services.federation.announcements import AnnouncementService, FloodSettings
from loopnode.services.federation.bids import BidService, LifecycleMatchMaker
from loopnode.services.federation.delivery import Delivery, DeliverySettings, DeliveryWorker
from loopnode.services.federation.keys import NodeKeys
from loopnode.services.federation.outbox import OutboxService
from loopnode.services.federation.peers import PeerService, TlsTrust
from loopnode.services.federation.ports import FederationUowFactory, PeerTransport
from loopnode.services.federation.resilience import RetryPolicy
from loopnode.services.federation.search import CrossNodeSearch
from loopnode.services.federation.trust import PeerTrust
from loopnode.services.identity import NodeIdentity
from loopnode.services.ports import Clock


@dataclass
class Federation:
    """The federation services of one node (`container.federation`)."""

    keys: NodeKeys
    trust: PeerTrust
    peers: PeerService
    announcements: AnnouncementService
    bids: BidService
    outbox: OutboxService
    search: CrossNodeSearch
    delivery_settings: DeliverySettings
    transport_factory: Callable[[], PeerTransport]
    uow: FederationUowFactory
    clock: Clock
    jitter: Callable[[], float]
    run_worker: bool

    def worker(self, transport: PeerTransport) -> DeliveryWorker:
        delivery = Delivery(self.uow, self.clock, transport, self.jitter, self.delivery_settings)
        return DeliveryWorker(
            delivery, self.announcements.relay, self.housekeeping, self.delivery_settings
        )

    def housekeeping(self) -> dict[str, int]:
        return {"signatures": self.trust.prune(), "receipts": self.announcements.prune()}


def build_federation(
    settings: Settings,
    uow: FederationUowFactory,
    clock: Clock,
    node: NodeIdentity,
    *,
    lifecycle: Any = None,
    jitter: Callable[[], float] | None = None,
    new_id: Callable[[], str] | None = None,
) -> Federation:
    new_id = new_id or (lambda: secrets.token_hex(12))
    jitter = jitter or random.SystemRandom().random
    key_file = KeyFile(settings.private_key_path)
    node_keys = NodeKeys(uow, clock, node.node_id, key_file, new_id=new_id)
    trust = PeerTrust(uow, clock, node.node_id)
    ca_bundle = settings.tls_ca_bundle or None

    def transport_factory() -> PeerTransport:
        return HttpTransport(
            node_id=node.node_id,
            signing_key=node_keys.signing_key,
            clock=clock,
            ca_bundle=ca_bundle,
            development=settings.environment == "development",
        )

    delivery = DeliverySettings(
        policy=RetryPolicy(
            base_s=settings.federation_retry_base_s,
            cap_s=settings.federation_retry_cap_s,
            max_attempts=settings.federation_max_attempts,
            breaker_threshold=settings.federation_breaker_threshold,
            cooldown_s=settings.federation_breaker_cooldown_s,
        ),
        timeout_s=settings.federation_timeout_s,
        poll_s=settings.federation_poll_s,
    )
    flood = FloodSettings(
        radius_km=settings.announcement_radius_km,
        ttl=settings.announcement_ttl,
        dedupe_window=timedelta(seconds=settings.federation_dedupe_window_s),
    )
    matches = LifecycleMatchMaker(lifecycle) if lifecycle is not None else None
    return Federation(
        keys=node_keys,
        trust=trust,
        peers=PeerService(
            uow,
            clock,
            node,
            trust,
            node_keys.public_pem,
            allowlist=settings.peer_allowlist,
            tls_trust=TlsTrust(ca_bundle, settings.federation_timeout_s),
        ),
        announcements=AnnouncementService(uow, clock, node, node_keys.signing_key, new_id, flood),
        bids=BidService(uow, clock, node, matches),
        outbox=OutboxService(uow, clock),
        search=CrossNodeSearch(
            uow, clock, node.node_id, transport_factory, settings.federation_search_timeout_s
        ),
        delivery_settings=delivery,
        transport_factory=transport_factory,
        uow=uow,
        clock=clock,
        jitter=jitter,
        run_worker=settings.federation_worker,
    )
