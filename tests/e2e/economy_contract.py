"""A stand-in for the LoopCoin (issue 10) and LoopSignal (issue 11) HTTP APIs, by their contract.

Those APIs are built on other branches; the dashboard's economic panels are tested against this
fake so they are known to work before the branches merge. Documents follow the official schemas
(LoopSignalConfig, LoopVote results, LoopCoinConfig) and the issues' response shapes; amounts are
decimal strings. The account decays by 5 % per month after six months (DECISIONS 15 fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Request

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
ACCOUNT = "user:u-4f2a@munich.loop"
RECEIVED = datetime.now(UTC)


def _balance(at: str | None) -> str:
    when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    months = (when.year - RECEIVED.year) * 12 + when.month - RECEIVED.month
    value = Decimal("1000.00")
    for _ in range(max(0, months - 6)):
        value = (value * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    return str(value)


def economy_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    ballots: list[dict[str, Any]] = []

    @router.get("/signals")
    def signals() -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "@type": "LoopSignalConfig",
            "node": "munich.loop",
            "signals": {"plastic-pet": 0.4, "organic-food": 0.2, "default": 0.1},
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2026-12-31T23:59:59Z",
        }

    @router.get("/signals/proposals")
    def proposals() -> dict[str, Any]:
        change = {"category": "plastic-pet", "current": 0.4, "proposed": 0.3}
        return {
            "proposals": [
                {
                    "id": "PROP-1",
                    "changes": [change],
                    "voting_opens": "2026-05-01T00:00:00Z",
                    "voting_closes": "2026-05-15T00:00:00Z",
                    "results": {
                        "total_eligible": 12,
                        "total_voted": 9,
                        "votes_for": 7,
                        "votes_against": 2,
                        "status": "passed",
                    },
                },
                {
                    "id": "PROP-2",
                    "changes": [{**change, "category": "organic-food", "current": 0.2}],
                    "voting_opens": "2026-06-01T00:00:00Z",
                    "voting_closes": "2030-06-15T00:00:00Z",
                    "state": "open",
                },
            ]
        }

    @router.post("/signals/proposals/{proposal_id}/ballots", status_code=201)
    async def ballot(proposal_id: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        ballots.append({"proposal": proposal_id, **body})
        return {"proposal": proposal_id, **body}

    @router.get("/signals/ballots")
    def recorded() -> list[dict[str, Any]]:
        return ballots

    @router.get("/loopcoin/config")
    def config() -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "@type": "LoopCoinConfig",
            "issuer": "munich.loop",
            "currency_code": "MLC",
            "backed_by": "EUR",
            "exchange_rate": 1.0,
            "expiry_months": 6,
            "decay_rate": 0.05,
            "max_issuance": 1000000,
            "current_supply": 25000,
        }

    @router.get("/loopcoin/supply")
    def supply() -> dict[str, str]:
        return {
            "issued": "25000.00",
            "redeemed": "1000.00",
            "circulating": "21500.00",
            "community_fund": "2500.00",
            "reserve": "5000.00",
        }

    @router.get("/loopcoin/accounts/{account_id}")
    def account(account_id: str, at: str | None = None) -> dict[str, Any]:
        if account_id != ACCOUNT:
            raise HTTPException(404)
        return {"id": ACCOUNT, "balance": _balance(at), "lots": []}

    @router.get("/loopcoin/accounts/{account_id}/statement")
    def statement(account_id: str) -> dict[str, Any]:
        return {
            "entries": [
                {"at": "2026-06-01T10:00:00Z", "memo": "issued", "amount": "1000.00"},
            ]
        }

    @router.get("/clearing/rounds")
    def rounds() -> dict[str, Any]:
        return {
            "rounds": [
                {"id": "round-1", "cleared": "300.00", "total": "500.00"},
                {"id": "round-2", "cleared": "120.00", "total": "200.00"},
            ]
        }

    return router
