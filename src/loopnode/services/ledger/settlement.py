"""Settlement of confirmed transactions in LoopCoin (DECISIONS 13, 14, 28; docs/ledger.md).

When a MaterialTransaction that names a `buyer_account` (extension field) is confirmed on this
node, the buyer's account pays the quoted LoopCost (`offer.loop_cost`, split by
`offer.breakdown`) in the same database transaction as the status change:
- a local trade (seller = buyer = this node): base price to `seller_account` (else this node's
  clearing account), export and import penalties to the community fund, distance cost to the
  transport account;
- a cross-node trade where this node is the buyer's: the import penalty to this node's
  community fund (the destination fund), and base + export + distance to this node's clearing
  account, which now owes them to the seller's node. That debt is recorded as a bilateral
  obligation in the backing currency (amount × this node's `exchange_rate`), written out as an
  InterNodeSettlement signed by this node and queued for the seller's node on the federation
  outbox (`deliver` below: the one place to re-point when the outboxes are unified);
- on the seller's node nothing is paid at confirmation: the buyer's node collects.
The emitted Settlement's distribution always sums to `final_cost` (= loop_cost).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.domain.ledger import CLEARING, TRANSPORT, bounded, system_account
from loopnode.domain.money import Money
from loopnode.domain.times import format_timestamp, to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import canonical_bytes
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.services.federation.outbox import dumps, enqueue
from loopnode.services.ledger.book import Book, evidence_draft
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.ports import ObligationRow
from loopnode.services.ledger.service import plain
from loopnode.services.ports import TransactionRow

SETTLEMENT_PATH = "/federate/settlement"
SigningKey = Callable[[], tuple[Ed25519PrivateKey, str]]


def offer_parts(offer: dict[str, Any]) -> tuple[Money, Money, Money, Money, Money]:
    """base, export, import, distance and loop_cost of a MaterialTransaction's offer, exact."""

    def money(value: Any, name: str) -> Money:
        if isinstance(value, float):
            value = Decimal(repr(value))
        amount = Money.parse(value if value is not None else 0)
        bounded(amount.cents, name)
        return amount

    breakdown = offer.get("breakdown") or {}
    base = money(offer.get("base_price"), "base_price")
    export = money(breakdown.get("export_penalty"), "export_penalty")
    import_ = money(breakdown.get("import_penalty"), "import_penalty")
    distance = money(breakdown.get("distance_cost"), "distance_cost")
    loop_cost = money(offer.get("loop_cost"), "loop_cost")
    if (base + export + import_ + distance) != loop_cost:
        raise Conflict(
            "the offer's base_price and breakdown do not add up to loop_cost, so it cannot be "
            "settled in LoopCoin (DECISIONS 13)",
            {"loop_cost": str(loop_cost), "parts": str(base + export + import_ + distance)},
        )
    return base, export, import_, distance, loop_cost


