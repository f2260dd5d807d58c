"""Node-to-node HTTP with httpx: every request signed (DECISIONS 19), every peer's TLS checked.

`NodeSignatureAuth` is the one place requests get signed: it adds the five headers of
`protocol.request_signing.sign_request` over the method, the path-with-query exactly as sent,
the receiving node's id and the SHA-256 of the body bytes. `HttpPeerTransport` implements the
services' `PeerTransport` port: one `httpx.AsyncClient` per trust configuration (a pinned
certificate, or the CA bundle), failures mapped to `TransportError` reasons. Plain HTTP is for
loopback development and TLS-terminating proxies: in production it is refused for any host that
is not a loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Generator
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.adapters.federation import tls
from loopnode.protocol.request_signing import sign_request
from loopnode.services.federation.ports import (
    ObservedCertificate,
    PeerAddress,
    PeerResponse,
    TransportError,
)
from loopnode.services.ports import Clock

SigningKey = Callable[[], tuple[Ed25519PrivateKey, str]]
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class NodeSignatureAuth(httpx.Auth):
    """Signs one request from `node_id` to `target_node_id` with the node's current key."""

    requires_request_body = True

    def __init__(
        self, signing_key: SigningKey, node_id: str, target_node_id: str, clock: Clock
    ) -> None:
        self._signing_key = signing_key
        self._node_id = node_id
        self._target = target_node_id
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key, key_id = self._signing_key()
        headers = sign_request(
            key=key,
            key_id=key_id,
            node_id=self._node_id,
            target_node_id=self._target,
            method=request.method,
            path_with_query=request.url.raw_path.decode("ascii"),
            body=request.content,
            now=self._clock.now(),
        )
        request.headers.update(headers)
        yield request


class HttpPeerTransport:
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

    async def send(
        self, peer: PeerAddress, method: str, path: str, body: bytes, *, timeout: float
    ) -> PeerResponse:
        url = peer.endpoint.rstrip("/") + path
        auth = NodeSignatureAuth(self._signing_key, self._node_id, peer.node_id, self._clock)
        return await self._request(method, url, peer, body, auth, timeout)

    async def get(self, url: str, *, pin: PeerAddress | None, timeout: float) -> PeerResponse:
        return await self._request("GET", url, pin, None, None, timeout)

    async def certificate(self, url: str, *, timeout: float) -> ObservedCertificate:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise TransportError("error", f"{url} is not an https URL")
        self._check_allowed(url)
        port = parts.port or 443
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    parts.hostname, port, ssl=tls.unverified_context(), server_hostname=None
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise TransportError("timeout", f"{url}: no TLS handshake within {timeout} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise TransportError("unreachable", f"{url}: {exc}") from exc
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        finally:
            writer.close()
        if not der:
            raise TransportError("tls", f"{url} presented no certificate")
        return ObservedCertificate(ssl.DER_cert_to_PEM_cert(der), tls.fingerprint(der))

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def _request(
        self,
        method: str,
        url: str,
        peer: PeerAddress | None,
        body: bytes | None,
        auth: httpx.Auth | None,
        timeout: float,
    ) -> PeerResponse:
        self._check_allowed(url)
        client = self._client(peer)
        headers = JSON_HEADERS if body is not None else {"Accept": "application/json"}
        try:
            response = await client.request(
                method,
                url,
                content=body,
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", f"{url}: no answer within {timeout} s") from exc
        except httpx.TransportError as exc:
            reason = "tls" if is_tls_failure(exc) else "unreachable"
            raise TransportError(reason, f"{url}: {exc}") from exc
        return PeerResponse(response.status_code, response.content)

    def _client(self, peer: PeerAddress | None) -> httpx.AsyncClient:
        pem = peer.tls_cert_pem if peer is not None else None
        cache_key = f"pin:{peer.tls_fingerprint}" if pem and peer else "ca"
        client = self._clients.get(cache_key)
        if client is None:
            context = tls.client_context(ca_bundle=self._ca_bundle, pinned_pem=pem)
            client = httpx.AsyncClient(verify=context, follow_redirects=False, trust_env=False)
            self._clients[cache_key] = client
        return client

    def _check_allowed(self, url: str) -> None:
        check_allowed(url, production=self._production)


def check_allowed(url: str, *, production: bool) -> None:
    """Peers are http(s) only; plain HTTP only on loopback in production."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TransportError("error", f"{url}: only http and https peers are supported")
    if parts.scheme == "http" and production and not _is_loopback(parts.hostname):
        raise TransportError("insecure", f"{url}: plain HTTP is only allowed on loopback")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
