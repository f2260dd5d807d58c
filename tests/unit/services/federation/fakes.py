"""Test doubles for federation: peers with their own keys, and an in-memory peer transport."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.protocol import keys
from loopnode.protocol.request_signing import sign_request
from loopnode.services.federation import flooding
from loopnode.services.federation.ports import (
    ObservedCertificate,
    PeerAddress,
    PeerResponse,
    TransportError,
)

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"


@dataclass
class FakePeer:
    """A peer node as tests play it: an id, a key, a location."""

    name: str
    seed: int = 7
    lat: float = 52.52
    lon: float = 13.405
    key: Ed25519PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(bytes([self.seed]) * 32)

    @property
    def node_id(self) -> str:
        return f"{self.name}.loop"

    @property
    def raw(self) -> bytes:
        return keys.public_raw(self.key)

    @property
    def key_id(self) -> str:
        return keys.key_id(self.raw, self.node_id)

    @property
    def endpoint(self) -> str:
        return f"http://{self.name}.test/api/v1"

    def headers(
        self, path: str, body: bytes, now: datetime, target: str = "munich.loop", **kw: Any
    ) -> dict[str, str]:
        signed = sign_request(
            key=kw.get("key", self.key),
            key_id=kw.get("key_id", self.key_id),
            node_id=self.node_id,
            target_node_id=target,
            method=kw.get("method", "POST"),
            path_with_query=path,
            body=body,
            now=now,
        )
        return {**signed, "Content-Type": "application/json"}

    def node_info(self, **extra: Any) -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "@type": "NodeInfo",
            "id": self.node_id,
            "name": f"{self.name.title()} node",
            "version": "0.2.0",
            "location": {"lat": self.lat, "lon": self.lon, "city": self.name.title()},
            "capabilities": ["material-registry"],
            "endpoint": self.endpoint,
            "public_key": keys.public_pem(self.raw),
            **extra,
        }

    def announcement(self, material: str, **extra: Any) -> dict[str, Any]:
        """An announcement this peer originates, signed as origin (pass `sign=False` not to)."""
        sign = extra.pop("sign", True)
        body: dict[str, Any] = {
            "@context": CONTEXT,
            "@type": "MaterialAnnouncement",
            "material": material,
            "origin": self.node_id,
            "available": True,
            "category": "plastic-pet",
            "announcement_id": f"ann_{material.lower()}",
            "origin_location": {"lat": self.lat, "lon": self.lon},
            "ttl": 3,
            "hop_count": 1,
            **extra,
        }
        if sign:
            body["origin_key_id"] = self.key_id
            body["origin_signature"] = keys.sign(self.key, flooding.origin_signing_input(body))
        return body


def post_signed(client: Any, peer: FakePeer, path: str, body: Any, now: datetime, **kw: Any) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(path, content=raw, headers=peer.headers(path, raw, now, **kw))


Handler = Callable[[PeerAddress, str, str, bytes], PeerResponse]


@dataclass
class FakeTransport:
    """`PeerTransport` in memory: per-peer handlers for signed requests, pages for GETs."""

    handlers: dict[str, Handler | Exception] = field(default_factory=dict)
    pages: dict[str, PeerResponse | Exception] = field(default_factory=dict)
    certificates: dict[str, ObservedCertificate] = field(default_factory=dict)
    sent: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    async def send(
        self, peer: PeerAddress, method: str, path: str, body: bytes, *, timeout: float
    ) -> PeerResponse:
        self.sent.append((peer.node_id, method, path, body))
        handler = self.handlers.get(peer.node_id)
        if handler is None:
            raise TransportError("unreachable", f"{peer.node_id} is not reachable")
        if isinstance(handler, Exception):
            raise handler
        return handler(peer, method, path, body)

    async def get(self, url: str, *, pin: PeerAddress | None, timeout: float) -> PeerResponse:
        page = self.pages.get(url)
        if page is None:
            raise TransportError("unreachable", f"{url} is not reachable")
        if isinstance(page, Exception):
            raise page
        return page

    async def certificate(self, url: str, *, timeout: float) -> ObservedCertificate:
        found = self.certificates.get(url)
        if found is None:
            raise TransportError("unreachable", url)
        return found

    async def aclose(self) -> None:
        return None


def json_page(document: Any, status: int = 200) -> PeerResponse:
    return PeerResponse(status, orjson.dumps(document))


def answering(status: int, document: Any = None) -> Handler:
    def handler(peer: PeerAddress, method: str, path: str, body: bytes) -> PeerResponse:
        return json_page(
            document if document is not None else {"status": "accepted", "id": 1}, status
        )

    return handler