class Settler:
    def __init__(self, config: LedgerConfig, signing_key: SigningKey | None = None) -> None:
        self.config = config
        self._signing_key = signing_key

    def on_confirmed(
        self, uow: Any, row: TransactionRow, now: datetime, actor: str
    ) -> dict[str, Any] | None:
        """Pay for `row` (just confirmed); answers the emitted Settlement, or None."""
        document = row.document
        payer = document.get("buyer_account")
        node = self.config.node_id
        if payer is None or row.buyer != node or row.settlement is not None:
            return None
        base, export, import_, distance, loop_cost = offer_parts(document["offer"])
        payer = self._local(payer, "buyer_account")
        clearing = system_account(CLEARING, node)
        transport = system_account(TRANSPORT, node)
        if row.seller == node:
            seller = self._local(document.get("seller_account") or clearing, "seller_account")
            legs = [(seller, base), (self.config.fund, export + import_), (transport, distance)]
        else:
            legs = [(self.config.fund, import_), (clearing, base + export + distance)]
        entry_id = f"settlement-{row.id}"
        book = Book(uow.ledger, self.config, now, [payer, *(account for account, _ in legs)])
        for account, amount in legs:
            if amount.cents and account != payer:
                book.move(payer, account, amount.cents)
        settlement = {
            "@context": CONTEXT_V020,
            "@type": "Settlement",
            "schema_version": "0.2.0",
            "transaction_id": row.id,
            "material": row.material_id,
            "seller": row.seller,
            "buyer": row.buyer,
            "final_cost": plain(loop_cost.to_decimal()),
            "distribution": {
                "seller_receives": plain(base.to_decimal()),
                "seller_community_fund": plain(export.to_decimal()),
                "buyer_community_fund": plain(import_.to_decimal()),
                "transport_cost": plain(distance.to_decimal()),
            },
            "settled_at": format_timestamp(now),
            "confirmation": {"payment_completed": True},
            "currency": self.config.currency_code,
            "ledger_entry": entry_id,
        }
        request_hash = entry_id
        for entry in book.commit(entry_id, "settlement", request_hash, settlement):
            uow.evidence.append(evidence_draft(entry, actor), now)
        if row.seller != node:
            self._owe(uow, row, payer, (base, export, import_, distance, loop_cost), now)
        return settlement

    def _owe(
        self,
        uow: Any,
        row: TransactionRow,
        payer: str,
        parts: tuple[Money, Money, Money, Money, Money],
        now: datetime,
    ) -> None:
        base, export, _import, distance, _cost = parts
        owed = base + export + distance
        backing = owed.times(self.config.exchange_rate)
        obligation_id = f"{self.config.node_id}:{row.id}"
        document = self.inter_node_settlement(row, payer, parts, obligation_id, backing, now)
        uow.ledger.add_obligation(
            ObligationRow(
                obligation_id,
                self.config.node_id,
                row.seller,
                backing.cents,
                self.config.backed_by,
                "created",
                "open",
                document,
                to_us(now),
            )
        )
        deliver(uow, row.seller, document, obligation_id, to_us(now))

    def inter_node_settlement(
        self,
        row: TransactionRow,
        payer: str,
        parts: tuple[Money, Money, Money, Money, Money],
        obligation_id: str,
        backing: Money,
        now: datetime,
    ) -> dict[str, Any]:
        """DECISIONS 28: `amount` is what the buyer paid (LoopCost) in `from_currency`."""
        _base, export, import_, distance, loop_cost = parts
        seller_account = row.document.get("seller_account") or f"node:clearing@{row.seller}"
        document: dict[str, Any] = {
            "@context": CONTEXT_V020,
            "@type": "InterNodeSettlement",
            "schema_version": "0.2.0",
            "id": obligation_id,
            "transaction_id": row.id,
            "from_node": self.config.node_id,
            "to_node": row.seller,
            "transfers": [
                {
                    "from": payer,
                    "to": seller_account,
                    "amount": plain(loop_cost.to_decimal()),
                    "from_currency": self.config.currency_code,
                    "to_currency": row.document.get("seller_currency", self.config.currency_code),
                    "exchange_rate": plain(self.config.exchange_rate),
                    "fees": {
                        "export_penalty": plain(export.to_decimal()),
                        "import_penalty": plain(import_.to_decimal()),
                        "distance_cost": plain(distance.to_decimal()),
                    },
                }
            ],
            "settlement_method": "clearing",
            "settlement_period": "daily",
            "obligation": {
                "debtor": self.config.node_id,
                "creditor": row.seller,
                "amount": str(backing),
                "currency": self.config.backed_by,
            },
            "created_at": format_timestamp(now),
        }
        return self.sign(document)

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        """Detached Ed25519 over the RFC 8785 form of the document without `signature`."""
        if self._signing_key is None:
            return document
        key, key_id = self._signing_key()
        unsigned = {k: v for k, v in document.items() if k != "signature"}
        return {
            **unsigned,
            "signature": {
                "alg": "Ed25519",
                "key_id": key_id,
                "value": keys.sign(key, canonical_bytes(unsigned)),
            },
        }

    def _local(self, account: object, field: str) -> str:
        text = account if isinstance(account, str) else ""
        if not text.endswith(f"@{self.config.node_id}"):
            raise InvalidRequest(
                f"{field} must be a LoopCoin account of this node", {field: str(account)}
            )
        return text


def deliver(uow: Any, peer_id: str, document: dict[str, Any], key: str, now_us: int) -> None:
    """Queue the signed InterNodeSettlement for the peer (the existing federation outbox)."""
    enqueue(
        uow,
        [peer_id],
        kind="settlement",
        path=SETTLEMENT_PATH,
        body=dumps(document),
        dedupe_key=key,
        now_us=now_us,
    )
