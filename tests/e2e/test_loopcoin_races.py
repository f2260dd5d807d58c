"""LoopCoin transfers under real concurrency (issue 10): a node process with two workers, on
SQLite and PostgreSQL. 40 simultaneous transfers of 9.00 from 90.00 give exactly 10 successes
and 30 clean 409s; 20 simultaneous copies of one transfer post it once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loopnode.protocol.jsonld import CONTEXT_V020
from tests.conftest import create_postgres_database
from tests.e2e.test_lifecycle_races import INIT, LOOPNODE, _wait_until_up, free_port, run

pytestmark = pytest.mark.slow


class Ledger:
    def __init__(self, base: str, key: str, data_dir: str = "") -> None:
        self.api = f"{base}/api/v1/loopcoin"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.data_dir = data_dir

    def trader(self, subject: str) -> dict[str, str]:
        """A trader's bearer token from `loopnode token issue`."""
        issued = run(
            "token", "issue", "--data-dir", self.data_dir, "--role", "trader", "--subject", subject
        )
        return {"Authorization": f"Bearer {issued.strip().splitlines()[-1]}"}

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        answer = httpx.post(f"{self.api}/{path}", json=body, headers=headers or self.headers)
        assert answer.status_code == 201, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def balance(self, account: str) -> str:
        answer = httpx.get(f"{self.api}/accounts/{account}", headers=self.headers)
        return str(answer.json()["balance"])

    def race(
        self, bodies: list[dict[str, Any]], headers: list[dict[str, str]] | None = None
    ) -> Counter[int]:
        callers = headers or [self.headers] * len(bodies)

        async def all_at_once() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(bodies))
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(
                        client.post(f"{self.api}/transfer", json=b, headers=h)
                        for b, h in zip(bodies, callers, strict=True)
                    )
                )

        responses = asyncio.run(all_at_once())
        for response in responses:
            if response.status_code in (403, 409):
                code = response.json()["error"]["code"]
                assert code == ("CONFLICT" if response.status_code == 409 else "FORBIDDEN")
        return Counter(r.status_code for r in responses)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def ledger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ledger]:
    data_dir = tmp_path_factory.mktemp(f"loopcoin-{request.param}")
    drop = None
    extra: list[str] = []
    if request.param == "postgres":
        url, drop = create_postgres_database()
        extra = ["--database-url", url]
    run("init", "--data-dir", str(data_dir), *INIT, *extra)
    key = run("apikey", "create", "--data-dir", str(data_dir), "races").strip().splitlines()[-1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    process = subprocess.Popen(
        [*LOOPNODE, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        yield Ledger(base, key, str(data_dir))
    finally:
        process.terminate()
        process.wait(timeout=30)
        if drop is not None:
            drop()


def transfer(source: str, target: str, amount: float, transfer_id: str) -> dict[str, Any]:
    return {
        "@context": CONTEXT_V020,
        "@type": "LoopCoinTransfer",
        "id": transfer_id,
        "from": source,
        "to": target,
        "amount": amount,
        "currency": "LC-MUC",
        "timestamp": "2026-12-01T12:00:00Z",
    }


def test_forty_simultaneous_payments_of_9_from_90_give_ten_successes(ledger: Ledger) -> None:
    payer = ledger.post("accounts", {"kind": "user"})["id"]
    payee = ledger.post("accounts", {"kind": "business"})["id"]
    ledger.post("issue", {"to": payer, "amount": "90.00", "reserve_deposit": "90.00"})
    bodies = [transfer(payer, payee, 9.00, str(uuid.uuid4())) for _ in range(40)]
    assert ledger.race(bodies) == Counter({201: 10, 409: 30})
    assert (ledger.balance(payer), ledger.balance(payee)) == ("0.00", "90.00")


def test_twenty_copies_of_one_transfer_post_it_once(ledger: Ledger) -> None:
    payer = ledger.post("accounts", {"kind": "user"})["id"]
    payee = ledger.post("accounts", {"kind": "business"})["id"]
    ledger.post("issue", {"to": payer, "amount": "50.00", "reserve_deposit": "50.00"})
    body = transfer(payer, payee, 5, str(uuid.uuid4()))
    counts = ledger.race([body] * 20)
    assert counts[201] == 1 and counts[200] == 19
    assert (ledger.balance(payer), ledger.balance(payee)) == ("45.00", "5.00")


def test_only_the_holder_pays_while_another_trader_races_it(ledger: Ledger) -> None:
    alice, mallory = ledger.trader("alice"), ledger.trader("mallory")
    payer = ledger.post("accounts", {"kind": "user"}, alice)["id"]
    payee = ledger.post("accounts", {"kind": "business"}, mallory)["id"]
    ledger.post("issue", {"to": payer, "amount": "90.00", "reserve_deposit": "90.00"})
    bodies = [transfer(payer, payee, 9.00, str(uuid.uuid4())) for _ in range(30)]
    callers = [alice, mallory] * 15
    counts = ledger.race(bodies, callers)
    assert counts == Counter({201: 10, 409: 5, 403: 15})
    assert (ledger.balance(payer), ledger.balance(payee)) == ("0.00", "90.00")
