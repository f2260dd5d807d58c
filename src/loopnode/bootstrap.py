"""The one place that wires adapters to services.

The messaging section builds the federation and core-dp services and the one delivery worker
that serves both (services/messaging): one transport constructor, one outbox, one worker with a
channel per kind of traffic. The routing and LoopCoin sections follow.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine

from loopnode.adapters.clock import SystemClock
from loopnode.adapters.federation.keyfile import KeyFile
from loopnode.adapters.federation.overflow import FederationBridge
from loopnode.adapters.jwks import Auth, build_auth
from loopnode.adapters.messaging.http import HttpTransport
from loopnode.adapters.ops_probe import OpsProbe
from loopnode.adapters.ratelimit_limits import counter_store
from loopnode.adapters.storage.engine import (
    DATABASE_FAULTS,
    PING_IDLE_S,
    DatabaseLimits,
    make_engine,
    runs_inline,
)
from loopnode.adapters.storage.migrate import upgrade
from loopnode.adapters.storage.sql.driver import DocumentReader
from loopnode.adapters.storage.sql.epcis import SqlEpcisStore
from loopnode.adapters.storage.stall_guard import StallGuard
from loopnode.adapters.storage.uow import SqlUnitOfWork, retryable
from loopnode.adapters.storage.wal_checkpoints import WalCheckpointer
from loopnode.adapters.storage.wal_checkpoints import for_engine as wal_checkpointer
from loopnode.config import Settings
from loopnode.domain.decay import DecayPolicy
from loopnode.domain.errors import InvalidRequest
from loopnode.protocol import keys
from loopnode.services.access.apikeys import ApiKeyService
from loopnode.services.access.ownership import OwnershipService
from loopnode.services.access.ratelimit import Quotas, RateLimitService
from loopnode.services.coredp.delivery import CoreDpChannel
from loopnode.services.coredp.dna import DnaOperations, Search
from loopnode.services.coredp.exchange import CoreDpExchange
from loopnode.services.coredp.messages import CoreDpIdentity, CoreDpSettings, advertised_endpoint
from loopnode.services.coredp.ports import SigningKey
from loopnode.services.coredp.receiver import CoreDpReceiver
from loopnode.services.coredp.steps import Steps
from loopnode.services.dpp.credentials import CredentialService, assertion_keys
from loopnode.services.dpp.epcis import EpcisService
from loopnode.services.dpp.resolver import DppService
from loopnode.services.evidence.service import EvidenceService
from loopnode.services.evidence.stream import EventHub
from loopnode.services.evidence.witness import WitnessService
from loopnode.services.federation.announcements import AnnouncementService, FloodSettings
from loopnode.services.federation.bids import BidService, LifecycleMatchMaker
from loopnode.services.federation.delivery import FederationChannel
from loopnode.services.federation.keys import KeyUnavailable, NodeKeys
from loopnode.services.federation.outbox import OutboxService
from loopnode.services.federation.peers import PeerService, TlsTrust
from loopnode.services.federation.ports import PeerAddress, PeerRow, PeerTransport
from loopnode.services.federation.search import CrossNodeSearch
from loopnode.services.federation.trust import PeerTrust
from loopnode.services.group_commit import GroupCommit
from loopnode.services.idempotency import IdempotencyService
from loopnode.services.ledger.clearing_round import ClearingRounds
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.service import LedgerService
from loopnode.services.ledger.settlement import Settler
from loopnode.services.ledger.settlement import SigningKey as LedgerSigningKey
from loopnode.services.lifecycle.custody import Custody
from loopnode.services.lifecycle.engine import Exchange
from loopnode.services.lifecycle.material_status import MaterialStatusService
from loopnode.services.lifecycle.service import LifecycleService
from loopnode.services.lifecycle.transactions import TransactionService
from loopnode.services.messaging.delivery import Channel, Delivery, DeliverySettings, DeliveryWorker
from loopnode.services.messaging.ports import Transport
from loopnode.services.messaging.resilience import RetryPolicy
from loopnode.services.ops import OpsService
from loopnode.services.ports import Clock, RecordQuery, RecordRow, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity
from loopnode.services.registry.node_info import NodeInfoService
from loopnode.services.registry.search import SearchService
from loopnode.services.registry.service import RegistryService
from loopnode.services.routing.cost import LoopCostService, PeerSignalDirectory
from loopnode.services.routing.demand import DemandService
from loopnode.services.routing.overflow import OverflowService, OverflowSettings
from loopnode.services.routing.overflow import held as overflow_held
from loopnode.services.routing.routes import RouteCalculator, open_bids
from loopnode.services.routing.signals import SignalService, SignalSettings

# Re-exported for web: the driver faults it answers 503 and the guard of inline calls,
# without web importing an adapter.
__all__ = ["DATABASE_FAULTS", "Container", "StallGuard", "build"]


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    node: NodeIdentity
    uow: UnitOfWorkFactory
    registry: RegistryService
    search: SearchService
    api_keys: ApiKeyService
    evidence: EvidenceService
    node_info: NodeInfoService
    idempotency: IdempotencyService
    lifecycle: LifecycleService
    material_status: MaterialStatusService
    transactions: TransactionService
    events: EventHub
    federation: Federation
    coredp: CoreDp
    credentials: CredentialService
    epcis: EpcisService
    dpp: DppService
    messaging: Messaging
    rate_limits: RateLimitService
    ops: OpsService
    routing: Routing
    ledger: LedgerService
    auth: Auth
    ownership: OwnershipService
    witness: WitnessService
    writes: GroupCommit
    # Routes run service calls on the event loop (web/concurrency.py); inline on PostgreSQL,
    # the guard breaks a call that stalls it.
    inline_calls: bool = True
    stall_guard: StallGuard | None = None
    document_reader: DocumentReader | None = None  # keeps a connection per event-loop thread
    wal_checkpoints: WalCheckpointer | None = None  # SQLite: started by the web app

    def start_wal_checkpoints(self) -> None:
        """A served node checkpoints SQLite's log off the event loop (wal_checkpoints.py)."""
        if self.wal_checkpoints is not None:
            self.wal_checkpoints.start()

    def close(self) -> None:
        if self.wal_checkpoints is not None:
            self.wal_checkpoints.close()
        if self.stall_guard is not None:
            self.stall_guard.close()
        if self.document_reader is not None:
            self.document_reader.close()
        self.engine.dispose()


