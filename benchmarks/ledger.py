"""LoopCoin transfers per second: over HTTP through one `loopnode serve` worker on SQLite and
PostgreSQL, next to the same node's GET ceiling in the same run, and in-process (the ledger
service called directly, no HTTP).

Every transfer moves 1.00 from one payer to one payee (the worst case for the ledger: one hot
account, plus the community fund every transfer locks for the local bonus). Ids are distinct
uuids chosen by the client. After each HTTP run the script checks conservation: the payer and
payee balances add up to what was issued and `circulating + community_fund = issued −
redeemed`.

    python benchmarks/ledger.py [--quick] [--sqlite | --postgres | --both] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Load,
    free_port,
    init_node,
    measure,
    node_server,
    postgres_database,
    scratch_dir,
)

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
UUID_PREFIX = "00000000-0000-4000-8000-00000"  # + 7 digits = a uuid's last group


def _call(base: str, key: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1/loopcoin{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def setup_accounts(base: str, key: str) -> tuple[str, str]:
    payer = _call(base, key, "POST", "/accounts", {"kind": "user"})["id"]
    payee = _call(base, key, "POST", "/accounts", {"kind": "business"})["id"]
    amount = "1000000.00"
    _call(base, key, "POST", "/issue", {"to": payer, "amount": amount, "reserve_deposit": amount})
    return payer, payee


def transfer_load(key: str, payer: str, payee: str) -> Load:
    body = json.dumps(
        {
            "@context": CONTEXT,
            "@type": "LoopCoinTransfer",
            "id": "@ID@",
            "from": payer,
            "to": payee,
            "amount": 1.00,
            "currency": "LC-MUC",
            "timestamp": "2026-12-06T12:00:00Z",
        }
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return Load("POST", "/api/v1/loopcoin/transfer", body, headers, prefix=UUID_PREFIX)


def check(base: str, key: str, payer: str, payee: str) -> str:
    supply = _call(base, key, "GET", "/supply")
    paid = Decimal(_call(base, key, "GET", f"/accounts/{payee}")["balance"])
    kept = Decimal(_call(base, key, "GET", f"/accounts/{payer}")["balance"])
    total = Decimal(supply["circulating"]) + Decimal(supply["community_fund"])
    issued = Decimal(supply["issued"]) - Decimal(supply["redeemed"])
    ok = total == issued and paid + kept + Decimal(supply["community_fund"]) == issued
    return f"{'ok' if ok else 'BROKEN'}: {paid} paid in {int(paid)} transfers, supply {total}"


def http_run(database_url: str | None, seconds: float, label: str) -> list[list[str]]:
    rows = []
    with scratch_dir("loopnode-ledger-") as work:
        key = init_node(work, database_url)
        with node_server(work, free_port()).start() as server:
            payer, payee = setup_accounts(server.base, key)
            load = transfer_load(key, payer, payee).with_(connections=16)
            posted = measure(server, load, min(1.0, seconds / 3), seconds, "python")
            reads = Load("GET", f"/api/v1/loopcoin/accounts/{payer}", connections=16, mode="random")
            got = measure(server, reads, min(1.0, seconds / 3), seconds, "python")
            verdict = check(server.base, key, payer, payee)
        for name, m in (("POST /loopcoin/transfer", posted), ("GET /loopcoin/accounts/{id}", got)):
            r = m.result
            rows.append(
                [
                    label,
                    name,
                    f"{r.rate:,.0f}",
                    f"{r.p50_ms:.1f}",
                    f"{r.p99_ms:.1f}",
                    f"{m.cpu_us:,.0f}",
                    str(r.errors),
                ]
            )
        rows.append([label, "check", verdict, "", "", "", ""])
    return rows


def in_process(database_url: str | None, seconds: float, label: str) -> list[str]:
    from loopnode.bootstrap import build
    from loopnode.config import load_settings

    with scratch_dir("loopnode-ledger-inproc-") as work:
        settings = load_settings(work, node_id="munich.loop", database_url=database_url or "")
        container = build(settings)
        try:
            ledger = container.ledger
            payer = ledger.open_account({"kind": "user"})["id"]
            payee = ledger.open_account({"kind": "business"})["id"]
            amount = "1000000.00"
            ledger.issue({"to": payer, "amount": amount, "reserve_deposit": amount}, "bench")
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                body = {
                    "@context": CONTEXT,
                    "@type": "LoopCoinTransfer",
                    "id": str(uuid.uuid4()),
                    "from": payer,
                    "to": payee,
                    "amount": Decimal("1.00"),
                    "currency": "LC-MUC",
                    "timestamp": "2026-12-06T12:00:00Z",
                }
                ledger.transfer(body, "bench")
                done += 1
            elapsed = time.perf_counter() - started
        finally:
            container.close()
    return [label, "in-process transfer", f"{done / elapsed:,.0f}", "", "", "", "0"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs")
    parser.add_argument("--seconds", type=float, default=10.0)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sqlite", action="store_true")
    which.add_argument("--postgres", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    table = Table(title="LoopCoin ledger, one worker, 16 connections, 1.00 per transfer")
    for column in ("database", "scenario", "per second", "p50 ms", "p99 ms", "CPU µs", "errors"):
        table.add_column(column)
    rows: list[list[str]] = []
    if not args.postgres:
        rows += http_run(None, seconds, "SQLite")
        rows.append(in_process(None, seconds, "SQLite"))
    if not args.sqlite:
        with postgres_database(args.postgres_url) as url:
            rows += http_run(url, seconds, "PostgreSQL")
        with postgres_database(args.postgres_url) as url:
            rows.append(in_process(url, seconds, "PostgreSQL"))
    for row in rows:
        table.add_row(*row)
    Console(width=140).print(table)
    return 1 if any(row[1] == "check" and "BROKEN" in row[2] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
