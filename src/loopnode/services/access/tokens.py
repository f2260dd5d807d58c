"""OAuth 2.0 bearer tokens as JWTs (spec §10.2): the built-in issuer and the verifier.

The verifier accepts a token only when all of these hold: its `alg` is an asymmetric algorithm
that matches the key (never `none`, never HMAC), the signature verifies against a key of the
issuer's JWKS, `iss` is a configured issuer, `aud` names this node, `exp`, `iat` and `sub` are
present, the token has not expired and lives at most one hour (`exp - iat <= 3600`, §10.2).
Roles come from the `roles` claim (a list) or `role` (a string); unknown names are dropped.
The registrar's organisation comes from the `organisation` claim.

The built-in issuer signs with its own Ed25519 key (`token_signing_ed25519.pem`, mode 0600),
never with the node's federation key; the node serves the public half at
`/.well-known/jwks.json` so that other services can verify the tokens too.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from loopnode.domain.errors import InvalidRequest, Unauthorized
from loopnode.services.access.apikeys import KEY_ROLES, Principal
from loopnode.services.ports import Clock

MAX_LIFETIME = timedelta(hours=1)
LEEWAY_S = 30
MAX_SUBJECT = 100
MAX_ORGANISATION = 50
ROLES = KEY_ROLES
# Asymmetric only: HS* would let anyone holding the (public) JWKS forge tokens.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class KeySource(Protocol):
    """Where an issuer's verification keys come from (the JWKS, cached)."""

    def key_for(self, kid: str | None) -> jwt.PyJWK: ...


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def key_id(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an OKP key, used as its `kid`."""
    import base64
    import hashlib
    import json

    members = {name: public_jwk[name] for name in ("crv", "kty", "x")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


class SigningKey:
    """The built-in issuer's Ed25519 key and its public JWK."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        jwk.update({"kid": key_id(jwk), "alg": "EdDSA", "use": "sig"})
        self.public_jwk = jwk

    @property
    def kid(self) -> str:
        return str(self.public_jwk["kid"])

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self.public_jwk)]}


class StaticKeys:
    """A KeySource over a fixed JWKS (the built-in issuer's own key)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._set = jwt.PyJWKSet.from_dict(dict(jwks))

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        for key in self._set.keys:
            if kid is None or key.key_id == kid:
                return key
        raise Unauthorized("the token was signed by a key this node does not know")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: str


class TokenIssuer:
    """`loopnode token issue`: short-lived tokens for small nodes without an identity provider."""

    def __init__(self, key: SigningKey, clock: Clock, *, issuer: str, audience: str) -> None:
        self._key = key
        self._clock = clock
        self._issuer = issuer
        self._audience = audience

    def issue(
        self, *, subject: str, role: str, ttl: timedelta, organisation: str | None = None
    ) -> IssuedToken:
        check_role(role)
        if not subject.strip() or len(subject) > MAX_SUBJECT:
            raise InvalidRequest(f"a token needs a subject of 1-{MAX_SUBJECT} characters")
        if organisation is not None and not 0 < len(organisation) <= MAX_ORGANISATION:
            raise InvalidRequest(f"an organisation has 1-{MAX_ORGANISATION} characters")
        if ttl <= timedelta(0) or ttl > MAX_LIFETIME:
            raise InvalidRequest("a token lives more than 0 seconds and at most one hour (§10.2)")
        now = self._clock.now()
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(12),
            "roles": [role],
        }
        if organisation:
            claims["organisation"] = organisation
        token = jwt.encode(
            claims, self._key.private, algorithm="EdDSA", headers={"kid": self._key.kid}
        )
        return IssuedToken(token, (now + ttl).isoformat())


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


class TokenVerifier:
    """Checks bearer JWTs against the key sources of the trusted issuers."""

    def __init__(self, issuers: Mapping[str, KeySource], clock: Clock, *, audience: str) -> None:
        self._issuers = dict(issuers)
        self._clock = clock
        self._audience = audience

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("the bearer token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ASYMMETRIC:
            raise Unauthorized(f"the token's algorithm {alg!r} is not accepted")
        issuer = unverified.get("iss")
        source = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if source is None:
            raise Unauthorized("the token's issuer is not trusted by this node")
        kid = header.get("kid")
        key = source.key_for(kid if isinstance(kid, str) else None)
        if key.algorithm_name != alg:
            raise Unauthorized("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=issuer,
                leeway=LEEWAY_S,
                # Time is checked below against the node's clock (injected, testable).
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("the bearer token is not meant for this node (aud)") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from exc
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        iat, exp, subject = claims["iat"], claims["exp"], claims["sub"]
        if not all(isinstance(v, int | float) for v in (iat, exp)) or not isinstance(subject, str):
            raise Unauthorized("the bearer token's claims have the wrong types")
        if exp - iat > MAX_LIFETIME.total_seconds():
            raise Unauthorized("the bearer token lives longer than one hour (§10.2)")
        now = self._clock.now().timestamp()
        if now >= exp + LEEWAY_S:
            raise Unauthorized("the bearer token has expired")
        nbf = claims.get("nbf", iat)
        if not isinstance(nbf, int | float) or max(iat, nbf) > now + LEEWAY_S:
            raise Unauthorized("the bearer token is not valid yet")
        if exp - now > MAX_LIFETIME.total_seconds() + LEEWAY_S:
            raise Unauthorized("the bearer token lives longer than one hour (§10.2)")
        named = claims.get("roles", [])
        if isinstance(claims.get("role"), str):
            named = [*named, claims["role"]] if isinstance(named, list) else [claims["role"]]
        roles = tuple(r for r in ROLES if isinstance(named, list) and r in named)
        organisation = claims.get("organisation")
        if not isinstance(organisation, str) or not organisation:
            organisation = None
        if not 0 < len(subject) <= MAX_SUBJECT or len(organisation or "") > MAX_ORGANISATION:
            raise Unauthorized("the bearer token's sub or organisation is too long")
        # The evidence log's actor: who acted, and for which organisation (≤ 160 characters).
        name = f"token:{subject}" + (f"@{organisation}" if organisation else "")
        return Principal(
            name=name,
            kind="token",
            roles=roles,
            organisation=organisation,
            subject=subject,
        )


class Authenticator:
    """One entry point for every client credential: API keys (`lnk_…`) and bearer JWTs."""

    def __init__(self, api_keys: ApiKeyLookup, tokens: TokenVerifier | None) -> None:
        self._api_keys = api_keys
        self._tokens = tokens

    def authenticate(self, credential: str) -> Principal:
        if looks_like_jwt(credential):
            if self._tokens is None:
                raise Unauthorized("this node accepts no bearer tokens")
            return self._tokens.verify(credential)
        return self._api_keys.authenticate(credential)


class ApiKeyLookup(Protocol):
    def authenticate(self, secret: str) -> Principal: ...
