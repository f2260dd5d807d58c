"""The regulatory profile findings an Offer, Match or Transfer answer carries (issue 13 item 2).

The rules (`protocol.profiles.trade`) need the passport the trade moves and where the goods go,
which the entity alone does not say: a Match or Transfer may name no passport and a Transfer
may have no route, so both come from the rows the exchange already stored (the subject of the
offer, the match's cities). Read in the writing unit of work, so the answer describes exactly
what was committed; `known` holds the documents the change already has as it leaves them (the
subject passport of a new offer or of a completed transfer, a transfer's match), which are not
read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopnode.protocol.profiles.trade import Route, lint_trade
from loopnode.services.ports import ExchangeRow, UnitOfWork

__all__ = ["trade_findings"]


def trade_findings(
    uow: UnitOfWork, row: ExchangeRow, known: Mapping[str, dict[str, Any]] | None = None
) -> list[dict[str, str]]:
    known = known or {}
    passport = known.get(row.subject_id)
    if passport is None:
        kind = "material" if row.material_id == row.subject_id else "product"
        subject = uow.records.get(kind, row.subject_id)
        passport = None if subject is None else subject.document
    route = _route(uow, row, known)
    return [finding.as_dict() for finding in lint_trade(row.document, passport, route)]


def _route(uow: UnitOfWork, row: ExchangeRow, known: Mapping[str, dict[str, Any]]) -> Route:
    document: dict[str, Any] = row.document
    if row.entity == "transfer":
        route = document.get("route")
        planned = route if isinstance(route, dict) else {}
        agreed = known.get(row.match_id or "")
        if agreed is None:
            match = uow.exchange.get("match", row.match_id) if row.match_id else None
            agreed = {} if match is None else match.document
        return Route(
            _city(planned.get("from_city")) or _city(agreed.get("from_city")),
            _city(planned.get("to_city")) or _city(agreed.get("to_city")),
        )
    return Route(_city(document.get("from_city")), _city(document.get("to_city")))


def _city(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