def _current_pem(node_keys: NodeKeys) -> str:
    try:
        return node_keys.public_pem()
    except KeyUnavailable:
        return ""


def node_identity(settings: Settings) -> NodeIdentity:
    pem = ""
    if settings.private_key_path.exists():
        pem = keys.public_pem(keys.load_private_key(settings.private_key_path).public_key())
    return NodeIdentity(
        node_id=settings.node_id,
        name=settings.name,
        country=settings.country,
        city_code=settings.city_code,
        city=settings.city,
        lat=settings.lat,
        lon=settings.lon,
        api_base=settings.api_base,
        public_key_pem=pem,
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    random_hex: Callable[[int], str] | None = None,
    migrate: bool = True,
) -> Container:
    engine = make_engine(
        settings.sqlalchemy_url,
        pool_size=settings.database_pool_size,
        limits=DatabaseLimits.of(settings),
    )
    if migrate:
        upgrade(engine)
    stall_guard: StallGuard | None = None
    inline_calls = runs_inline(engine, settings.database_call_mode)
    if inline_calls and engine.dialect.name != "sqlite":
        stall_guard = StallGuard(settings.request_deadline_s)
        stall_guard.attach(engine)
    clock = clock or SystemClock()
    node = node_identity(settings)
    uow: UnitOfWorkFactory = partial(SqlUnitOfWork, engine, settings.node_id)
    random_hex = random_hex or (lambda n: secrets.token_hex(n).upper()[:n])
    # One gate per worker: registrations and lifecycle changes batch together.
    writes = GroupCommit(uow, clock, retryable=retryable)
    idempotency = IdempotencyService(uow, clock, writes)
    exchange = Exchange(Custody(node, random_hex))
    lifecycle = LifecycleService(uow, idempotency, exchange, random_hex)
    # Local first (issue 11 item 5): the relay leaves lots the overflow policy holds back.
    hold = partial(overflow_held, uow) if settings.overflow_worker else None
    federation = build_federation(settings, uow, clock, node, lifecycle=lifecycle, hold=hold)
    if migrate:
        federation.keys.ensure_current()
    routing = build_routing(settings, uow, clock, node, random_hex, federation, lifecycle)
    search = SearchService(uow, clock, node, federation.search, routing.cost.record_coster)
    coredp = build_coredp(
        settings,
        uow,
        clock,
        node,
        exchange=exchange,
        signing_key=federation.keys.signing_key,
        random_hex=random_hex,
        search=search.core_dp_search,
    )
    document_reader = DocumentReader(engine, idle_ping_s=PING_IDLE_S)
    registry = RegistryService(uow, clock, node, random_hex, writes, read_document=document_reader)
    api_keys = ApiKeyService(
        uow,
        clock,
        default_ttl_days=settings.api_key_default_ttl_days,
        max_ttl_days=settings.api_key_max_ttl_days,
        cache_s=settings.api_key_cache_s,
    )
    credentials = CredentialService(
        registry,
        clock,
        base_url=settings.base_url,
        node_name=settings.name,
        signing_key=lambda: federation.keys.signing_key()[0],
        public_keys=lambda: assertion_keys(federation.keys.history()),
    )
    ledger = ledger_service(settings, uow, clock, federation.keys.signing_key)
    return Container(
        settings=settings,
        engine=engine,
        clock=clock,
        node=node,
        uow=uow,
        registry=registry,
        search=search,
        api_keys=api_keys,
        evidence=EvidenceService(uow, settings.node_id, clock, federation.keys.signing_key),
        node_info=NodeInfoService(
            uow,
            node,
            partial(_current_pem, federation.keys),
            clock,
            loopcoin_supply=lambda: ledger.supply_cents() // 100,
        ),
        idempotency=idempotency,
        lifecycle=lifecycle,
        material_status=MaterialStatusService(uow, idempotency, random_hex),
        transactions=TransactionService(uow, idempotency, ledger.settler.on_confirmed),
        events=EventHub(uow),
        federation=federation,
        coredp=coredp,
        credentials=credentials,
        epcis=EpcisService(SqlEpcisStore(engine), clock),
        dpp=DppService(registry, lifecycle, credentials, node, base_url=settings.base_url),
        messaging=build_messaging(settings, uow, clock, federation, coredp),
        rate_limits=rate_limits(settings),
        ops=OpsService(OpsProbe(engine), settings.outbox_stuck_after_s),
        routing=routing,
        ledger=ledger,
        auth=build_auth(settings, clock, api_keys, create=migrate),
        ownership=OwnershipService(uow, clock),
        witness=WitnessService(
            uow, clock, federation.transport_factory, settings.federation_timeout_s
        ),
        writes=writes,
        inline_calls=inline_calls,
        stall_guard=stall_guard,
        document_reader=document_reader,
        wal_checkpoints=wal_checkpointer(engine),
    )


