"""A federation clearing round (issue 10 item 7; docs/ledger.md §Clearing round).

Theory of operation. Every bilateral obligation is held by both of its parties under one id
(`<debtor>:<transaction>`; services/ledger/settlement.py and reconcile.py). The node that runs
`loopnode clearing run` is the round's coordinator:

1. **gather**: it asks each approved peer for its open obligations
   (`POST /federate/clearing/obligations`, a signed request, answered as JSON) and adds its own;
2. **confirm**: an obligation enters the round only when both its debtor and its creditor
   reported it with the same amount (the coordinator is one of the reporters when it is a
   party), so no node can put a debt on another;
3. **solve**: `domain.clearing.clear` (maximum multilateral set-off);
4. **emit**: for each participant an InterNodeSettlement (`settlement_method` "clearing")
   carrying the round (`clearing_round`: its id, every input obligation, the remaining ones,
   the amount cleared), signed by the coordinator, sent as a signed request to
   `POST /federate/clearing/result`;
5. **verify and apply**: each participant (the coordinator too) checks that every input
   obligation it is party to matches its own open record, recomputes the solution from the
   inputs and compares it with the one it was sent, then in one transaction marks its inputs
   `cleared` and records the remaining obligations it is party to under the round's ids.
   In the same transaction it records the round (`ledger_clearing_rounds`: totals, the
   bilateral-netting figure, this node's part) and appends a `clearing.applied` evidence
   entry (§10.5). Applying the same round again changes nothing.

`history` and `round` answer `GET /api/v1/clearing/rounds[/{id}]` (docs/clearing-rounds.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from loopnode.domain.clearing import Obligation, bilateral_netting, clear
from loopnode.domain.errors import Conflict, Forbidden, InvalidRequest, LoopError, NotFound
from loopnode.domain.money import Money
from loopnode.domain.times import format_timestamp, from_us, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.jsonld import CONTEXT_V020
from loopnode.services.ledger.config import LedgerConfig
from loopnode.services.ledger.ports import ObligationRow, RoundRow
from loopnode.services.ports import Clock, EvidenceDraft

GATHER_PATH = "/federate/clearing/obligations"
RESULT_PATH = "/federate/clearing/result"
Signer = Callable[[dict[str, Any]], dict[str, Any]]


def wire(row: ObligationRow) -> dict[str, str]:
    return {
        "id": row.id,
        "debtor": row.debtor,
        "creditor": row.creditor,
        "amount": str(Money(row.amount_cents)),
        "currency": row.currency,
    }


def _entries(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise InvalidRequest("obligations must be a list", {})
    found = []
    for item in items:
        fields = ("id", "debtor", "creditor", "amount")
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in fields):
            raise InvalidRequest("each obligation needs id, debtor, creditor and amount", {})
        Money.parse(item["amount"])
        found.append({k: item[k] for k in (*fields, "currency") if k in item})
    return found


def _obligations(entries: list[dict[str, str]]) -> list[Obligation]:
    return [Obligation(e["debtor"], e["creditor"], Money.parse(e["amount"]).cents) for e in entries]


def _remaining_wire(remaining: tuple[Obligation, ...]) -> list[dict[str, str]]:
    return sorted(
        (
            {"debtor": o.debtor, "creditor": o.creditor, "amount": str(Money(o.cents))}
            for o in remaining
        ),
        key=lambda r: (r["debtor"], r["creditor"]),
    )


class ClearingRounds:
    def __init__(self, uow: Any, clock: Clock, config: LedgerConfig, sign: Signer) -> None:
        self._uow = uow
        self._clock = clock
        self._config = config
        self._sign = sign

    @property
    def node_id(self) -> str:
        return self._config.node_id

    # --- every node -----------------------------------------------------------------------

    def open_obligations(self) -> dict[str, Any]:
        with self._uow() as uow:
            rows = uow.ledger.obligations("open")
        return {"node": self._config.node_id, "obligations": [wire(r) for r in rows]}

    def apply(self, caller: str, document: dict[str, Any]) -> dict[str, Any]:
        """Verify a round's result sent by its coordinator `caller` and apply this node's part."""
        node = self._config.node_id
        round_ = document.get("clearing_round")
        if document.get("@type") != "InterNodeSettlement" or not isinstance(round_, dict):
            raise InvalidRequest("send the round's InterNodeSettlement", {})
        if document.get("to_node") != node:
            raise InvalidRequest("to_node must be this node", {"to_node": document.get("to_node")})
        if document.get("from_node") != caller or round_.get("coordinator") != caller:
            raise Forbidden("a round's result comes from its coordinator", {"caller": caller})
        round_id = round_.get("id")
        if not isinstance(round_id, str) or not 1 <= len(round_id) <= 64:
            raise InvalidRequest("the round needs an id", {})
        inputs = _entries(round_.get("obligations"))
        claimed = _remaining_wire(
            tuple(_obligations([{**r, "id": "-"} for r in _entries_remaining(round_)]))
        )
        result = clear(_obligations(inputs))
        if _remaining_wire(result.remaining) != claimed:
            raise InvalidRequest("the round's result is not the clearing of its obligations", {})
        now = self._clock.now()
        with self._uow(write=True) as uow:
            uow.ledger.totals(lock=True)  # one round applies at a time on this node
            held = {r.id: r for r in uow.ledger.obligations()}
            mine = [e for e in inputs if node in (e["debtor"], e["creditor"])]
            for entry in mine:
                row = held.get(entry["id"])
                if (
                    row is None
                    or wire(row)["amount"] != entry["amount"]
                    or (
                        row.debtor,
                        row.creditor,
                    )
                    != (entry["debtor"], entry["creditor"])
                ):
                    raise InvalidRequest(
                        "the round lists an obligation this node does not hold as listed",
                        {"id": entry["id"]},
                    )
            open_inputs = [e["id"] for e in mine if held[e["id"]].status == "open"]
            ours = [o for o in result.remaining if node in (o.debtor, o.creditor)]
            applied_before = all(f"{round_id}:{o.debtor}>{o.creditor}" in held for o in ours)
            if len(open_inputs) < len(mine) and not (not open_inputs and applied_before):
                raise Conflict(
                    "an obligation of this round was already cleared by another round",
                    {"round": round_id},
                )
            uow.ledger.set_obligation_status(open_inputs, "cleared")
            added = 0
            for item in result.remaining:
                if node not in (item.debtor, item.creditor):
                    continue
                added += uow.ledger.add_obligation(
                    ObligationRow(
                        f"{round_id}:{item.debtor}>{item.creditor}",
                        item.debtor,
                        item.creditor,
                        item.cents,
                        self._config.backed_by,
                        "created" if item.debtor == node else "received",
                        "open",
                        document,
                        to_us(now),
                    )
                )
            record = _record(round_id, caller, node, to_us(now), inputs, result, round_)
            if uow.ledger.add_round(record):
                uow.evidence.append(
                    EvidenceDraft(
                        "clearing.applied",
                        "clearing_round",
                        round_id,
                        caller,
                        sha256_hex(document),
                        {
                            "total": str(Money(record.total_cents)),
                            "cleared": str(Money(record.cleared_cents)),
                            "participants": len(record.participants),
                        },
                    ),
                    now,
                )
        return {
            "status": "applied",
            "round": round_id,
            "cleared_obligations": len(open_inputs),
            "new_obligations": added,
        }

    def history(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """The rounds this node applied, newest first; `next_cursor` continues the list."""
        if not 1 <= limit <= 500:
            raise InvalidRequest("limit must be between 1 and 500", {"limit": limit})
        before = _decode_cursor(cursor) if cursor else None
        with self._uow() as uow:
            rows = uow.ledger.rounds(before, limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "rounds": [round_wire(r) for r in page],
            "next_cursor": f"{page[-1].applied_us}:{page[-1].id}" if more else None,
        }

    def round(self, round_id: str) -> dict[str, Any]:
        with self._uow() as uow:
            row = uow.ledger.round(round_id)
        if row is None:
            raise NotFound("no clearing round applied here has this id", {"id": round_id})
        return round_wire(row)

    # --- the coordinator ------------------------------------------------------------------

    def plan(self, reports: dict[str, list[dict[str, str]]], now: datetime) -> dict[str, Any]:
        """The round over `reports` (node → the open obligations it reported)."""
        seen: dict[str, dict[str, str]] = {}
        confirmations: dict[str, set[str]] = {}
        for reporter, entries in reports.items():
            for entry in entries:
                key = entry["id"]
                if reporter not in (entry["debtor"], entry["creditor"]):
                    continue
                if key in seen and seen[key] != entry:
                    seen[key] = {**entry, "disputed": "yes"}
                seen.setdefault(key, entry)
                confirmations.setdefault(key, set()).add(reporter)
        confirmed = [
            entry
            for key, entry in sorted(seen.items())
            if "disputed" not in entry
            and confirmations[key] >= {entry["debtor"], entry["creditor"]}
        ]
        obligations = _obligations(confirmed)
        result = clear(obligations)
        participants = sorted({p for o in obligations for p in (o.debtor, o.creditor)})
        return {
            "id": str(uuid.uuid4()),
            "coordinator": self._config.node_id,
            "obligations": confirmed,
            "remaining": _remaining_wire(result.remaining),
            "cleared": str(Money(result.cleared_cents)),
            "total": str(Money(result.total_cents)),
            "bilateral_netting": str(Money(bilateral_netting(obligations))),
            "participants": participants,
            "unconfirmed": sorted(set(seen) - {e["id"] for e in confirmed}),
            "created_at": format_timestamp(now),
        }

    def result_for(self, round_: dict[str, Any], participant: str) -> dict[str, Any]:
        """The signed InterNodeSettlement that tells `participant` the round's outcome."""
        code = self._config.currency_code
        transfers = [
            {
                "from": f"node:clearing@{r['debtor']}",
                "to": f"node:clearing@{r['creditor']}",
                "amount": float(Money.parse(r["amount"]).to_decimal()),
                "from_currency": code,
                "to_currency": code,
                "exchange_rate": 1.0,
            }
            for r in round_["remaining"]
            if participant in (r["debtor"], r["creditor"])
        ]
        document = {
            "@context": CONTEXT_V020,
            "@type": "InterNodeSettlement",
            "schema_version": "0.2.0",
            "from_node": self._config.node_id,
            "to_node": participant,
            "transfers": transfers,
            "settlement_method": "clearing",
            "settlement_period": "daily",
            "currency_unit": self._config.backed_by,
            "clearing_round": round_,
        }
        return self._sign(document)


