"""Which URLs the node may call, and how a peer's endpoint and our path make one URL.

Two rules (issue 15's transport defects):

1. **The endpoint never chooses the path.** A peer's endpoint (from a handshake, a NodeInfo,
   an operator) is an API base `scheme://host[:port][/prefix]/api/v1`: no user info, query,
   fragment, percent-escape, backslash or dot segment. Our request path is appended to it, so
   `https://victim/x?` or `https://victim/admin#` cannot turn our announcement into a request
   for another resource.
2. **Outside development, only public https hosts.** With `development = False` a URL must be
   `https`, and its host, a literal address or every address its name resolves to, must be a
   global unicast address: loopback, link-local, private, shared, reserved, multicast and
   unspecified ranges are refused (a peer cannot make this node probe its own network).
   Name resolution happens just before the call; a name re-pointed between the check and the
   connection (DNS rebinding) is outside this check, as documented in docs/messaging.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from loopnode.services.messaging.ports import TransportError

__all__ = ["Resolver", "api_url", "check_url", "check_url_resolved", "is_public_address"]

API_SUFFIX = "/api/v1"


def api_url(endpoint: str, path: str) -> str:
    """`endpoint + path`, after checking that the endpoint is a plain API base."""
    parts = urlsplit(endpoint)
    base_path = parts.path.rstrip("/")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or "?" in endpoint
        or "#" in endpoint
        or "%" in base_path
        or "\\" in endpoint
        or any(segment in (".", "..") for segment in base_path.split("/"))
        or not base_path.endswith(API_SUFFIX)
    ):
        raise TransportError(
            "insecure", f"{endpoint!r} is not a peer API base (scheme://host[:port]/…/api/v1)"
        )
    if not path.startswith("/"):
        raise TransportError("error", f"request path {path!r} must start with '/'")
    return f"{parts.scheme}://{parts.netloc}{base_path}{path}"


def check_url(url: str, *, development: bool) -> None:
    """The checks that need no name resolution (scheme, literal addresses)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError("error", f"{url}: only http and https peers are supported")
    if development:
        return
    if parts.scheme != "https":
        raise TransportError("insecure", f"{url}: peers must be reached over https")
    host = parts.hostname.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        raise TransportError("insecure", f"{url}: loopback hosts are refused")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not is_public_address(address):
        raise TransportError("insecure", f"{url}: {host} is not a public address")


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (scope ids dropped)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


async def check_url_resolved(
    url: str, *, development: bool, resolve: Resolver = system_resolve
) -> None:
    """`check_url`, then (outside development) every address the host name resolves to."""
    check_url(url, development=development)
    if development:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return
    try:
        addresses = await resolve(host, parts.port or 443)
    except OSError as exc:
        raise TransportError("unreachable", f"{url}: cannot resolve {host}: {exc}") from exc
    for text in addresses:
        address = ipaddress.ip_address(text)
        if not is_public_address(address):
            raise TransportError("insecure", f"{url}: {host} resolves to {address}, not public")


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address (IPv4-mapped IPv6 judged by its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
