"""Helpers for the routing tests: approved peers with locations and published signals."""

from __future__ import annotations

from typing import Any

import orjson

from loopnode.services.federation.ports import PeerRow

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
VIENNA = ("vienna.loop", 48.208, 16.373)
BERLIN = ("berlin.loop", 52.52, 13.405)


def add_peer(container: Any, node_id: str, lat: float, lon: float) -> None:
    with container.federation.uow(write=True) as uow:
        uow.federation.peers.put(
            PeerRow(
                node_id=node_id,
                name=node_id,
                endpoint=f"https://{node_id.split('.')[0]}.example/api/v1",
                status="approved",
                capabilities=("material-registry",),
                created_us=0,
                updated_us=0,
                lat=lat,
                lon=lon,
            )
        )


def signal_config(node_id: str, signals: dict[str, float]) -> bytes:
    return orjson.dumps(
        {
            "@context": CONTEXT,
            "@type": "LoopSignalConfig",
            "node": node_id,
            "signals": signals,
            "valid_from": "2026-06-01T00:00:00Z",
            "valid_until": "2026-06-30T23:59:59Z",
        }
    )


class PublishedSignals:
    """A fake `GET {peer}/signals`: answers the configured table and counts the fetches."""

    def __init__(self, tables: dict[str, dict[str, float]]) -> None:
        self.tables = tables
        self.fetches: list[str] = []

    async def __call__(self, peer: PeerRow) -> bytes:
        self.fetches.append(peer.node_id)
        if peer.node_id not in self.tables:
            raise ConnectionError(peer.node_id)
        return signal_config(peer.node_id, self.tables[peer.node_id])


def install(container: Any, tables: dict[str, dict[str, float]]) -> PublishedSignals:
    fake = PublishedSignals(tables)
    container.routing.cost.directory.fetcher = fake
    return fake
