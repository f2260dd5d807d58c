"""Bearer JWTs on HTTP (issue 15 item 1): the built-in issuer's tokens work, and expired,
forged, wrong-audience, wrong-issuer, over-one-hour, `alg: none` and HMAC-confused tokens are
refused with 401 and a §8.3 body, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from loopnode.cli.main import app

PEERS = "/api/v1/federation/peers"  # operator/auditor only


def _claims(container: Any, **overrides: Any) -> dict[str, Any]:
    now = int(container.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": "https://munich.example",
        "aud": "https://munich.example",
        "sub": "alice",
        "iat": now,
        "exp": now + 900,
        "roles": ["auditor"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(container: Any, claims: dict[str, Any], key: Any = None) -> str:
    signing = container.auth.signing_key
    return jwt.encode(
        claims, key or signing.private, algorithm="EdDSA", headers={"kid": signing.kid}
    )


def _refused(client: Any, token: str, words: str) -> None:
    answer = client.get(PEERS, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "UNAUTHORIZED"
    assert words in error["message"]
    assert set(answer.json()) == {"error"}


def test_a_token_from_the_builtin_issuer_is_accepted(client: Any, container: Any) -> None:
    issued = container.auth.issuer.issue(subject="alice", role="auditor", ttl=timedelta(minutes=15))
    answer = client.get(PEERS, headers={"Authorization": f"Bearer {issued.token}"})
    assert answer.status_code == 200, answer.text


def test_a_hand_made_valid_token_is_accepted(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container))
    assert client.get(PEERS, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_expired_token_is_refused(client: Any, container: Any) -> None:
    token = container.auth.issuer.issue(subject="a", role="auditor", ttl=timedelta(minutes=5))
    container.clock.advance(minutes=6)
    _refused(client, token.token, "expired")


def test_a_forged_token_is_refused(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container), key=Ed25519PrivateKey.generate())
    _refused(client, token, "not valid")


def test_a_token_with_a_changed_claim_is_refused(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container, roles=["trader"]))
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["operator"]
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(client, f"{head}.{raw}.{signature}", "not valid")


def test_a_token_for_another_audience_is_refused(client: Any, container: Any) -> None:
    _refused(client, _signed(container, _claims(container, aud="https://vienna.example")), "aud")


def test_a_token_from_another_issuer_is_refused(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container, iss="https://evil.example"))
    _refused(client, token, "issuer")


def test_a_token_living_over_one_hour_is_refused(client: Any, container: Any) -> None:
    claims = _claims(container)
    claims["exp"] = claims["iat"] + 3601
    _refused(client, _signed(container, claims), "one hour")


def test_a_token_without_iat_that_ends_after_one_hour_is_refused(
    client: Any, container: Any
) -> None:
    claims = _claims(container, iat=None)
    claims["exp"] += 7200
    _refused(client, _signed(container, claims), "iat")


def test_a_token_with_alg_none_is_refused(client: Any, container: Any) -> None:
    token = jwt.encode(_claims(container), None, algorithm="none")
    _refused(client, token, "'none'")


def test_an_hmac_token_keyed_with_the_public_jwk_is_refused(client: Any, container: Any) -> None:
    public_x = container.auth.signing_key.public_jwk["x"].encode()
    header = {"alg": "HS256", "typ": "JWT"}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in (header, _claims(container))
    ]
    import hashlib
    import hmac

    signature = hmac.new(public_x, b".".join(segments), hashlib.sha256).digest()
    token = b".".join([*segments, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
    _refused(client, token, "HS256")


@pytest.mark.parametrize("garbage", ["a.b.c", "eyJhbGciOiJFZERTQSJ9..", "x.y.z.w"])
def test_garbage_bearers_are_401(client: Any, garbage: str) -> None:
    answer = client.get(PEERS, headers={"Authorization": f"Bearer {garbage}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_token_without_a_known_role_is_refused_with_403(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container, roles=["root"]))
    answer = client.get(PEERS, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "FORBIDDEN"


def test_the_issuer_refuses_more_than_one_hour(container: Any) -> None:
    from loopnode.domain.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        container.auth.issuer.issue(subject="a", role="trader", ttl=timedelta(minutes=61))


def test_jwks_serves_the_token_key_and_not_the_node_key(client: Any, container: Any) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [container.auth.signing_key.kid]
    token = container.auth.issuer.issue(subject="a", role="trader", ttl=timedelta(minutes=1))
    verified = jwt.decode(
        token.token,
        jwt.PyJWK(keys[0]),
        algorithms=["EdDSA"],
        audience="https://munich.example",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert verified["sub"] == "a"


def test_token_issue_cli_prints_a_working_token(tmp_path: Any) -> None:
    runner = CliRunner()
    init = ["init", "--data-dir", str(tmp_path), "--node-id", "munich.loop", "--name", "Munich"]
    init += ["--country", "DE", "--city-code", "MUC", "--city", "Munich"]
    init += ["--lat", "48.1", "--lon", "11.5", "--base-url", "https://munich.example"]
    assert runner.invoke(app, init).exit_code == 0
    issue = ["token", "issue", "--data-dir", str(tmp_path), "--role", "registrar"]
    issue += ["--subject", "acme-clerk", "--ttl", "15m", "--organisation", "acme"]
    done = runner.invoke(app, issue)
    assert done.exit_code == 0, done.output
    token = done.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["roles"] == ["registrar"] and claims["organisation"] == "acme"
    assert claims["exp"] - claims["iat"] == 900
    key_file = tmp_path / "token_signing_ed25519.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes() != (tmp_path / "node_ed25519.key").read_bytes()
    too_long = runner.invoke(app, [*issue[:-4], "--ttl", "2h"])
    assert too_long.exit_code == 2


def test_the_evidence_entry_names_the_token_subject_and_organisation(
    client: Any, container: Any, reference_dir: Any
) -> None:
    issued = container.auth.issuer.issue(
        subject="clerk-7", role="registrar", ttl=timedelta(minutes=5), organisation="acme"
    )
    document = json.loads(
        (reference_dir / "examples" / "01-material-registration.json").read_text()
    )
    headers = {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/ld+json"}
    created = client.post("/api/v1/material", json=document, headers=headers)
    assert created.status_code == 201, created.text
    entries = client.get("/api/v1/evidence").json()
    listed = entries.get("entries") or entries.get("items") or entries
    assert any(e.get("actor") == "token:clerk-7@acme" for e in listed), listed
    assert client.get("/api/v1/evidence/verify").json()["intact"] is True


def test_an_overlong_subject_is_401_not_a_database_error(client: Any, container: Any) -> None:
    token = _signed(container, _claims(container, sub="s" * 300))
    _refused(client, token, "too long")
