"""Cross-node search (core-dp search contract, `scope: cross-node`; SPEC-DIGEST §4.7).

The node answers from its own records and asks every approved peer, concurrently, with a
signed `POST {peer}/api/v1/{kind}/search` carrying the same filters and limit in local scope
(`consistency: eventual`, `auth.mode: node-signature`); each peer has `timeout_s`. Results
keep the peers' `source_node` and `record_hash_sha256`, are merged in `updated_at`, `id`
order (ties between nodes by `source_node`) and cut to `limit`. `provenance.queried_nodes`
lists the nodes that answered (this one first); `omitted_nodes` the others with a reason:
`timeout`, `unreachable`, `untrusted_certificate`, `circuit_open` or `error`. Consistency is
`eventual`; a cross-node answer has no cursor (each page is a fresh fan-out).

The search service is synchronous (it may run on the event loop thread on SQLite), so the
fan-out runs on its own event loop in a helper thread; the caller waits at most `timeout_s`
plus a small margin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import TimestampError, format_timestamp, parse_timestamp, to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.federation.ports import (
    FederationUowFactory,
    PeerAddress,
    PeerRow,
    PeerTransport,
    TransportError,
)
from loopnode.services.messaging.resilience import breaker_allows
from loopnode.services.ports import Clock

SEARCH_FIELDS = ("source_node", "record_hash_sha256", "updated_at")
REASONS = {"timeout": "timeout", "unreachable": "unreachable", "tls": "untrusted_certificate"}


class CrossNodeSearch:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        node_id: str,
        transport_factory: Callable[[], PeerTransport],
        timeout_s: float,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node_id = node_id
        self._transport_factory = transport_factory
        self._timeout = timeout_s

    def __call__(self, kind: str, request: dict[str, Any], local: dict[str, Any]) -> dict[str, Any]:
        if "cursor" in request:
            raise InvalidRequest(
                "cross-node search answers one merged page and takes no cursor",
                {"scope": "cross-node"},
            )
        peers, omitted = self._peers()
        body = orjson.dumps(self.peer_request(kind, request))
        answers = _run(lambda: self._fan_out(kind, body, peers)) if peers else []
        results = list(local["results"])
        queried = [self._node_id]
        for peer_id, found, reason in answers:
            if reason is not None:
                omitted.append({"node_id": peer_id, "reason": reason})
                continue
            queried.append(peer_id)
            results.extend(_normalise(item, peer_id) for item in found)
        merged = sorted(_unique(results), key=_order)[: request["limit"]]
        return {
            "entity_type": kind,
            "results": merged,
            "ordering": {"primary": "updated_at_asc", "tie_break": "id_asc"},
            "consistency": {"mode": "eventual", "as_of": format_timestamp(self._clock.now())},
            "provenance": {"queried_nodes": queried, "omitted_nodes": omitted},
        }

    def peer_request(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "entity_type": kind,
            "scope": "local",
            "filters": request.get("filters", {}),
            "limit": request["limit"],
            "consistency": "eventual",
            "auth": {"mode": "node-signature", "subject_node": self._node_id},
        }
        if "strict_filtering" in request:
            body["strict_filtering"] = request["strict_filtering"]
        return body

    def _peers(self) -> tuple[list[PeerRow], list[dict[str, str]]]:
        now_us = to_us(self._clock.now())
        with self._uow() as uow:
            approved = uow.federation.peers.all("approved")
            breakers = {c.peer_id: c for c in uow.messaging.circuits.all()}
        usable = [p for p in approved if breaker_allows(breakers.get(p.node_id), now_us)]
        omitted = [
            {"node_id": p.node_id, "reason": "circuit_open"} for p in approved if p not in usable
        ]
        return usable, omitted

    async def _fan_out(
        self, kind: str, body: bytes, peers: list[PeerRow]
    ) -> list[tuple[str, list[dict[str, Any]], str | None]]:
        transport = self._transport_factory()
        try:
            asks = (self._ask(transport, kind, body, peer) for peer in peers)
            return list(await asyncio.gather(*asks))
        finally:
            await transport.aclose()

    async def _ask(
        self, transport: PeerTransport, kind: str, body: bytes, peer: PeerRow
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        try:
            answer = await asyncio.wait_for(
                transport.send(
                    PeerAddress.of(peer), "POST", f"/{kind}/search", body, timeout=self._timeout
                ),
                self._timeout + 0.5,
            )
        except TimeoutError:
            return peer.node_id, [], "timeout"
        except TransportError as exc:
            return peer.node_id, [], REASONS.get(exc.reason, "error")
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return peer.node_id, [], "error"
        results = document.get("results") if isinstance(document, dict) else None
        if answer.status != 200 or not isinstance(results, list):
            return peer.node_id, [], "error"
        return peer.node_id, [r for r in results if isinstance(r, dict)], None


def _run(factory: Callable[[], Any]) -> Any:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fed-search") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _normalise(item: dict[str, Any], peer_id: str) -> dict[str, Any]:
    result = dict(item)
    result.setdefault("source_node", peer_id)
    if not isinstance(result.get("record_hash_sha256"), str):
        record = {k: v for k, v in result.items() if k not in SEARCH_FIELDS}
        result["record_hash_sha256"] = sha256_hex(record)
    return result


def _unique(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for item in results:
        if isinstance(item.get("id"), str) and isinstance(item.get("updated_at"), str):
            seen.setdefault((str(item["source_node"]), item["id"]), item)
    return list(seen.values())


def _order(item: dict[str, Any]) -> tuple[str, str, str]:
    try:
        stamp = format_timestamp(parse_timestamp(item["updated_at"]))
    except TimestampError:
        stamp = item["updated_at"]
    # Fixed-width microsecond form so that string order is time order.
    if "." not in stamp:
        stamp = stamp[:-1] + ".000000Z"
    return stamp, item["id"], str(item["source_node"])
