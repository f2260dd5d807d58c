"""The LoopCoinConfig a node enforces and publishes (spec §5.1, DECISIONS 12, 15, 16)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loopnode.domain.decay import DecayPolicy
from loopnode.domain.ledger import COMMUNITY_FUND, Issuance, system_account
from loopnode.protocol.jsonld import CONTEXT_V020


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    node_id: str
    currency_code: str
    backed_by: str
    exchange_rate: Decimal
    max_issuance: int  # whole LoopCoins, as the schema's integer says
    reserve_ratio: Decimal
    local_bonus: Decimal
    policy: DecayPolicy

    @property
    def fund(self) -> str:
        return system_account(COMMUNITY_FUND, self.node_id)

    @property
    def issuance(self) -> Issuance:
        return Issuance(self.max_issuance * 100, self.reserve_ratio, self.exchange_rate)

    def as_wire(self, supply_cents: int) -> dict[str, Any]:
        """A LoopCoinConfig; `current_supply` is the issued minus redeemed whole coins."""
        return {
            "@context": CONTEXT_V020,
            "@type": "LoopCoinConfig",
            "schema_version": "0.2.0",
            "issuer": self.node_id,
            "currency_code": self.currency_code,
            "backed_by": self.backed_by,
            "exchange_rate": _number(self.exchange_rate),
            "local_bonus": _number(self.local_bonus),
            "expiry_months": self.policy.expiry_months,
            "decay_rate": _number(self.policy.decay_rate),
            "max_issuance": self.max_issuance,
            "current_supply": supply_cents // 100,
            "reserve_ratio": _number(self.reserve_ratio),
        }


def _number(value: Decimal) -> int | float:
    """A JSON number for a configured rate (the schema types them as numbers)."""
    return int(value) if value == value.to_integral_value() else float(value)
