"""Core-dp envelopes over HTTP with httpx: the `CoreDpTransport` of the core-dp exchange.

Reuses the federation adapter's pieces: the request is also node-signed
(`NodeSignatureAuth`, DECISIONS 19; harmless where the receiver only checks the envelope) and a
peer's TLS is checked the federation's way (a pinned certificate, or the CA bundle). Plain HTTP
is for loopback development: in production it is refused for any host that is not a loopback
address. Failures are the federation's `TransportError`, with one distinction the delivery
relies on: `unreachable` only when no connection was made (nothing was sent); a failure after
the request may have gone out is `timeout` or `error`.

`mount(prefix, transport)` routes URLs under `prefix` through another httpx transport: in-process
tests connect two apps with `httpx.ASGITransport` this way, without patching anything.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from loopnode.adapters.federation import tls
from loopnode.adapters.federation.client import (
    NodeSignatureAuth,
    SigningKey,
    check_allowed,
    is_tls_failure,
)
from loopnode.services.coredp_ports import CoreDpReply
from loopnode.services.federation.ports import PeerAddress, TransportError
from loopnode.services.ports import Clock

__all__ = ["HttpCoreDpTransport"]


class HttpCoreDpTransport:
    def __init__(
        self,
        *,
        node_id: str,
        signing_key: SigningKey,
        clock: Clock,
        ca_bundle: str | None = None,
        production: bool = False,
    ) -> None:
        self._node_id = node_id
        self._signing_key = signing_key
        self._clock = clock
        self._ca_bundle = ca_bundle or None
        self._production = production
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._mounts: dict[str, httpx.AsyncBaseTransport] = {}

    def mount(self, prefix: str, transport: httpx.AsyncBaseTransport) -> None:
        """Send requests for URLs starting with `prefix` through `transport`."""
        self._mounts[prefix] = transport

    async def post(
        self,
        peer: PeerAddress,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> CoreDpReply:
        url = peer.endpoint.rstrip("/") + path
        self._check_allowed(url)
        auth = NodeSignatureAuth(self._signing_key, self._node_id, peer.node_id, self._clock)
        client = self._client(url, peer)
        try:
            response = await client.post(
                url, content=body, headers=dict(headers), auth=auth, timeout=timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            reason = "tls" if is_tls_failure(exc) else "unreachable"
            raise TransportError(reason, f"{url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", f"{url}: no answer within {timeout} s") from exc
        except httpx.TransportError as exc:
            raise TransportError("error", f"{url}: {exc}") from exc
        return CoreDpReply(response.status_code, response.content)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, url: str, peer: PeerAddress) -> httpx.AsyncClient:
        for prefix, transport in self._mounts.items():
            if url.startswith(prefix):
                key = f"mount:{prefix}"
                if key not in self._clients:
                    self._clients[key] = httpx.AsyncClient(transport=transport)
                return self._clients[key]
        pem = peer.tls_cert_pem
        key = f"pin:{peer.tls_fingerprint}" if pem else "ca"
        client = self._clients.get(key)
        if client is None:
            context = tls.client_context(ca_bundle=self._ca_bundle, pinned_pem=pem)
            client = httpx.AsyncClient(verify=context, follow_redirects=False, trust_env=False)
            self._clients[key] = client
        return client

    def _check_allowed(self, url: str) -> None:
        check_allowed(url, production=self._production)
