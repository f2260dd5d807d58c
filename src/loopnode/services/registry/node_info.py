"""This node's NodeInfo (spec §8.1 `GET /node/info`), with live statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain.times import to_us
from loopnode.services.ports import Clock, UnitOfWorkFactory
from loopnode.services.registry.identity import NodeIdentity

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
# Only values of the NodeInfo capability enum; the rest is advertised in the handshake.
CAPABILITIES = ["material-registry"]
DAY_US = 24 * 3600 * 1_000_000


class NodeInfoService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        node: NodeIdentity,
        public_key_pem: Callable[[], str] | None = None,
        clock: Clock | None = None,
        loopcoin_supply: Callable[[], int] | None = None,
    ) -> None:
        self._uow = uow
        # Whole LoopCoins issued minus redeemed (services/ledger); 0 without a ledger.
        self._loopcoin_supply = loopcoin_supply or (lambda: 0)
        self._node = node
        self._clock = clock
        # Asked on every request: `loopnode keys rotate` in another process changes the key.
        self._public_key_pem = public_key_pem or (lambda: node.public_key_pem)

    def node_info(self) -> dict[str, Any]:
        now_us = to_us(self._clock.now()) if self._clock else None
        with self._uow() as uow:
            materials = uow.records.count_active("material")
            total = uow.transactions.count()
            # Live (issue 15): transactions recorded in the last 24 h; users are the API keys
            # that can act now (the node's only principals until OAuth and roles arrive).
            daily = uow.transactions.count(now_us - DAY_US) if now_us is not None else 0
            users = uow.api_keys.count_valid(now_us) if now_us is not None else 0
        info: dict[str, Any] = {
            "@context": CONTEXT,
            "@type": "NodeInfo",
            "schema_version": LOOP_SPEC_VERSION,
            "id": self._node.node_id,
            "name": self._node.name,
            "version": LOOP_SPEC_VERSION,
            "location": {
                "lat": self._node.lat,
                "lon": self._node.lon,
                "city": self._node.city,
                "country": self._node.country,
            },
            "capabilities": list(CAPABILITIES),
            "endpoint": self._node.api_base,
            "statistics": {
                "materials_active": materials,
                "transactions_daily": daily,
                "transactions_total": total,
                "loopcoin_supply": self._loopcoin_supply(),
                "users_active": users,
                "businesses_registered": 0,
            },
        }
        pem = self._public_key_pem()
        if pem:
            info["public_key"] = pem
        return info
