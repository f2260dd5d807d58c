"""Whose records are whose (issue 15 item 2): a registrar changes only its own organisation's
records, and a LoopCoin account is paid from only by its holder.

The organisation comes from the principal's `organisation` claim and is recorded, in the same
transaction as the registration, in `record_organisations`; operators act for everyone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loopnode.domain.errors import Forbidden, InvalidRequest
from loopnode.services.access.apikeys import Principal
from loopnode.services.ledger.ports import AccountRow
from loopnode.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from loopnode.services.results import Change, Created


def ensure_organisation(principal: Principal, record_organisation: str | None) -> None:
    """A registrar changes only its own organisation's records (operators change any)."""
    if principal.has("operator"):
        return
    if principal.organisation is None or principal.organisation != record_organisation:
        raise Forbidden("a registrar may change only its own organisation's records")


def ensure_holder(principal: Principal, account_holder: str | None) -> None:
    """A LoopCoin account is paid from only by its holder (operators may act for any account).

    For the ledger to call before a debit: `account_holder` is the `Principal.subject` recorded
    when the account was opened."""
    if principal.has("operator"):
        return
    if account_holder is None or principal.subject != account_holder:
        raise Forbidden("only the account's holder may pay from it")


def ensure_account_holder(
    principal: Principal | None, account: AccountRow | None, field: str, account_id: str
) -> None:
    """`account_id`, named in a body's `field` (a ballot's voter, a listing's requester), is an
    existing LoopCoin account of this node (400 otherwise) held by the caller (403 otherwise;
    operators act for any account). `principal` None is an in-process caller the node trusts."""
    if account is None:
        raise InvalidRequest(
            f"/{field} must be an existing LoopCoin account of this node: open one with "
            "POST /api/v1/loopcoin/accounts",
            {field: account_id},
        )
    if principal is not None:
        ensure_holder(principal, account.holder)


class OwnershipService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def owned(self, change: Change[Created], kind: str, principal: Principal) -> Change[Created]:
        """`change` (a registration) that also records the registrant's organisation."""

        def recorded(uow: UnitOfWork, now: datetime) -> Created:
            created = change(uow, now)
            if principal.organisation is not None:
                uow.organisations.set(kind, str(created.document["id"]), principal.organisation)
            return created

        return recorded

    def register(self, change: Change[Created]) -> Created:
        """Run a registration from `owned` in a transaction of its own."""
        with self._uow(write=True) as uow:
            return change(uow, self._clock.now())

    def check(self, principal: Principal, kind: str, record_id: Any) -> None:
        """Refuse a registrar's change to a record of another organisation (or of none)."""
        if not bound(principal):
            return
        with self._uow() as uow:
            owner = uow.organisations.get(kind, str(record_id)) if record_id else None
        ensure_organisation(principal, owner)

    def check_subject(self, principal: Principal, body: dict[str, Any]) -> None:
        """A new offer, match, transfer or transaction acts on the passport its body names."""
        if not bound(principal):
            return
        material = body.get("material_id") or body.get("material")
        about = body.get("transaction_id")
        if material is None and body.get("product_id") is None and isinstance(about, str):
            self.check_transaction(principal, about)  # a TransactionStatus names no material
        elif material is not None or body.get("product_id") is None:
            self.check(principal, "material", material)
        else:
            self.check(principal, "product", body.get("product_id"))

    def check_exchange(self, principal: Principal, entity: str, entity_id: str) -> None:
        """A status change of an offer, match or transfer acts on its offer's passport."""
        if not bound(principal):
            return
        with self._uow() as uow:
            row = uow.exchange.get(entity, entity_id)
            if row is None:
                return  # the transition answers 404
            kind = "material" if row.material_id is not None else "product"
            owner = uow.organisations.get(kind, row.subject_id)
        ensure_organisation(principal, owner)

    def check_transaction(self, principal: Principal, transaction_id: str) -> None:
        """A transaction's status change acts on the material it is about."""
        if not bound(principal):
            return
        with self._uow() as uow:
            row = uow.transactions.get(transaction_id)
            if row is None:
                return  # the transition answers 404
            owner = uow.organisations.get("material", row.material_id)
        ensure_organisation(principal, owner)


def bound(principal: Principal) -> bool:
    """Is `principal` held to its organisation? Registrar credentials are; traders trade any
    passport, and operators act for everyone. A credential carrying both the registrar and the
    trader role is held to its organisation on the trading routes too."""
    return principal.has("registrar") and not principal.has("operator")
