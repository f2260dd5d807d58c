"""Key sources for bearer JWTs: an OIDC issuer's JWKS over HTTPS, and the built-in key file.

`OidcKeys` reads the discovery document (`issuer`, `jwks_uri`) once, then the JWKS, and keeps
it for `jwks_cache_s`. A token whose `kid` is not in the cached set triggers one refresh (key
rotation at the issuer), at most once every `MIN_REFRESH_S`, so that tokens with made-up kids
cannot make the node hammer the issuer. Responses are capped at `MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.config import Settings
from loopnode.domain.errors import ConfigurationError, Unauthorized
from loopnode.services.access.tokens import (
    ApiKeyLookup,
    Authenticator,
    KeySource,
    SigningKey,
    StaticKeys,
    TokenIssuer,
    TokenVerifier,
)
from loopnode.services.ports import Clock

MAX_DOCUMENT_BYTES = 256 * 1024
MIN_REFRESH_S = 30.0
TIMEOUT_S = 5.0
WELL_KNOWN = "/.well-known/openid-configuration"


class OidcKeys:
    """The JWKS of the issuer named by an OIDC discovery URL, cached and refreshed."""

    def __init__(
        self,
        discovery_url: str,
        *,
        cache_s: float,
        issuer: str,
        client: httpx.Client | None = None,
        monotonic: Any = time.monotonic,
    ) -> None:
        self._discovery_url = discovery_url
        self.expected_issuer = issuer
        self._cache_s = cache_s
        self._client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
        self._now = monotonic
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            if self._now() - self._fetched_at > self._cache_s:
                self._refresh()
            key = self._find(kid)
            if key is None and self._now() - self._fetched_at > MIN_REFRESH_S:
                self._refresh()  # the issuer may have rotated its keys
                key = self._find(kid)
        if key is None:
            raise Unauthorized("the token was signed by a key its issuer does not publish")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if self._keys is None:
            return None
        usable = [k for k in self._keys.keys if k.public_key_use in (None, "sig")]
        if kid is None:
            return usable[0] if len(usable) == 1 else None
        return next((k for k in usable if k.key_id == kid), None)

    def _discover(self) -> None:
        if self._jwks_uri is not None:
            return
        document = self._get(self._discovery_url)
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise Unauthorized("the identity provider's discovery document has no issuer/jwks_uri")
        if issuer != self.expected_issuer:  # OIDC Discovery 1.0 §4.3
            raise Unauthorized("the identity provider's discovery document names another issuer")
        self._jwks_uri = jwks_uri

    def _refresh(self) -> None:
        try:
            self._discover()
            assert self._jwks_uri is not None
            self._keys = jwt.PyJWKSet.from_dict(self._get(self._jwks_uri))
        except jwt.PyJWTError as exc:
            raise Unauthorized("the identity provider's JWKS holds no usable key") from exc
        finally:
            self._fetched_at = self._now()

    def _get(self, url: str) -> dict[str, Any]:
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/json"}) as answer:
                if answer.status_code != 200:
                    raise Unauthorized(f"the identity provider answered {answer.status_code}")
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise Unauthorized("the identity provider's answer is too large")
        except httpx.HTTPError as exc:
            raise Unauthorized("the identity provider cannot be reached") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise Unauthorized("the identity provider's answer is not JSON") from exc
        if not isinstance(document, dict):
            raise Unauthorized("the identity provider's answer is not a JSON object")
        return document

    def close(self) -> None:
        self._client.close()


def issuer_of(discovery_url: str) -> str:
    """The issuer a discovery URL belongs to (OIDC Discovery 1.0 §4: issuer + well-known path)."""
    return discovery_url.removesuffix(WELL_KNOWN).rstrip("/")


def load_signing_key(path: Path, *, create: bool) -> SigningKey | None:
    """The built-in issuer's key from its own PEM file (0600); made on first use when `create`."""
    if not path.exists():
        if not create:
            return None
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_signing_key(path, create=False)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return SigningKey(private)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} does not hold an Ed25519 private key")
    return SigningKey(loaded)


@dataclass
class Auth:
    """The wired authentication parts (bootstrap keeps these on the Container)."""

    authenticator: Authenticator
    issuer: TokenIssuer | None
    signing_key: SigningKey | None
    oidc: OidcKeys | None


def build_auth(settings: Settings, clock: Clock, api_keys: ApiKeyLookup, *, create: bool) -> Auth:
    signing_key = load_signing_key(settings.token_key_path, create=create)
    issuers: dict[str, KeySource] = {}
    issuer = None
    if signing_key is not None:
        issuers[settings.builtin_issuer] = StaticKeys(signing_key.jwks())
        issuer = TokenIssuer(
            signing_key, clock, issuer=settings.builtin_issuer, audience=settings.audience
        )
    oidc = None
    if settings.oidc_discovery_url:
        oidc = OidcKeys(
            settings.oidc_discovery_url,
            cache_s=settings.jwks_cache_s,
            issuer=settings.oidc_issuer or issuer_of(settings.oidc_discovery_url),
        )
        issuers[oidc.expected_issuer] = oidc
    verifier = TokenVerifier(issuers, clock, audience=settings.audience) if issuers else None
    return Auth(Authenticator(api_keys, verifier), issuer, signing_key, oidc)