# -- messaging: federation, core-dp and the one delivery worker ---------------------------------
def transport_factory(
    settings: Settings, node_id: str, signing_key: SigningKey, clock: Clock
) -> Callable[[], HttpTransport]:
    """The one transport's constructor (a new one per event loop: httpx clients bind to one)."""

    def make() -> HttpTransport:
        return HttpTransport(
            node_id=node_id,
            signing_key=signing_key,
            clock=clock,
            ca_bundle=settings.tls_ca_bundle or None,
            development=settings.environment == "development",
        )

    return make


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
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
    transport_factory: Callable[[], PeerTransport]
    run_worker: bool
    uow: Callable[..., Any]

    def housekeeping(self) -> dict[str, int]:
        return {"signatures": self.trust.prune(), "receipts": self.announcements.prune()}


def build_federation(
    settings: Settings,
    uow: Callable[..., Any],
    clock: Clock,
    node: NodeIdentity,
    *,
    lifecycle: Any = None,
    new_id: Callable[[], str] | None = None,
    hold: Callable[[list[str]], set[str]] | None = None,
) -> Federation:
    new_id = new_id or (lambda: secrets.token_hex(12))
    key_file = KeyFile(settings.private_key_path)
    node_keys = NodeKeys(uow, clock, node.node_id, key_file, new_id=new_id)
    trust = PeerTrust(uow, clock, node.node_id)
    ca_bundle = settings.tls_ca_bundle or None
    transports = transport_factory(settings, node.node_id, node_keys.signing_key, clock)
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
        announcements=AnnouncementService(
            uow, clock, node, node_keys.signing_key, new_id, flood, hold
        ),
        bids=BidService(uow, clock, node, matches),
        outbox=OutboxService(uow, clock),
        search=CrossNodeSearch(
            uow, clock, node.node_id, transports, settings.federation_search_timeout_s
        ),
        transport_factory=transports,
        run_worker=settings.federation_worker,
        uow=uow,
    )


@dataclass
class CoreDp:
    """The core-dp services of one node (`container.coredp`)."""

    receiver: CoreDpReceiver
    exchange: CoreDpExchange
    channel: CoreDpChannel
    delivery: Delivery
    transport: HttpTransport
    settings: CoreDpSettings


