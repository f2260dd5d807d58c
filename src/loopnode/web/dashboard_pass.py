"""The dashboard's page pass: what lets one person's page loads not exhaust the address quota.

One dashboard page makes 3-12 API calls, so a person clicking through it reached the anonymous
quota (100/minute per address) within a minute. Each page is rendered with a pass (bound to
the client address, valid for `TTL_S`), and its scripts send it as `X-Dashboard-Pass`. The
rate limiter charges a *read* (GET or HEAD under `/api/`, or a search) that carries a valid
pass to the `dashboard` quota of that address (`rate_limit_dashboard`, 600/minute) instead of
the anonymous or user quota; a search still counts against the search quota too. The page
load itself is charged as before, and writes never use the pass.

No bypass for scripts: the pass is an HMAC over the expiry and the address, so it cannot be
invented, and one fetched by a script only moves that address's reads to a budget of its own,
which is as bounded as any other. The HMAC key is derived from the node's private key, so every
worker and host of a node recognises its passes; a node without a key (tests, before `init`)
uses a random key per process, and a pass another process issued is then charged as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

HEADER = "x-dashboard-pass"
TTL_S = 15 * 60
_CONTEXT = b"loopnode dashboard pass v1"


class DashboardPasses:
    def __init__(
        self, secret: Callable[[], bytes | None], now: Callable[[], float] = time.time
    ) -> None:
        self._secret_source = secret
        self._secret: bytes | None = None
        self._now = now

    def issue(self, identity: str) -> str:
        """A pass for the page about to be served to `identity` (the client address)."""
        expires = int(self._now()) + TTL_S
        return f"{expires}.{self._mac(expires, identity)}"

    def valid(self, presented: str, identity: str) -> bool:
        """Is `presented` a pass this node issued to `identity` that has not expired?"""
        expires_text, _, mac = presented.partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12 or not mac:
            return False
        expires = int(expires_text)
        now = self._now()
        if not now < expires <= now + TTL_S:
            return False
        return hmac.compare_digest(mac, self._mac(expires, identity))

    def _mac(self, expires: int, identity: str) -> str:
        message = f"{expires}|{identity}".encode()
        digest = hmac.new(self._key(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _key(self) -> bytes:
        if self._secret is None:
            material = self._secret_source()
            if material is None:
                self._secret = secrets.token_bytes(32)
            else:
                self._secret = hmac.new(material, _CONTEXT, hashlib.sha256).digest()
        return self._secret