def _decode_cursor(cursor: str) -> tuple[int, str]:
    applied, _, round_id = cursor.partition(":")
    if not applied.isdigit() or not round_id or len(applied) > 19:
        raise InvalidRequest("cursor is not one this API gave", {"cursor": cursor[:100]})
    return int(applied), round_id


def _sum(items: list[Obligation]) -> str:
    return str(Money(sum(o.cents for o in items)))


def _record(
    round_id: str,
    coordinator: str,
    node: str,
    now_us: int,
    inputs: list[dict[str, str]],
    result: Any,
    round_: dict[str, Any],
) -> RoundRow:
    """What this node keeps of a round it applies: the round's figures (recomputed from its
    inputs, never taken on trust) and this node's part of it."""
    obligations = _obligations(inputs)
    mine = [e for e in inputs if node in (e["debtor"], e["creditor"])]
    before = _obligations(mine)
    after = [o for o in result.remaining if node in (o.debtor, o.creditor)]
    part = {
        "obligations": sorted(e["id"] for e in mine),
        "remaining": _remaining_wire(tuple(after)),
        "owed_before": _sum([o for o in before if o.debtor == node]),
        "owed_after": _sum([o for o in after if o.debtor == node]),
        "owed_to_before": _sum([o for o in before if o.creditor == node]),
        "owed_to_after": _sum([o for o in after if o.creditor == node]),
    }
    participants = sorted({p for o in obligations for p in (o.debtor, o.creditor)})
    bilateral = bilateral_netting(obligations) if "bilateral_netting" in round_ else None
    return RoundRow(
        round_id,
        coordinator,
        now_us,
        tuple(participants),
        result.total_cents,
        result.cleared_cents,
        bilateral,
        part,
    )


