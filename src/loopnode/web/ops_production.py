"""Production mode: the reasons a node refuses to start (`loopnode serve --production`).

`production_problems` lists every reason, each one line, so an operator fixes them in one go:
- plain HTTP on a non-loopback address, unless a TLS-terminating proxy is declared
  (`tls_proxy = true`), and a `base_url` that is not https;
- secrets missing or weak: the node's signing key absent or readable by others, a TLS key
  readable by others, a short or well-known database or Redis password, a Redis on another
  host without a password;
- writes that would be public: a write route (POST/PUT/PATCH/DELETE) that no credential or
  signature guards, or a CORS allow-list of `*`.
Routes that authenticate their body themselves (handshake, key notices, core-dp envelopes)
and searches sent as POST are declared below; a new guard dependency belongs in WRITE_GUARDS.
"""

from __future__ import annotations

import ipaddress
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from loopnode.config import Settings
from loopnode.web.auth import writer
from loopnode.web.middleware import flat_routes
from loopnode.web.node_auth import signed_peer

WRITE_GUARDS: tuple[Callable[..., Any], ...] = (writer, signed_peer)
SELF_AUTHENTICATED = frozenset(
    {"/api/v1/federation/handshake", "/api/v1/federation/keys", "/api/v1/core-dp/messages"}
)
READS_BY_POST = re.compile(r"/api/v1/[a-z][a-z-]*/search")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WEAK_PASSWORDS = frozenset(
    {"postgres", "password", "secret", "changeme", "admin", "root", "loop", "loopnode", "redis"}
)
MIN_PASSWORD = 12


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _transport(settings: Settings, host: str, https: bool) -> list[str]:
    problems = []
    if not https and not is_loopback(host) and not settings.tls_proxy:
        problems.append(
            f"plain HTTP on {host}: give tls_cert and tls_key, or set tls_proxy = true "
            "when a TLS-terminating reverse proxy is in front"
        )
    if not settings.base_url.startswith("https://"):
        problems.append(f"base_url {settings.base_url} is not https://")
    return problems


def _private_file(path: Path, what: str) -> list[str]:
    if not path.exists():
        return [f"{what} {path} is missing"]
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [f"{what} {path} is readable by others: chmod 600 {path}"]
    return []


def _password(url: str, what: str) -> list[str]:
    if not url:
        return []
    parts = urlsplit(url)
    password = parts.password
    if password is None:
        if what == "Redis" and parts.hostname and not is_loopback(parts.hostname):
            return [f"{what} at {parts.hostname} has no password"]
        return []
    if len(password) < MIN_PASSWORD or password.lower() in WEAK_PASSWORDS:
        return [f"the {what} password is weak (use {MIN_PASSWORD}+ random characters)"]
    return []


def _secrets(settings: Settings) -> list[str]:
    problems = _private_file(settings.private_key_path, "the node signing key")
    if settings.tls_key:
        problems += _private_file(Path(settings.tls_key), "the TLS key")
    problems += _password(settings.database_url, "database")
    problems += _password(settings.redis_url, "Redis")
    return problems


def _guarded(route: APIRoute) -> bool:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call in WRITE_GUARDS:
            return True
        pending.extend(dependant.dependencies)
    return False


def public_writes(routes: Iterable[BaseRoute]) -> list[str]:
    """Write routes that neither a credential nor a signature guards."""
    found = []
    for route in flat_routes(routes):
        methods = set(route.methods or ()) if isinstance(route, APIRoute) else set()
        if not isinstance(route, APIRoute) or not (methods & WRITE_METHODS):
            continue
        if route.path in SELF_AUTHENTICATED or READS_BY_POST.fullmatch(route.path):
            continue
        if not _guarded(route):
            found.append(f"{','.join(sorted(methods))} {route.path}")
    return found


def production_problems(
    settings: Settings, *, host: str, https: bool, routes: Iterable[BaseRoute]
) -> list[str]:
    """Every reason not to serve this configuration in production (empty: go ahead)."""
    problems = _transport(settings, host, https) + _secrets(settings)
    problems += [
        f"{route} would be writable without credentials" for route in public_writes(routes)
    ]
    if "*" in settings.cors_allow_origins:
        problems.append("cors_allow_origins contains '*': list the allowed origins")
    return problems
