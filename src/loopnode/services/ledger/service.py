"""LoopCoin use cases (issue 10; docs/ledger.md): accounts, issuance, redemption, transfers,
balances, statements and supply, each one database transaction over the ledger store.

Amounts arrive as exact decimals (the web layer parses JSON numbers as `Decimal`) and are
held as integer cents (`Money`). Transfers are idempotent by their `id`: the same body again
answers the stored transfer (200), another body under the same id is 409. A concurrent retry
that loses the race on the entry's primary key is answered the same way.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loopnode.domain.decay import expiry
from loopnode.domain.errors import Conflict, InvalidRequest, NotFound
from loopnode.domain.ledger import (
    AccountId,
    Holding,
    bounded,
    check_issue,
    decayed,
    local_bonus,
    reserve_release,
)
from loopnode.domain.money import Money
from loopnode.domain.privacy import find_personal_data
from loopnode.domain.times import format_timestamp, from_us, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.validation import validate_entity
from loopnode.services.access.apikeys import Principal
from loopnode.services.access.ownership import ensure_holder
from loopnode.services.ledger.book import Book, evidence_draft
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.ports import (
    DuplicateEntry,
    EntryRow,
    Totals,
)
from loopnode.services.ledger.reconcile import SettlementInbox
from loopnode.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from loopnode.services.ledger.clearing_round import ClearingRounds
    from loopnode.services.ledger.settlement import Settler

__all__ = ["LedgerService", "plain"]

Answer = tuple[int, dict[str, Any]]
ACCOUNT_KINDS = {"user": "u", "business": "b"}
STATEMENT_MAX = 500


def plain(value: Any) -> Any:
    """A JSON value with exact decimals turned into JSON numbers (for schemas and hashes)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class LedgerService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        config: LedgerConfig,
        *,
        new_id: Callable[[], str] | None = None,
        token: Callable[[], str] | None = None,
        settler: Settler | None = None,
        rounds: ClearingRounds | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.config = config
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._token = token or (lambda: secrets.token_hex(6))
        self.inbox = SettlementInbox(uow, clock, config)
        # Built by bootstrap.py (they need the node's signing key).
        self._settler = settler
        self._rounds = rounds

    @property
    def settler(self) -> Settler:
        if self._settler is None:
            raise LookupError("this ledger was built without settlement (wiring.py builds it)")
        return self._settler

    @property
    def rounds(self) -> ClearingRounds:
        if self._rounds is None:
            raise LookupError("this ledger was built without clearing rounds (see wiring.py)")
        return self._rounds

    # --- reads -----------------------------------------------------------------------------

    def loopcoin_config(self) -> dict[str, Any]:
        with self._uow() as uow:
            totals = uow.ledger.totals()
        return self.config.as_wire(totals.supply_cents)

    def supply(self, at: datetime | None = None) -> dict[str, Any]:
        moment = self._moment(at)
        with self._uow() as uow:
            totals = uow.ledger.totals()
            balances = self._projected(uow, moment)
        fund = balances.pop(self.config.fund, 0)
        return {
            "currency": self.config.currency_code,
            "at": format_timestamp(moment),
            "issued": str(Money(totals.issued_cents)),
            "redeemed": str(Money(totals.redeemed_cents)),
            "circulating": str(Money(sum(balances.values()))),
            "community_fund": str(Money(fund)),
            "reserve": str(Money(totals.reserve_cents)),
            "reserve_currency": self.config.backed_by,
        }

    def supply_cents(self) -> int:
        with self._uow() as uow:
            return uow.ledger.totals().supply_cents

    def account(self, account_id: str, at: datetime | None = None) -> dict[str, Any]:
        moment = self._moment(at)
        with self._uow() as uow:
            row = uow.ledger.account(account_id)
            if row is None:
                raise _missing(account_id)
            holding = Holding(account_id, tuple(uow.ledger.lots(account_id)), row.kind != "node")
            balance = self._projected(uow, moment)[account_id] if row.kind == "node" else None
        holding, _ = decayed(holding, moment, self.config.policy)
        policy = self.config.policy
        lots = [
            {
                "received_at": format_timestamp(lot.received),
                "amount": str(Money(lot.cents)),
                **(
                    {
                        "face_value_until": format_timestamp(expiry(lot.received, policy)),
                        "decay_steps": lot.steps,
                    }
                    if holding.decays
                    else {}
                ),
            }
            for lot in holding.lots
            if lot.cents > 0
        ]
        total = holding.balance if balance is None else balance
        return {
            "id": account_id,
            "kind": row.kind,
            "currency": self.config.currency_code,
            "at": format_timestamp(moment),
            "balance": str(Money(total)),
            "lots": lots,
        }

    def transfer_record(self, transfer_id: str) -> dict[str, Any]:
        """The stored LoopCoinTransfer with this id (404 for any other entry)."""
        with self._uow() as uow:
            stored = uow.ledger.entry(transfer_id.lower())
        if stored is None or stored.kind != "transfer":
            raise NotFound(f"no transfer {transfer_id} on this node", {"searched_id": transfer_id})
        return stored.document

    def statement(self, account_id: str, after: int = 0, limit: int = 100) -> dict[str, Any]:
        if not 1 <= limit <= STATEMENT_MAX or after < 0:
            raise InvalidRequest(f"limit must be 1..{STATEMENT_MAX} and after ≥ 0", {})
        with self._uow() as uow:
            row = uow.ledger.account(account_id)
            if row is None:
                raise _missing(account_id)
            postings = uow.ledger.statement(account_id, after, limit + 1)
        page = postings[:limit]
        return {
            "id": account_id,
            "balance": str(Money(row.balance_cents)),
            "entries": [
                {
                    "entry_id": p.entry_id,
                    "kind": p.kind,
                    "amount": str(Money(p.cents)),
                    "at": format_timestamp(from_us(p.created_us)),
                    "sequence": p.posting_id,
                }
                for p in page
            ],
            "next_after": page[-1].posting_id if len(postings) > limit else None,
        }

    # --- writes ----------------------------------------------------------------------------

    def open_account(self, body: dict[str, Any], holder: str | None = None) -> dict[str, Any]:
        """A new pseudonymous account `user:u-<random>@<node>` (DECISIONS 5), held by `holder`
        (the opening credential's pseudonymous subject; never answered, never a name)."""
        issues = find_personal_data(body)
        if issues:
            raise InvalidRequest(
                "accounts are pseudonymous: send no personal data", {"issues": len(issues)}
            )
        extra = sorted(set(body) - {"kind"})
        kind = body.get("kind")
        if kind not in ACCOUNT_KINDS or extra:
            raise InvalidRequest(
                'send {"kind": "user"} or {"kind": "business"} and nothing else',
                {"kind": kind, "unexpected": extra},
            )
        now = self._clock.now()
        for _ in range(5):
            account_id = f"{kind}:{ACCOUNT_KINDS[kind]}-{self._token()}@{self.config.node_id}"
            with self._uow(write=True) as uow:
                if uow.ledger.create_account(account_id, kind, to_us(now), holder):
                    return {
                        "id": account_id,
                        "kind": kind,
                        "currency": self.config.currency_code,
                        "balance": "0.00",
                        "created_at": format_timestamp(now),
                    }
        raise Conflict("could not mint a fresh account id; try again", {})

    def issue(self, body: dict[str, Any], actor: str) -> Answer:
        """DECISIONS 16: mint `amount` to `to` against `reserve_deposit` of backing currency."""
        _closed(body, {"id", "to", "amount", "reserve_deposit"}, {"to", "amount"})
        target = self._local(body["to"], "to")
        amount = _positive(body["amount"], "amount")
        deposit = Money.parse(body.get("reserve_deposit", 0))
        bounded(deposit.cents, "reserve_deposit")
        if deposit.is_negative():
            raise InvalidRequest("reserve_deposit must not be negative", {})
        entry_id, request_hash = self._entry_id(body), sha256_hex(plain(body))

        def change(uow: UnitOfWork, now: datetime) -> Answer:
            totals = uow.ledger.totals(lock=True)
            reserve = totals.reserve_cents + deposit.cents
            check_issue(self.config.issuance, totals.supply_cents, amount.cents, reserve)
            book = Book(uow.ledger, self.config, now, [target])
            book.mint(target, amount.cents)
            after = Totals(totals.issued_cents + amount.cents, totals.redeemed_cents, reserve)
            uow.ledger.set_totals(after)
            document = {
                "id": entry_id,
                "kind": "issue",
                "to": target,
                "amount": str(amount),
                "reserve_deposit": str(deposit),
                "currency": self.config.currency_code,
                "supply": str(Money(after.supply_cents)),
                "posted_at": format_timestamp(now),
            }
            self._commit(uow, book, entry_id, "issue", request_hash, document, actor)
            return 201, document

        return self._write(entry_id, "issue", request_hash, change)

    def redeem(self, body: dict[str, Any], actor: str) -> Answer:
        """DECISIONS 16: burn `amount` from `from` and release reserve at `exchange_rate`."""
        _closed(body, {"id", "from", "amount"}, {"from", "amount"})
        source = self._local(body["from"], "from")
        amount = _positive(body["amount"], "amount")
        entry_id, request_hash = self._entry_id(body), sha256_hex(plain(body))

        def change(uow: UnitOfWork, now: datetime) -> Answer:
            totals = uow.ledger.totals(lock=True)
            book = Book(uow.ledger, self.config, now, [source])
            book.burn(source, amount.cents)
            released = reserve_release(
                amount.cents, self.config.exchange_rate, totals.reserve_cents
            )
            after = Totals(
                totals.issued_cents,
                totals.redeemed_cents + amount.cents,
                totals.reserve_cents - released,
            )
            uow.ledger.set_totals(after)
            document = {
                "id": entry_id,
                "kind": "redeem",
                "from": source,
                "amount": str(amount),
                "reserve_released": str(Money(released)),
                "currency": self.config.currency_code,
                "supply": str(Money(after.supply_cents)),
                "posted_at": format_timestamp(now),
            }
            self._commit(uow, book, entry_id, "redeem", request_hash, document, actor)
            return 201, document

        return self._write(entry_id, "redeem", request_hash, change)

    def transfer(
        self, payload: dict[str, Any], actor: str, payer: Principal | None = None
    ) -> Answer:
        """A LoopCoinTransfer between two accounts of this node, local bonus included.

        `payer` is the calling principal (the web route always passes it): only the paying
        account's holder, or an operator, may pay from it (403 otherwise, nothing posted).
        None is an in-process caller the node trusts (demo, benchmarks)."""
        wire = plain(payload)
        validate_entity(wire, "LoopCoinTransfer")
        amount = _positive(payload["amount"], "amount")
        if payload["currency"] != self.config.currency_code:
            raise InvalidRequest(
                f"this node's currency is {self.config.currency_code}",
                {"currency": payload["currency"]},
            )
        source = self._local(payload["from"], "from")
        target = self._local(payload["to"], "to")
        if source == target:
            raise InvalidRequest("from and to are the same account", {"account": source})
        entry_id, request_hash = str(payload["id"]).lower(), sha256_hex(wire)

        def change(uow: UnitOfWork, now: datetime) -> Answer:
            book = Book(uow.ledger, self.config, now, [source, target])
            if payer is not None:
                # The Book has locked the paying account: its holder cannot change under us.
                paying = uow.ledger.account(source)
                ensure_holder(payer, paying.holder if paying is not None else None)
            book.move(source, target, amount.cents)
            bonus = 0
            if self.config.fund not in (source, target):
                bonus = local_bonus(amount.cents, self.config.local_bonus, book.balance(book.fund))
                if bonus:
                    book.move(book.fund, source, bonus)
            document = {
                **wire,
                "status": "completed",
                "local_bonus": str(Money(bonus)),
                "posted_at": format_timestamp(now),
            }
            self._commit(uow, book, entry_id, "transfer", request_hash, document, actor)
            return 201, document

        return self._write(entry_id, "transfer", request_hash, change)

    # --- helpers ---------------------------------------------------------------------------

    def _write(
        self,
        entry_id: str,
        kind: str,
        request_hash: str,
        change: Callable[[UnitOfWork, datetime], Answer],
    ) -> Answer:
        now = self._clock.now()
        try:
            with self._uow(write=True) as uow:
                stored = uow.ledger.entry(entry_id)
                if stored is not None:
                    return _replay(stored, kind, request_hash)
                return change(uow, now)
        except DuplicateEntry:
            with self._uow() as uow:
                stored = uow.ledger.entry(entry_id)
            if stored is None:
                raise
            return _replay(stored, kind, request_hash)

    def _commit(
        self,
        uow: UnitOfWork,
        book: Book,
        entry_id: str,
        kind: str,
        request_hash: str,
        document: dict[str, Any],
        actor: str,
    ) -> None:
        for entry in book.commit(entry_id, kind, request_hash, document):
            uow.evidence.append(evidence_draft(entry, actor), book.now)

    def _projected(self, uow: UnitOfWork, moment: datetime) -> dict[str, int]:
        """Every account's balance at `moment` if nothing else happens; residues to the fund."""
        lots = uow.ledger.all_lots()
        balances: dict[str, int] = {}
        residues = 0
        for row in uow.ledger.accounts():
            holding = Holding(row.id, tuple(lots.get(row.id, ())), row.kind != "node")
            holding, residue = decayed(holding, moment, self.config.policy)
            balances[row.id] = holding.balance
            residues += residue
        balances[self.config.fund] = balances.get(self.config.fund, 0) + residues
        return balances

    def _moment(self, at: datetime | None) -> datetime:
        now = self._clock.now()
        if at is None:
            return now
        if at < now:
            raise InvalidRequest(
                "at projects the future: it must not be in the past", {"at": format_timestamp(at)}
            )
        return at

    def _local(self, account: object, field: str) -> str:
        parsed = AccountId.parse(account if isinstance(account, str) else "")
        if parsed.node != self.config.node_id:
            raise InvalidRequest(
                f"{field} must be an account of this node ({self.config.node_id})",
                {field: str(account)},
            )
        return str(parsed)

    def _entry_id(self, body: dict[str, Any]) -> str:
        """The caller's uuid (for idempotent retries), else a fresh one."""
        given = body.get("id")
        if given is None:
            return self._new_id()
        try:
            return str(uuid.UUID(given)) if isinstance(given, str) else _bad_id()
        except ValueError:
            return _bad_id()


def _replay(stored: EntryRow, kind: str, request_hash: str) -> Answer:
    if stored.kind != kind or stored.request_hash != request_hash:
        raise Conflict(
            f"id {stored.id} is already used by another {stored.kind}", {"id": stored.id}
        )
    return 200, stored.document


def _bad_id() -> str:
    raise InvalidRequest("id must be a uuid", {})


def _positive(value: object, field: str) -> Money:
    amount = Money.parse(value)
    bounded(amount.cents, field)
    if amount.cents <= 0:
        raise InvalidRequest(f"{field} must be at least 0.01", {field: str(value)})
    return amount


def _closed(body: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unexpected = sorted(set(body) - allowed)
    absent = sorted(required - set(body))
    if unexpected or absent:
        raise InvalidRequest(
            f"the body takes {', '.join(sorted(allowed))}",
            {"unexpected": unexpected, "missing": absent},
        )


def _missing(account_id: str) -> NotFound:
    return NotFound(f"no account {account_id} on this node", {"searched_id": account_id})