def build_coredp(
    settings: Settings,
    uow: Callable[..., Any],
    clock: Clock,
    node: NodeIdentity,
    *,
    exchange: Exchange,
    signing_key: SigningKey,
    random_hex: Callable[[int], str],
    search: Search | None = None,
    coredp_settings: CoreDpSettings | None = None,
    jitter: Callable[[], float] | None = None,
) -> CoreDp:
    """The exchange delivers what it authors at once through `delivery` (its own transport,
    which in-process tests `mount` on); the background worker (`Messaging`) retries later."""
    tunables = coredp_settings or CoreDpSettings()
    identity = CoreDpIdentity(
        node.node_id, advertised_endpoint(node.api_base, node.node_id), signing_key
    )
    steps = Steps(node.node_id, exchange, tunables)
    transport = transport_factory(settings, node.node_id, signing_key, clock)()
    channel = CoreDpChannel(identity, steps, tunables)
    delivery = Delivery(
        uow,
        clock,
        transport,
        jitter or random.SystemRandom().random,
        delivery_settings(settings),
        [channel],
    )
    return CoreDp(
        receiver=CoreDpReceiver(
            uow, clock, identity, steps, DnaOperations(node.node_id, search), tunables
        ),
        exchange=CoreDpExchange(
            uow, clock, identity, steps, delivery, exchange, random_hex, tunables
        ),
        channel=channel,
        delivery=delivery,
        transport=transport,
        settings=tunables,
    )


@dataclass
class Messaging:
    """The one delivery worker over the one outbox, for every channel (`container.messaging`)."""

    uow: Callable[..., Any]
    clock: Clock
    jitter: Callable[[], float]
    settings: DeliverySettings
    channels: list[Channel]
    jobs: list[Callable[[], int]]
    housekeeping: Callable[[], object]
    run_worker: bool

    def delivery(self, transport: Transport) -> Delivery:
        return Delivery(self.uow, self.clock, transport, self.jitter, self.settings, self.channels)

    def worker(self, transport: Transport) -> DeliveryWorker:
        """The app's background task (see `web/routes/federation.start`)."""
        delivery = self.delivery(transport)
        return DeliveryWorker(delivery, self.jobs, self.housekeeping, self.settings)


def build_messaging(
    settings: Settings,
    uow: Callable[..., Any],
    clock: Clock,
    federation: Federation,
    coredp: CoreDp,
    *,
    jitter: Callable[[], float] | None = None,
) -> Messaging:
    return Messaging(
        uow=uow,
        clock=clock,
        jitter=jitter or random.SystemRandom().random,
        settings=delivery_settings(settings),
        channels=[FederationChannel(), coredp.channel],
        jobs=[federation.announcements.relay, coredp.exchange.expire],
        housekeeping=federation.housekeeping,
        run_worker=settings.federation_worker,
    )


def rate_limits(settings: Settings) -> RateLimitService:
    quotas = Quotas(
        user=settings.rate_limit_user,
        node=settings.rate_limit_node,
        search=settings.rate_limit_search,
        anonymous=settings.rate_limit_anonymous,
        dashboard=settings.rate_limit_dashboard,
    )
    store = counter_store(settings.redis_url, settings.rate_limit_key_prefix)
    return RateLimitService(store, quotas, enabled=settings.rate_limits)


# -- routing (issue 11): signals, demand, LoopCost, routes, overflow ----------------------------
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
    uow: UnitOfWorkFactory,
    clock: Clock,
    node: NodeIdentity,
    random_hex: Callable[[int], str],
    federation: Federation,
    lifecycle: Any,
) -> Routing:
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

    def record(material_id: str) -> RecordRow | None:
        with uow() as unit:
            return unit.records.get("material", material_id)

    routes = RouteCalculator(node, clock, cost, demand, record, open_bids(federation.bids), peers)

    def local_materials() -> list[RecordRow]:
        with uow() as unit:
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


# -- LoopCoin: the ledger, its settlement hook and clearing rounds ------------------------------
def ledger_config(settings: Settings) -> LedgerConfig:
    return LedgerConfig(
        node_id=settings.node_id,
        currency_code=settings.currency_code,
        backed_by=settings.loopcoin_backed_by,
        exchange_rate=settings.loopcoin_exchange_rate,
        max_issuance=settings.loopcoin_max_issuance,
        reserve_ratio=settings.loopcoin_reserve_ratio,
        local_bonus=settings.loopcoin_local_bonus,
        policy=DecayPolicy(settings.loopcoin_expiry_months, settings.loopcoin_decay_rate),
    )


def ledger_service(
    settings: Settings, uow: Any, clock: Clock, signing_key: LedgerSigningKey | None = None
) -> LedgerService:
    """The ledger service with its settlement hook and clearing rounds attached."""
    config = ledger_config(settings)
    settler = Settler(config, signing_key)
    rounds = ClearingRounds(uow, clock, config, settler.sign)
    return LedgerService(uow, clock, config, settler=settler, rounds=rounds)
