"""The one place that wires adapters to services."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from loopnode.adapters.clock import SystemClock
from loopnode.adapters.coredp_wiring import CoreDp, build_coredp
from loopnode.adapters.federation.wiring import Federation, build_federation
from loopnode.adapters.jwks import Auth, build_auth
from loopnode.adapters.ops_probe import OpsProbe
from loopnode.adapters.ratelimit_limits import counter_store
from loopnode.adapters.storage.engine import DATABASE_FAULTS, DatabaseLimits, make_engine
from loopnode.adapters.storage.epcis_sql import SqlEpcisStore
from loopnode.adapters.storage.migrate import upgrade
from loopnode.adapters.storage.sql import SqlUnitOfWork
from loopnode.config import Settings
from loopnode.protocol import keys
from loopnode.services.apikeys import ApiKeyService
from loopnode.services.credentials import CredentialService, assertion_keys
from loopnode.services.custody import Custody
from loopnode.services.dpp import DppService
from loopnode.services.epcis import EpcisService
from loopnode.services.evidence import EvidenceService
from loopnode.services.exchange import Exchange
from loopnode.services.federation.keys import KeyUnavailable, NodeKeys
from loopnode.services.idempotency import IdempotencyService
from loopnode.services.identity import NodeIdentity
from loopnode.services.lifecycle import LifecycleService
from loopnode.services.material_status import MaterialStatusService
from loopnode.services.node_info import NodeInfoService
from loopnode.services.ops import OpsService
from loopnode.services.ownership import OwnershipService
from loopnode.services.ports import Clock, UnitOfWorkFactory
from loopnode.services.ratelimit import Quotas, RateLimitService
from loopnode.services.registry import RegistryService
from loopnode.services.search import SearchService
from loopnode.services.stream import EventHub
from loopnode.services.transactions import TransactionService

__all__ = ["DATABASE_FAULTS", "Container", "build"]  # web/errors maps DATABASE_FAULTS to 503


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
    rate_limits: RateLimitService
    ops: OpsService
    auth: Auth
    ownership: OwnershipService

    def close(self) -> None:
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
    engine = make_engine(settings.sqlalchemy_url, limits=DatabaseLimits.of(settings))
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    node = node_identity(settings)
    uow: UnitOfWorkFactory = partial(SqlUnitOfWork, engine, settings.node_id)
    random_hex = random_hex or (lambda n: secrets.token_hex(n).upper()[:n])
    idempotency = IdempotencyService(uow, clock)
    exchange = Exchange(Custody(node, random_hex))
    lifecycle = LifecycleService(uow, idempotency, exchange, random_hex)
    federation = build_federation(
        settings, partial(SqlUnitOfWork, engine, settings.node_id), clock, node, lifecycle=lifecycle
    )
    if migrate:
        federation.keys.ensure_current()
    search = SearchService(uow, clock, node, federation.search)
    coredp = build_coredp(
        settings,
        partial(SqlUnitOfWork, engine, settings.node_id),
        clock,
        node,
        exchange=exchange,
        signing_key=federation.keys.signing_key,
        random_hex=random_hex,
        search=search.core_dp_search,
    )
    registry = RegistryService(uow, clock, node, random_hex)
    api_keys = ApiKeyService(
        uow,
        clock,
        default_ttl_days=settings.api_key_default_ttl_days,
        max_ttl_days=settings.api_key_max_ttl_days,
    )
    credentials = CredentialService(
        registry,
        clock,
        base_url=settings.base_url,
        node_name=settings.name,
        signing_key=lambda: federation.keys.signing_key()[0],
        public_keys=lambda: assertion_keys(federation.keys.history()),
    )
    return Container(
        settings=settings,
        engine=engine,
        clock=clock,
        node=node,
        uow=uow,
        registry=registry,
        search=search,
        api_keys=api_keys,
        evidence=EvidenceService(uow, settings.node_id),
        node_info=NodeInfoService(uow, node, partial(_current_pem, federation.keys), clock),
        idempotency=idempotency,
        lifecycle=lifecycle,
        material_status=MaterialStatusService(uow, idempotency, random_hex),
        transactions=TransactionService(uow, idempotency),
        events=EventHub(uow),
        federation=federation,
        coredp=coredp,
        credentials=credentials,
        epcis=EpcisService(SqlEpcisStore(engine), clock),
        dpp=DppService(registry, lifecycle, credentials, node, base_url=settings.base_url),
        rate_limits=rate_limits(settings),
        ops=OpsService(OpsProbe(engine), settings.outbox_stuck_after_s),
        auth=build_auth(settings, clock, api_keys, create=migrate),
        ownership=OwnershipService(uow, clock),
    )


def rate_limits(settings: Settings) -> RateLimitService:
    quotas = Quotas(
        user=settings.rate_limit_user,
        node=settings.rate_limit_node,
        search=settings.rate_limit_search,
        anonymous=settings.rate_limit_anonymous,
    )
    store = counter_store(settings.redis_url, settings.rate_limit_key_prefix)
    return RateLimitService(store, quotas, enabled=settings.rate_limits)
