"""Stores of the routing services (signals, demand, LoopCost, overflow).

They hang off the node's one `UnitOfWork` (services/ports.py: `uow.signals`, `uow.demand`,
`uow.overflow`), so that a published config or a routing decision and its evidence entry commit
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from loopnode.domain.signals import Change

Signals = dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class StoredConfig:
    version: int
    node: str
    signals: Signals
    valid_from: datetime
    valid_until: datetime
    vote_id: str | None = None
    turnout: Decimal | None = None
    approval: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ProposalRow:
    id: str
    period: str
    state: str
    document: dict[str, Any]
    changes: list[Change]
    voting_opens: datetime
    voting_closes: datetime
    created: datetime
    closed: datetime | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DemandRow:
    id: str
    node: str
    category: str
    quantity_value: str
    quantity_unit: str
    quantity_micro: int
    max_price_cents: int | None
    lat: float | None
    lon: float | None
    valid_until: datetime
    requester: str
    status: str
    document: dict[str, Any]
    created: datetime
    match_id: str | None = None


@dataclass(frozen=True, slots=True)
class OverflowRow:
    material_id: str
    state: str
    local_until: datetime
    bids_until: datetime | None
    decision: dict[str, Any] | None
    updated: datetime


class SignalStore(Protocol):
    def latest_config(self, *, for_update: bool = False) -> StoredConfig | None: ...
    def insert_config(self, config: StoredConfig, now: datetime) -> bool: ...
    def history(self, limit: int) -> list[StoredConfig]: ...
    def insert_proposal(self, row: ProposalRow) -> None: ...
    def proposal(self, proposal_id: str, *, for_update: bool = False) -> ProposalRow | None: ...
    def proposals(self, limit: int, state: str | None = None) -> list[ProposalRow]: ...
    def counting_in_period(self, period: str) -> list[ProposalRow]: ...
    def add_ballot(self, proposal_id: str, voter: str, choice: str, now: datetime) -> bool: ...
    def choices(self, proposal_id: str) -> list[str]: ...
    def decide(
        self, proposal_id: str, state: str, result: dict[str, Any], now: datetime
    ) -> bool: ...
    def peer_signals(self, node_id: str) -> tuple[Signals, datetime] | None: ...
    def store_peer_signals(self, node_id: str, signals: Signals, now: datetime) -> None: ...


class DemandStore(Protocol):
    def insert(self, row: DemandRow) -> None: ...
    def get(self, demand_id: str) -> DemandRow | None: ...
    def search(
        self, *, category: str | None, status: str | None, now: datetime | None, limit: int
    ) -> list[DemandRow]: ...
    def set_status(
        self, demand_id: str, status: str, *, expected: str, match_id: str | None = None
    ) -> bool: ...


class OverflowStore(Protocol):
    def start(self, material_id: str, local_until: datetime, now: datetime) -> bool: ...
    def get(self, material_id: str) -> OverflowRow | None: ...
    def due(self, state: str, now: datetime, limit: int) -> list[OverflowRow]: ...
    def listing(self, state: str | None, limit: int) -> list[OverflowRow]: ...
    def claim(self, material_id: str, state: str, seen: datetime, now: datetime) -> bool: ...
    def note_bid(self, material_id: str, demand_id: str, to: str, now: datetime) -> bool:
        """Remember a bid we send for (material, listing); False if already sent."""
        ...

    def advance(
        self,
        material_id: str,
        *,
        expected: str,
        state: str,
        now: datetime,
        bids_until: datetime | None = None,
        decision: dict[str, Any] | None = None,
    ) -> bool: ...


class SignalFetcher(Protocol):
    """Fetches a peer's published LoopSignalConfig (GET {endpoint}/signals)."""

    def __call__(self, endpoint: str) -> dict[str, Any]: ...
