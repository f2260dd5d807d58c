"""Node-to-node HTTP with httpx: the one transport of the messaging stack.

Every `send`/`post` is signed (`NodeSignatureAuth`, DECISIONS 19: method, path-with-query
exactly as sent, the receiving node's id, the SHA-256 of the body). Every peer's TLS is checked
(a pinned certificate, or the CA bundle; one `httpx.AsyncClient` per trust configuration).

Hardening (issue 15), applied to every call:

- **URL policy** (`url_policy`): the peer's endpoint is an API base that never chooses the
  path; outside development only https to public addresses.
- **Overall deadline**: `timeout` bounds the whole call, connection to the last byte of the
  answer (`asyncio.timeout`), not only each read, so a peer sending one byte a second cannot
  hold a call past it.
- **Answer size cap**: the body is streamed and the call stops with `too_large` past
  `max_response_bytes` (1 MiB by default), or at once when `Content-Length` says so.

Failures are `TransportError`; `unreachable`/`tls`/`insecure` only when nothing was sent (the
core-dp delivery keeps the attempt then), anything after the request may have gone out is
`timeout`, `too_large` or `error`.

`mount(prefix, transport)` routes URLs under `prefix` through another httpx transport: in-process
tests connect two apps with `httpx.ASGITransport` this way, without patching anything.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Generator, Mapping
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.adapters.federation import tls
from loopnode.adapters.messaging.url_policy import api_url, check_url, check_url_resolved
from loopnode.protocol.request_signing import sign_request
from loopnode.services.messaging.ports import (
    ObservedCertificate,
    PeerAddress,
    PeerResponse,
    TransportError,
)
from loopnode.services.ports import Clock

__all__ = ["MAX_RESPONSE_BYTES", "HttpTransport", "NodeSignatureAuth", "is_tls_failure"]

SigningKey = Callable[[], tuple[Ed25519PrivateKey, str]]
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
MAX_RESPONSE_BYTES = 1024 * 1024


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


class HttpTransport:
    """The `Transport` port over httpx (see the module docstring for the policies)."""

    def __init__(
        self,
        *,
        node_id: str,
        signing_key: SigningKey,
        clock: Clock,
        ca_bundle: str | None = None,
        development: bool = True,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._node_id = node_id
        self._signing_key = signing_key
        self._clock = clock
        self._ca_bundle = ca_bundle or None
        self._development = development
        self._max_bytes = max_response_bytes
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._mounts: dict[str, httpx.AsyncBaseTransport] = {}

    def mount(self, prefix: str, transport: httpx.AsyncBaseTransport) -> None:
        """Send requests for URLs starting with `prefix` through `transport`."""
        self._mounts[prefix] = transport

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
        url = api_url(peer.endpoint, path)
        auth = NodeSignatureAuth(self._signing_key, self._node_id, peer.node_id, self._clock)
        return await self._call(
            method, url, peer, body, dict(headers or JSON_HEADERS), auth, timeout
        )

    async def post(
        self,
        peer: PeerAddress,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> PeerResponse:
        return await self.send(peer, "POST", path, body, timeout=timeout, headers=headers)

    async def get(self, url: str, *, pin: PeerAddress | None, timeout: float) -> PeerResponse:
        parts = urlsplit(url)
        if "@" in parts.netloc or "?" in url or "#" in url:
            raise TransportError("insecure", f"{url!r}: user info, query or fragment refused")
        accept = {"Accept": "application/json"}
        return await self._call("GET", url, pin, None, accept, None, timeout)

    async def certificate(self, url: str, *, timeout: float) -> ObservedCertificate:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise TransportError("error", f"{url} is not an https URL")
        try:
            async with asyncio.timeout(timeout):
                await check_url_resolved(url, development=self._development)
                _, writer = await asyncio.open_connection(
                    parts.hostname,
                    parts.port or 443,
                    ssl=tls.unverified_context(),
                    server_hostname=None,
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

    # -- one call ---------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        url: str,
        peer: PeerAddress | None,
        body: bytes | None,
        headers: dict[str, str],
        auth: httpx.Auth | None,
        timeout: float,
    ) -> PeerResponse:
        check_url(url, development=self._development)
        client = self._client(url, peer)
        try:
            async with asyncio.timeout(timeout):
                if not self._mounted(url):
                    await check_url_resolved(url, development=self._development)
                return await self._exchange(client, method, url, body, headers, auth, timeout)
        except TimeoutError as exc:
            raise TransportError(
                "timeout", f"{url}: no complete answer within {timeout} s"
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            reason = "tls" if is_tls_failure(exc) else "unreachable"
            raise TransportError(reason, f"{url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise TransportError("timeout", f"{url}: no answer within {timeout} s") from exc
        except httpx.HTTPError as exc:
            raise TransportError("error", f"{url}: {exc}") from exc

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        auth: httpx.Auth | None,
        timeout: float,
    ) -> PeerResponse:
        request = client.build_request(method, url, content=body, headers=headers, timeout=timeout)
        response = await client.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise self._too_large(url)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._too_large(url)
                chunks.append(chunk)
        finally:
            await response.aclose()
        return PeerResponse(response.status_code, b"".join(chunks))

    def _too_large(self, url: str) -> TransportError:
        return TransportError("too_large", f"{url}: the answer exceeds {self._max_bytes} bytes")

    def _mounted(self, url: str) -> bool:
        return any(url.startswith(prefix) for prefix in self._mounts)

    def _client(self, url: str, peer: PeerAddress | None) -> httpx.AsyncClient:
        for prefix, transport in self._mounts.items():
            if url.startswith(prefix):
                key = f"mount:{prefix}"
                if key not in self._clients:
                    self._clients[key] = httpx.AsyncClient(transport=transport)
                return self._clients[key]
        pem = peer.tls_cert_pem if peer is not None else None
        key = f"pin:{peer.tls_fingerprint}" if pem and peer is not None else "ca"
        client = self._clients.get(key)
        if client is None:
            context = tls.client_context(ca_bundle=self._ca_bundle, pinned_pem=pem)
            client = httpx.AsyncClient(verify=context, follow_redirects=False, trust_env=False)
            self._clients[key] = client
        return client


def is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
