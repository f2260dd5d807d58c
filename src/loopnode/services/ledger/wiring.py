"""Settings → the ledger service (called from bootstrap.py)."""

from __future__ import annotations

from typing import Any

from loopnode.config import Settings
from loopnode.domain.decay import DecayPolicy
from loopnode.services.ledger.clearing_round import ClearingRounds
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.service import LedgerService
from loopnode.services.ledger.settlement import Settler, SigningKey
from loopnode.services.ports import Clock


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
    settings: Settings, uow: Any, clock: Clock, signing_key: SigningKey | None = None
) -> LedgerService:
    """The ledger service with its settlement hook and clearing rounds attached."""
    config = ledger_config(settings)
    settler = Settler(config, signing_key)
    rounds = ClearingRounds(uow, clock, config, settler.sign)
    return LedgerService(uow, clock, config, settler=settler, rounds=rounds)