def round_wire(row: RoundRow) -> dict[str, Any]:
    """A recorded round as `GET /api/v1/clearing/rounds` answers it (decimal strings)."""
    answer: dict[str, Any] = {
        "id": row.id,
        "coordinator": row.coordinator,
        "applied_at": format_timestamp(from_us(row.applied_us)),
        "participants": list(row.participants),
        "total": str(Money(row.total_cents)),
        "cleared": str(Money(row.cleared_cents)),
        "remaining": str(Money(row.total_cents - row.cleared_cents)),
    }
    if row.bilateral_cents is not None:
        answer["bilateral_netting"] = str(Money(row.bilateral_cents))
    answer["part"] = row.part
    return answer


def _entries_remaining(round_: dict[str, Any]) -> list[dict[str, str]]:
    items = round_.get("remaining")
    if not isinstance(items, list):
        raise InvalidRequest("remaining must be a list", {})
    return _entries([{**item, "id": "-"} if isinstance(item, dict) else item for item in items])


def dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


async def run_round(
    rounds: ClearingRounds,
    peers: list[Any],
    transport: Any,
    now: datetime,
    timeout: float,
) -> dict[str, Any]:
    """Coordinate one round with the approved `peers` (PeerRows) over `transport`."""
    from loopnode.services.federation.ports import PeerAddress, TransportError

    me = rounds.node_id
    reports = {me: _entries(rounds.open_obligations()["obligations"])}
    problems: dict[str, str] = {}
    addresses = {peer.node_id: PeerAddress.of(peer) for peer in peers}
    for node_id, address in addresses.items():
        try:
            answer = await transport.send(address, "POST", GATHER_PATH, b"{}", timeout=timeout)
            if answer.status != 200:
                problems[node_id] = f"gather answered HTTP {answer.status}"
                continue
            reports[node_id] = _entries(orjson.loads(answer.body).get("obligations"))
        except (TransportError, orjson.JSONDecodeError, InvalidRequest, AttributeError) as exc:
            problems[node_id] = f"gather failed: {exc}"
    round_ = rounds.plan(reports, now)
    applied: dict[str, Any] = {}
    participants = round_["participants"]
    if Money.parse(round_["cleared"]).cents == 0:
        participants = []  # nothing to clear: every obligation stays as it is
    if me in participants:
        # The coordinator applies first: a round it cannot apply is sent to nobody.
        try:
            applied[me] = rounds.apply(me, rounds.result_for(round_, me))
        except LoopError as exc:
            problems[me] = f"not applied here: {exc}"
            participants = []
    for participant in participants:
        if participant == me:
            continue
        document = rounds.result_for(round_, participant)
        try:
            answer = await transport.send(
                addresses[participant], "POST", RESULT_PATH, dumps(document), timeout=timeout
            )
            applied[participant] = orjson.loads(answer.body)
            if answer.status != 200:
                problems[participant] = f"result answered HTTP {answer.status}"
        except (TransportError, orjson.JSONDecodeError, KeyError) as exc:
            problems[participant] = f"result not delivered: {exc}"
    total = Money.parse(round_["total"]).cents or 1
    return {
        "round": round_["id"],
        "total": round_["total"],
        "cleared": round_["cleared"],
        "cleared_share": round(Money.parse(round_["cleared"]).cents / total, 4),
        "bilateral_netting": round_["bilateral_netting"],
        "bilateral_share": round(Money.parse(round_["bilateral_netting"]).cents / total, 4),
        "remaining": round_["remaining"],
        "participants": round_["participants"],
        "unconfirmed": round_["unconfirmed"],
        "applied": applied,
        "problems": problems,
    }


