"""SQLAlchemy Core implementations of the routing stores, identical on SQLite and PostgreSQL.

The stores live on the node's one unit of work (`sql.SqlUnitOfWork`: `signals`, `demand`,
`overflow`) and share its transaction with the evidence log. Locks: `latest_config(for_update)`
and `proposal(for_update)` take row locks on PostgreSQL (`FOR UPDATE`); SQLite's single writer
serialises write transactions already. A second ballot by the same voter violates the UNIQUE
constraint; it is caught inside a savepoint so that the transaction stays usable.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Row, insert, select, update
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.savepoints import insert_unless_present
from loopnode.adapters.storage.sql import json_text
from loopnode.adapters.storage.tables.routing import (
    bids_sent,
    demand,
    overflow,
    peer_signals,
    signal_ballots,
    signal_configs,
    signal_proposals,
)
from loopnode.domain.signals import Change
from loopnode.domain.times import from_us, to_us
from loopnode.services.routing.ports import (
    DemandRow,
    OverflowRow,
    ProposalRow,
    Signals,
    StoredConfig,
)

__all__ = ["SqlDemandStore", "SqlOverflowStore", "SqlSignalStore"]


def _signals_text(signals: Signals) -> str:
    return json_text({key: str(value) for key, value in sorted(signals.items())})


def _signals_of(text: str) -> Signals:
    return {key: Decimal(value) for key, value in orjson.loads(text).items()}


# -- signals ---------------------------------------------------------------------------------
def _config(row: Row[Any]) -> StoredConfig:
    return StoredConfig(
        version=int(row.version),
        node=str(row.node),
        signals=_signals_of(row.signals),
        valid_from=from_us(row.valid_from_us),
        valid_until=from_us(row.valid_until_us),
        vote_id=row.vote_id,
        turnout=None if row.turnout is None else Decimal(row.turnout),
        approval=None if row.approval is None else Decimal(row.approval),
    )


def _changes_text(changes: list[Change]) -> str:
    return json_text(
        [
            {"category": c.category, "current": str(c.current), "proposed": str(c.proposed)}
            | ({"reason": c.reason} if c.reason is not None else {})
            for c in changes
        ]
    )


def _changes_of(text: str) -> list[Change]:
    return [
        Change(c["category"], Decimal(c["current"]), Decimal(c["proposed"]), c.get("reason"))
        for c in orjson.loads(text)
    ]


def _proposal(row: Row[Any]) -> ProposalRow:
    return ProposalRow(
        id=str(row.id),
        period=str(row.period),
        state=str(row.state),
        document=orjson.loads(row.document),
        changes=_changes_of(row.changes),
        voting_opens=from_us(row.voting_opens_us),
        voting_closes=from_us(row.voting_closes_us),
        created=from_us(row.created_us),
        closed=None if row.closed_us is None else from_us(row.closed_us),
        result=None if row.result is None else orjson.loads(row.result),
    )


class SqlSignalStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def latest_config(self, *, for_update: bool = False) -> StoredConfig | None:
        statement = select(signal_configs).order_by(signal_configs.c.version.desc()).limit(1)
        if for_update:
            statement = statement.with_for_update()
        row = self._c.execute(statement).first()
        return None if row is None else _config(row)

    def insert_config(self, config: StoredConfig, now: datetime) -> bool:
        return insert_unless_present(
            self._c,
            insert(signal_configs),
            {
                "version": config.version,
                "node": config.node,
                "signals": _signals_text(config.signals),
                "valid_from_us": to_us(config.valid_from),
                "valid_until_us": to_us(config.valid_until),
                "vote_id": config.vote_id,
                "turnout": None if config.turnout is None else str(config.turnout),
                "approval": None if config.approval is None else str(config.approval),
                "published_us": to_us(now),
            },
        )

    def history(self, limit: int) -> list[StoredConfig]:
        statement = select(signal_configs).order_by(signal_configs.c.version.desc()).limit(limit)
        return [_config(row) for row in self._c.execute(statement)]

    def insert_proposal(self, row: ProposalRow) -> None:
        self._c.execute(
            insert(signal_proposals),
            {
                "id": row.id,
                "period": row.period,
                "state": row.state,
                "document": json_text(row.document),
                "changes": _changes_text(row.changes),
                "voting_opens_us": to_us(row.voting_opens),
                "voting_closes_us": to_us(row.voting_closes),
                "created_us": to_us(row.created),
            },
        )

    def proposal(self, proposal_id: str, *, for_update: bool = False) -> ProposalRow | None:
        statement = select(signal_proposals).where(signal_proposals.c.id == proposal_id)
        if for_update:
            statement = statement.with_for_update()
        row = self._c.execute(statement).first()
        return None if row is None else _proposal(row)

    def proposals(self, limit: int, state: str | None = None) -> list[ProposalRow]:
        statement = select(signal_proposals)
        if state is not None:
            statement = statement.where(signal_proposals.c.state == state)
        statement = statement.order_by(
            signal_proposals.c.created_us.desc(), signal_proposals.c.id.desc()
        ).limit(limit)
        return [_proposal(row) for row in self._c.execute(statement)]

    def counting_in_period(self, period: str) -> list[ProposalRow]:
        statement = select(signal_proposals).where(
            signal_proposals.c.period == period,
            signal_proposals.c.state.in_(("open", "passed")),
        )
        return [_proposal(row) for row in self._c.execute(statement)]

    def add_ballot(self, proposal_id: str, voter: str, choice: str, now: datetime) -> bool:
        return insert_unless_present(
            self._c,
            insert(signal_ballots),
            {"proposal_id": proposal_id, "voter": voter, "choice": choice, "cast_us": to_us(now)},
        )

    def choices(self, proposal_id: str) -> list[str]:
        statement = select(signal_ballots.c.choice).where(
            signal_ballots.c.proposal_id == proposal_id
        )
        return [str(choice) for choice in self._c.execute(statement).scalars()]

    def decide(self, proposal_id: str, state: str, result: dict[str, Any], now: datetime) -> bool:
        statement = (
            update(signal_proposals)
            .where(signal_proposals.c.id == proposal_id, signal_proposals.c.state == "open")
            .values(state=state, result=json_text(result), closed_us=to_us(now))
        )
        return self._c.execute(statement).rowcount == 1

    def peer_signals(self, node_id: str) -> tuple[Signals, datetime] | None:
        statement = select(peer_signals).where(peer_signals.c.node_id == node_id)
        row = self._c.execute(statement).first()
        return None if row is None else (_signals_of(row.signals), from_us(row.fetched_us))

    def store_peer_signals(self, node_id: str, signals: Signals, now: datetime) -> None:
        values = {"signals": _signals_text(signals), "fetched_us": to_us(now)}
        changed = self._c.execute(
            update(peer_signals).where(peer_signals.c.node_id == node_id).values(**values)
        ).rowcount
        if not changed:
            insert_unless_present(self._c, insert(peer_signals), {"node_id": node_id, **values})


# -- demand ----------------------------------------------------------------------------------
def _demand(row: Row[Any]) -> DemandRow:
    return DemandRow(
        id=str(row.id),
        node=str(row.node),
        category=str(row.category),
        quantity_value=str(row.quantity_value),
        quantity_unit=str(row.quantity_unit),
        quantity_micro=int(row.quantity_micro),
        max_price_cents=row.max_price_cents,
        lat=row.lat,
        lon=row.lon,
        valid_until=from_us(row.valid_until_us),
        requester=str(row.requester),
        status=str(row.status),
        document=orjson.loads(row.document),
        created=from_us(row.created_us),
        match_id=row.match_id,
    )


class SqlDemandStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: DemandRow) -> None:
        self._c.execute(
            insert(demand),
            {
                "id": row.id,
                "node": row.node,
                "category": row.category,
                "quantity_value": row.quantity_value,
                "quantity_unit": row.quantity_unit,
                "quantity_micro": row.quantity_micro,
                "max_price_cents": row.max_price_cents,
                "lat": row.lat,
                "lon": row.lon,
                "valid_until_us": to_us(row.valid_until),
                "requester": row.requester,
                "status": row.status,
                "match_id": row.match_id,
                "document": json_text(row.document),
                "created_us": to_us(row.created),
            },
        )

    def get(self, demand_id: str) -> DemandRow | None:
        row = self._c.execute(select(demand).where(demand.c.id == demand_id)).first()
        return None if row is None else _demand(row)

    def search(
        self, *, category: str | None, status: str | None, now: datetime | None, limit: int
    ) -> list[DemandRow]:
        statement = select(demand)
        if category is not None:
            if category.endswith("*"):
                statement = statement.where(demand.c.category.startswith(category[:-1]))
            else:
                statement = statement.where(demand.c.category == category)
        if status is not None:
            statement = statement.where(demand.c.status == status)
        if now is not None:
            statement = statement.where(demand.c.valid_until_us > to_us(now))
        statement = statement.order_by(demand.c.created_us, demand.c.id).limit(limit)
        return [_demand(row) for row in self._c.execute(statement)]

    def set_status(
        self, demand_id: str, status: str, *, expected: str, match_id: str | None = None
    ) -> bool:
        statement = (
            update(demand)
            .where(demand.c.id == demand_id, demand.c.status == expected)
            .values(status=status, match_id=match_id)
        )
        return self._c.execute(statement).rowcount == 1


# -- overflow --------------------------------------------------------------------------------
def _overflow(row: Row[Any]) -> OverflowRow:
    return OverflowRow(
        material_id=str(row.material_id),
        state=str(row.state),
        local_until=from_us(row.local_until_us),
        bids_until=None if row.bids_until_us is None else from_us(row.bids_until_us),
        decision=None if row.decision is None else orjson.loads(row.decision),
        updated=from_us(row.updated_us),
    )


class SqlOverflowStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def start(self, material_id: str, local_until: datetime, now: datetime) -> bool:
        return insert_unless_present(
            self._c,
            insert(overflow),
            {
                "material_id": material_id,
                "state": "local",
                "local_until_us": to_us(local_until),
                "updated_us": to_us(now),
            },
        )

    def get(self, material_id: str) -> OverflowRow | None:
        statement = select(overflow).where(overflow.c.material_id == material_id)
        row = self._c.execute(statement).first()
        return None if row is None else _overflow(row)

    def listing(self, state: str | None, limit: int) -> list[OverflowRow]:
        statement = select(overflow).order_by(overflow.c.updated_us, overflow.c.material_id)
        if state is not None:
            statement = statement.where(overflow.c.state == state)
        return [_overflow(row) for row in self._c.execute(statement.limit(limit))]

    def due(self, state: str, now: datetime, limit: int) -> list[OverflowRow]:
        deadline = overflow.c.local_until_us if state == "local" else overflow.c.bids_until_us
        statement = (
            select(overflow)
            .where(overflow.c.state == state, deadline <= to_us(now))
            .order_by(deadline, overflow.c.material_id)
            .limit(limit)
        )
        return [_overflow(row) for row in self._c.execute(statement)]

    def advance(
        self,
        material_id: str,
        *,
        expected: str,
        state: str,
        now: datetime,
        bids_until: datetime | None = None,
        decision: dict[str, Any] | None = None,
    ) -> bool:
        values: dict[str, Any] = {"state": state, "updated_us": to_us(now)}
        if bids_until is not None:
            values["bids_until_us"] = to_us(bids_until)
        if decision is not None:
            values["decision"] = json_text(decision)
        statement = (
            update(overflow)
            .where(overflow.c.material_id == material_id, overflow.c.state == expected)
            .values(**values)
        )
        return self._c.execute(statement).rowcount == 1

    def claim(self, material_id: str, state: str, seen: datetime, now: datetime) -> bool:
        """Take a row as read (same state and version) before acting on it; False if taken."""
        stamp = max(to_us(now), to_us(seen) + 1)
        statement = (
            update(overflow)
            .where(
                overflow.c.material_id == material_id,
                overflow.c.state == state,
                overflow.c.updated_us == to_us(seen),
            )
            .values(updated_us=stamp)
        )
        return self._c.execute(statement).rowcount == 1

    def note_bid(self, material_id: str, demand_id: str, to: str, now: datetime) -> bool:
        return insert_unless_present(
            self._c,
            insert(bids_sent),
            {
                "material_id": material_id,
                "demand_id": demand_id,
                "to_node": to,
                "sent_us": to_us(now),
            },
        )
