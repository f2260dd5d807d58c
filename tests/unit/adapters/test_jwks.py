"""An external OIDC issuer: discovery, JWKS cached and refreshed on key rotation, issuer and
audience checked (issue 15 item 1). The identity provider is an in-process httpx transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key
from jwt.algorithms import RSAAlgorithm

from loopnode.adapters.jwks import OidcKeys, issuer_of
from loopnode.domain.errors import Unauthorized
from loopnode.services.access.tokens import TokenVerifier
from tests.fakes import FakeClock

ISSUER = "https://idp.example/realms/city"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
AUDIENCE = "https://munich.example"


def _rsa() -> RSAPrivateKey:
    return generate_private_key(public_exponent=65537, key_size=2048)


class FakeIdp:
    def __init__(self) -> None:
        self.keys: dict[str, RSAPrivateKey] = {"k1": _rsa()}
        self.issuer = ISSUER
        self.jwks_fetches = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY:
            body = {"issuer": self.issuer, "jwks_uri": f"{ISSUER}/certs"}
            return httpx.Response(200, json=body)
        if str(request.url) == f"{ISSUER}/certs":
            self.jwks_fetches += 1
            keys = []
            for kid, key in self.keys.items():
                jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404)

    def token(self, kid: str, clock: FakeClock, **claims: Any) -> str:
        now = int(clock.now().timestamp())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": now, "exp": now + 600}
        body["roles"] = ["trader"]
        body.update(claims)
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[FakeIdp, OidcKeys, TokenVerifier, FakeClock, Ticks]:
    idp = FakeIdp()
    ticks = Ticks()
    client = httpx.Client(transport=httpx.MockTransport(idp.handler))
    keys = OidcKeys(
        DISCOVERY, cache_s=300, issuer=issuer_of(DISCOVERY), client=client, monotonic=ticks
    )
    clock = FakeClock()
    verifier = TokenVerifier({ISSUER: keys}, clock, audience=AUDIENCE)
    return idp, keys, verifier, clock, ticks


def test_a_token_of_the_identity_provider_is_accepted(setup: Any) -> None:
    idp, _keys, verifier, clock, _ = setup
    principal = verifier.verify(idp.token("k1", clock, organisation="acme"))
    assert principal.roles == ("trader",)
    assert principal.subject == "u1" and principal.organisation == "acme"


def test_keys_are_cached(setup: Any) -> None:
    idp, _keys, verifier, clock, ticks = setup
    for _ in range(5):
        verifier.verify(idp.token("k1", clock))
        ticks.now += 10
    assert idp.jwks_fetches == 1
    ticks.now += 300
    verifier.verify(idp.token("k1", clock))
    assert idp.jwks_fetches == 2


def test_a_rotated_key_is_fetched_once_and_unknown_kids_do_not_hammer(setup: Any) -> None:
    idp, _keys, verifier, clock, ticks = setup
    verifier.verify(idp.token("k1", clock))
    idp.keys["k2"] = _rsa()
    ticks.now += 31
    assert verifier.verify(idp.token("k2", clock)).subject == "u1"
    assert idp.jwks_fetches == 2
    forged = _rsa()
    idp_token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": 1, "exp": 2},
        forged,
        algorithm="RS256",
        headers={"kid": "k9"},
    )
    for _ in range(5):
        with pytest.raises(Unauthorized):
            verifier.verify(idp_token)
    assert idp.jwks_fetches == 2  # within MIN_REFRESH_S of the last fetch


def test_a_discovery_document_naming_another_issuer_is_refused(setup: Any) -> None:
    idp, _keys, verifier, clock, _ = setup
    idp.issuer = "https://evil.example"
    with pytest.raises(Unauthorized, match="another issuer"):
        verifier.verify(idp.token("k1", clock))


def test_wrong_audience_and_lifetime_are_refused(setup: Any) -> None:
    idp, _keys, verifier, clock, _ = setup
    with pytest.raises(Unauthorized, match="aud"):
        verifier.verify(idp.token("k1", clock, aud="https://vienna.example"))
    now = int(clock.now().timestamp())
    with pytest.raises(Unauthorized, match="one hour"):
        verifier.verify(idp.token("k1", clock, exp=now + 3700))


def test_an_rs256_token_relabelled_as_eddsa_is_refused(setup: Any) -> None:
    idp, _keys, verifier, clock, _ = setup
    token = idp.token("k1", clock)
    header = jwt.utils.base64url_encode(json.dumps({"alg": "EdDSA", "kid": "k1"}).encode())
    relabelled = header.decode() + token[token.index(".") :]
    with pytest.raises(Unauthorized, match="does not match"):
        verifier.verify(relabelled)


def test_an_unreachable_identity_provider_is_401_not_500(setup: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    keys = OidcKeys(
        DISCOVERY,
        cache_s=300,
        issuer=ISSUER,
        client=httpx.Client(transport=httpx.MockTransport(down)),
    )
    idp, _k, _v, clock, _ = setup
    verifier = TokenVerifier({ISSUER: keys}, clock, audience=AUDIENCE)
    with pytest.raises(Unauthorized, match="cannot be reached"):
        verifier.verify(idp.token("k1", clock))