def coordinates(node_id: str, peer_ids: list[str]) -> bool:
    """The scheduled round of a group of peers is run by the smallest node id among them, so
    two nodes do not coordinate overlapping rounds at once (a collision would be refused)."""
    return all(node_id < peer for peer in peer_ids)


async def scheduled_rounds(
    rounds: ClearingRounds,
    uow: Any,
    transport_factory: Callable[[], Any],
    clock: Clock,
    interval_s: float,
    timeout: float,
    tick_s: float = 60.0,
    log: Callable[[str], None] = lambda _text: None,
) -> None:
    """Forever: every `tick_s`, run a round when one is due (`LedgerStore.claim_round`, so one
    worker of the node claims it) and this node coordinates its peers (`coordinates`)."""
    import asyncio

    while True:
        await asyncio.sleep(tick_s)
        now = clock.now()
        with uow(write=True) as unit:
            peers = unit.federation.peers.all("approved")
            due = unit.ledger.claim_round(to_us(now), int(interval_s * 1_000_000))
        if not due or not peers or not coordinates(rounds.node_id, [p.node_id for p in peers]):
            continue
        transport = transport_factory()
        try:
            report = await run_round(rounds, peers, transport, now, timeout)
            log(f"clearing round {report['round']}: cleared {report['cleared']}")
        except Exception as exc:
            log(f"clearing round failed: {exc}")
        finally:
            await transport.aclose()
