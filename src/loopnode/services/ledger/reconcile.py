"""Receiving settlements from peers (DECISIONS 13, 28; docs/ledger.md §Settlement).

`POST /api/v1/federate/settlement` (signed by the sending node) takes either
- an InterNodeSettlement (what loopnode emits): `from_node` must be the signing node and
  `to_node` this node; or
- a §7.4 Settlement (either the spec's shape or example 05's, or ours): its parts must sum to
  `final_cost`; `buyer` must be the signing node and `seller` this node.
Both are **reconciled, not rejected**: the node records what the buyer's node owes it as an
open bilateral obligation in its backing currency, once per document id (a re-delivery is
answered the same). Whatever the shape, what the seller's side is owed is the LoopCost minus
the import penalty, which stays in the buyer's community fund: 104 − 12 = 92 in example 05,
whether the document splits it 36/24/32 (§7.4) or 60/24/8 (DECISIONS 13).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from loopnode.domain.errors import Forbidden, InvalidRequest
from loopnode.domain.ledger import CLEARING, TRANSPORT, bounded, system_account
from loopnode.domain.money import Money
from loopnode.domain.times import format_timestamp, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.validation import validate_entity
from loopnode.services.ledger.book import Book, evidence_draft
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.ports import ObligationRow
from loopnode.services.ports import Clock, UnitOfWorkFactory

PARTS = ("seller_receives", "seller_community_fund", "buyer_community_fund", "transport_cost")


def _money(value: Any) -> Money:
    if isinstance(value, float):
        value = Decimal(repr(value))
    amount = Money.parse(value if value is not None else 0)
    bounded(amount.cents, "amount")
    return amount


def _rate(value: Any) -> Decimal:
    rate = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not rate.is_finite() or rate < 0:
        raise InvalidRequest("exchange_rate must be a non-negative number", {})
    return rate


class SettlementInbox:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, config: LedgerConfig) -> None:
        self._uow = uow
        self._clock = clock
        self._config = config

    def receive(self, caller: str, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("@type")
        if kind == "InterNodeSettlement":
            debtor, owed = self._inter_node(caller, payload)
        elif kind == "Settlement":
            debtor, owed = self._settlement(caller, payload)
        else:
            raise InvalidRequest("send an InterNodeSettlement or a Settlement", {"@type": kind})
        given = payload.get("id") or payload.get("transaction_id")
        if not isinstance(given, str):
            given = sha256_hex(payload)
        # The debtor's own id for it (`<debtor>:<transaction>`), so both sides share one id.
        obligation_id = given if given.startswith(f"{caller}:") else f"{caller}:{given}"
        now = self._clock.now()
        row = ObligationRow(
            obligation_id[:160],
            debtor,
            self._config.node_id,
            owed.cents,
            self._config.backed_by,
            "received",
            "open",
            payload,
            to_us(now),
        )
        payout: dict[str, Any] | None = None
        with self._uow(write=True) as uow:
            new = uow.ledger.add_obligation(row)
            if new and kind == "InterNodeSettlement":
                payout = self._pay_out(uow, row.id, payload, now, caller)
        return {
            "payout": payout,
            "status": "accepted",
            "obligation_id": row.id,
            "debtor": debtor,
            "creditor": row.creditor,
            "amount": str(owed),
            "currency": row.currency,
            "new": new,
            "received_at": format_timestamp(now),
        }

    def _inter_node(self, caller: str, payload: dict[str, Any]) -> tuple[str, Money]:
        validate_entity(payload, "InterNodeSettlement")
        self._parties(caller, payload["from_node"], payload["to_node"], "from_node", "to_node")
        owed = Money.zero()
        for leg in payload["transfers"]:
            fees = leg.get("fees") or {}
            seller_side = _money(leg["amount"]) - _money(fees.get("import_penalty"))
            if seller_side.is_negative():
                raise InvalidRequest("a transfer's import_penalty exceeds its amount", {})
            owed = owed + seller_side.times(_rate(leg.get("exchange_rate", 1)))
        bounded(owed.cents, "amount")
        return payload["from_node"], owed

    def _pay_out(
        self, uow: Any, obligation_id: str, payload: dict[str, Any], now: datetime, caller: str
    ) -> dict[str, Any]:
        """Pay the seller's side in this node's currency out of its clearing account.

        Each leg's `amount − import − export − distance` goes to the leg's `to` account (when
        it is an account of this node; else it stays in the clearing account), the export
        penalty to this node's community fund (the origin fund), the distance cost to its
        transport account; each converted from the sender's currency through the backing
        currency (`× sender rate ÷ our rate`, rounded down). The clearing account must hold the
        total, pre-funded by the operator (`/loopcoin/issue` to `node:clearing@<node>`), which
        the obligation then reimburses; otherwise the payout waits (`pending`).
        """
        node = self._config.node_id
        if self._config.exchange_rate <= 0:
            return {"status": "pending", "reason": "this node's exchange_rate is 0"}
        clearing = system_account(CLEARING, node)
        transport = system_account(TRANSPORT, node)
        legs: list[tuple[str, Money]] = []
        for leg in payload["transfers"]:
            fees = leg.get("fees") or {}
            factor = _rate(leg.get("exchange_rate", 1)) / self._config.exchange_rate
            export = _money(fees.get("export_penalty"))
            distance = _money(fees.get("distance_cost"))
            base = _money(leg["amount"]) - _money(fees.get("import_penalty")) - export - distance
            if base.is_negative():
                continue
            target = leg.get("to")
            local = isinstance(target, str) and target.endswith(f"@{node}")
            if not local or uow.ledger.account(target) is None:
                target = clearing
            for account, amount in (
                (target, base),
                (self._config.fund, export),
                (transport, distance),
            ):
                legs.append((account, amount.times(factor, ROUND_DOWN)))
        total = sum(amount.cents for _, amount in legs)
        book = Book(uow.ledger, self._config, now, [clearing, *(a for a, _ in legs)])
        if book.balance(clearing) < total:
            return {"status": "pending", "reason": "the clearing account holds less"}
        for account, amount in legs:
            if amount.cents and account != clearing:
                book.move(clearing, account, amount.cents)
        entry_id = f"payout-{obligation_id}"[:160]
        document = {
            "kind": "settlement payout",
            "obligation_id": obligation_id,
            "paid": {account: str(amount) for account, amount in legs},
            "currency": self._config.currency_code,
        }
        for entry in book.commit(entry_id, "settlement", entry_id, document):
            uow.evidence.append(evidence_draft(entry, caller), now)
        return {"status": "paid", "amount": str(Money(total)), "entry": entry_id}

    def _settlement(self, caller: str, payload: dict[str, Any]) -> tuple[str, Money]:
        validate_entity(payload, "Settlement")
        self._parties(caller, payload["buyer"], payload["seller"], "buyer", "seller")
        parts = payload["distribution"]
        final = _money(payload["final_cost"])
        if sum((_money(parts.get(p)) for p in PARTS), Money.zero()) != final:
            raise InvalidRequest(
                "the distribution does not add up to final_cost (DECISIONS 13)",
                {"final_cost": str(final)},
            )
        return payload["buyer"], final - _money(parts.get("buyer_community_fund"))

    def _parties(self, caller: str, debtor: str, creditor: str, d: str, c: str) -> None:
        if creditor != self._config.node_id:
            raise InvalidRequest(f"{c} must be this node", {c: creditor})
        if debtor != caller:
            raise Forbidden(f"{d} must be the node that signed the request", {d: debtor})

    def obligations(self) -> list[dict[str, Any]]:
        with self._uow() as uow:
            rows = uow.ledger.obligations()
        return [
            {
                "id": r.id,
                "debtor": r.debtor,
                "creditor": r.creditor,
                "amount": str(Money(r.amount_cents)),
                "currency": r.currency,
                "origin": r.origin,
                "status": r.status,
            }
            for r in rows
        ]
