"""The outbound wire as the services see it: where a peer is, what it answered, how it failed.

One transport serves every kind of node-to-node message (federation requests, core-dp
envelopes, NodeInfo reads, certificate probes). Implementations sign every `send`/`post`
(DECISIONS 19), check the peer's TLS, enforce the URL policy, cap the answer's size and give
every call an overall deadline; failures are `TransportError` with a short `reason`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ObservedCertificate",
    "PeerAddress",
    "PeerResponse",
    "Transport",
    "TransportError",
]


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where and how to reach a peer: its API base (`…/api/v1`) and the TLS pin, if any."""

    node_id: str
    endpoint: str
    tls_fingerprint: str | None = None
    tls_cert_pem: str | None = None

    @classmethod
    def of(cls, peer: _HasAddress) -> PeerAddress:
        return cls(peer.node_id, peer.endpoint, peer.tls_fingerprint, peer.tls_cert_pem)


class _HasAddress(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def tls_fingerprint(self) -> str | None: ...

    @property
    def tls_cert_pem(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PeerResponse:
    status: int
    body: bytes
    tls_fingerprint: str | None = None


class TransportError(Exception):
    """The peer could not be reached or did not answer properly; `reason` is a short token.

    Reasons: `unreachable` (no connection was made: nothing was sent), `tls` (certificate not
    trusted: nothing was sent), `insecure` (the URL policy refused the address: nothing was
    sent), `timeout` (no complete answer before the deadline), `too_large` (the answer passed
    the size cap), `error` (anything else after the request may have gone out).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ObservedCertificate:
    pem: str
    fingerprint: str


class Transport(Protocol):
    async def send(
        self,
        peer: PeerAddress,
        method: str,
        path: str,
        body: bytes,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> PeerResponse:
        """A signed request to `peer.endpoint + path` (DECISIONS 19); `timeout` is the
        deadline of the whole call, answer included."""

    async def post(
        self,
        peer: PeerAddress,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> PeerResponse:
        """`send("POST", ...)` with the caller's headers (core-dp envelopes)."""

    async def get(self, url: str, *, pin: PeerAddress | None, timeout: float) -> PeerResponse:
        """An unsigned GET of a public resource (NodeInfo)."""

    async def certificate(self, url: str, *, timeout: float) -> ObservedCertificate:
        """The certificate an https URL presents, unverified (for trust on first use)."""

    async def aclose(self) -> None: ...
