"""API keys: the credential for writes (DECISIONS 25, spec §10.2 "tokens MUST expire").

A key is shown once, at creation; the node stores only its SHA-256 (the keys are 256-bit
random, so a slow password hash would add latency without adding safety). Every key expires:
30 days by default (`api_key_default_ttl_days`), never more than a year. `Principal.roles`
names what the key may do (one of `tokens.ROLES`, `operator` by default); keys created
before roles existed carry `writer`, which counts as `operator`.

Checking a key costs no transaction of its own on most requests: the stored key is kept in
memory for `cache_s` seconds (`api_key_cache_s`, default 5) after it was read. Expiry is still
checked against the clock on every request, and a revocation made by this process drops the
cache at once; a revocation made elsewhere (`loopnode key revoke`, another worker) is seen
within `cache_s` seconds — the documented revocation delay. Unknown keys are not cached, so a
new key works at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from loopnode.domain.errors import InvalidRequest, Unauthorized
from loopnode.domain.times import from_us, to_us
from loopnode.services.ports import ApiKeyRow, Clock, UnitOfWorkFactory

KEY_PREFIX = "lnk_"
CACHE_SIZE = 4096
KEY_ROLES = ("operator", "registrar", "trader", "voter", "auditor")
_TTL = re.compile(r"^([1-9][0-9]{0,5})([smhdwy])\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the name of their credential and what it may do."""

    name: str
    kind: str
    roles: tuple[str, ...]
    organisation: str | None = None
    subject: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    name: str
    secret: str
    expires_at: str


def parse_ttl(text: str) -> timedelta:
    """`90d`, `12h`, `1y`... as a duration."""
    match = _TTL.match(text.strip())
    if match is None:
        raise InvalidRequest(f"TTL {text!r} is not a number followed by s, m, h, d, w or y")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        default_ttl_days: int,
        max_ttl_days: int,
        cache_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._default = timedelta(days=default_ttl_days)
        self._max = timedelta(days=max_ttl_days)
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, ApiKeyRow]] = {}  # secret hash → (read at, row)

    def create(self, name: str, ttl: timedelta | None = None, role: str = "operator") -> IssuedKey:
        lifetime = ttl or self._default
        if lifetime > self._max:
            raise InvalidRequest(f"an API key may live at most {self._max.days} days")
        if not name.strip() or len(name) > 120:
            raise InvalidRequest("an API key needs a name of 1-120 characters")
        if role not in KEY_ROLES:
            raise InvalidRequest(f"unknown role {role!r}; roles are {', '.join(KEY_ROLES)}")
        now = self._clock.now()
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        expires = now + lifetime
        row = ApiKeyRow(key_id, name, secret_hash(secret), (role,), to_us(now), to_us(expires))
        with self._uow(write=True) as uow:
            uow.api_keys.insert(row)
        return IssuedKey(key_id, name, secret, expires.isoformat())

    def authenticate(self, secret: str) -> Principal:
        if not secret.startswith(KEY_PREFIX):
            raise Unauthorized("the credential is not a valid API key")
        row = self._stored(secret_hash(secret))
        if row is None:
            raise Unauthorized("the credential is not a valid API key")
        if row.revoked_us is not None:
            raise Unauthorized("the API key has been revoked")
        if to_us(self._clock.now()) >= row.expires_us:
            raise Unauthorized(f"the API key expired at {from_us(row.expires_us).isoformat()}")
        roles = tuple("operator" if r == "writer" else r for r in row.roles)
        return Principal(
            name=f"apikey:{row.name}", kind="api-key", roles=roles, subject=f"apikey:{row.key_id}"
        )

    def list(self) -> list[ApiKeyRow]:
        with self._uow() as uow:
            return uow.api_keys.all()

    def revoke(self, key_id: str) -> bool:
        with self._uow(write=True) as uow:
            revoked = uow.api_keys.revoke(key_id, to_us(self._clock.now()))
        self._cache.clear()  # revocations are rare: this process refuses the key at once
        return revoked

    def _stored(self, digest: str) -> ApiKeyRow | None:
        now = self._monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        with self._uow() as uow:
            row = uow.api_keys.by_secret_hash(digest)
        if row is not None and self._cache_s > 0:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[digest] = (now, row)
        return row
