"""A registrar changes only its own organisation's records (issue 15 item 2), on SQLite and
PostgreSQL: the organisation claim is recorded at registration, and a status update by a
registrar of another organisation (or of none) is 403; operators act for everyone."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest


def _bearer(container: Any, role: str, organisation: str | None) -> dict[str, str]:
    issued = container.auth.issuer.issue(
        subject=f"{role}-{organisation}",
        role=role,
        ttl=timedelta(minutes=10),
        organisation=organisation,
    )
    return {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/ld+json"}


def _example(reference_dir: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((reference_dir / "examples" / name).read_text())
    return document


@pytest.fixture
def registered(client: Any, container: Any, reference_dir: Path) -> dict[str, Any]:
    material = _example(reference_dir, "01-material-registration.json")
    answer = client.post(
        "/api/v1/material", json=material, headers=_bearer(container, "registrar", "acme")
    )
    assert answer.status_code == 201, answer.text
    with container.uow() as uow:
        assert uow.organisations.get("material", material["id"]) == "acme"
    return material


def test_the_own_organisation_may_update_the_status(
    client: Any, container: Any, reference_dir: Path, registered: dict[str, Any]
) -> None:
    update = _example(reference_dir, "10-material-status.json")
    answer = client.post(
        "/api/v1/material-status", json=update, headers=_bearer(container, "registrar", "acme")
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("organisation", ["globex", None])
def test_another_organisation_may_not(
    client: Any,
    container: Any,
    reference_dir: Path,
    registered: dict[str, Any],
    organisation: str | None,
) -> None:
    update = _example(reference_dir, "10-material-status.json")
    headers = _bearer(container, "registrar", organisation)
    answer = client.post("/api/v1/material-status", json=update, headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    assert "organisation" in answer.json()["error"]["message"]


def test_an_operator_may_update_any_record(
    client: Any, container: Any, reference_dir: Path, registered: dict[str, Any], auth: Any
) -> None:
    update = _example(reference_dir, "10-material-status.json")
    assert client.post("/api/v1/material-status", json=update, headers=auth).status_code == 201


def test_idempotent_registration_records_the_organisation_too(
    client: Any, container: Any, reference_dir: Path
) -> None:
    material = _example(reference_dir, "01-material-registration.json")
    headers = {**_bearer(container, "registrar", "initech"), "Idempotency-Key": "k-1"}
    for _ in range(2):
        answer = client.post("/api/v1/material", json=material, headers=headers)
        assert answer.status_code == 201, answer.text
    with container.uow() as uow:
        assert uow.organisations.get("material", material["id"]) == "initech"


def test_ownership_rules() -> None:
    from loopnode.domain.errors import Forbidden
    from loopnode.services.access.apikeys import Principal
    from loopnode.services.access.ownership import ensure_holder, ensure_organisation

    operator = Principal("o", "token", ("operator",))
    clerk = Principal("c", "token", ("registrar",), organisation="acme", subject="c")
    ensure_organisation(operator, None)
    ensure_organisation(clerk, "acme")
    with pytest.raises(Forbidden):
        ensure_organisation(clerk, "globex")
    with pytest.raises(Forbidden):
        ensure_organisation(clerk, None)
    trader = Principal("t", "token", ("trader",), subject="user:u-1@munich.loop")
    ensure_holder(trader, "user:u-1@munich.loop")
    ensure_holder(operator, "user:u-9@munich.loop")
    with pytest.raises(Forbidden):
        ensure_holder(trader, "user:u-2@munich.loop")
    with pytest.raises(Forbidden):
        ensure_holder(trader, None)


# -- every other route where a registrar changes a record -----------------------------------------
# A registrar-only credential reaches only the registrar routes (POLICY); one that also trades
# reaches offers, matches, transfers and transactions, and is held to its organisation there.


def _token(container: Any, roles: list[str], organisation: str | None) -> dict[str, str]:
    import jwt

    settings, key = container.settings, container.auth.signing_key
    now = int(container.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.builtin_issuer,
        "aud": settings.audience,
        "sub": f"{'+'.join(roles)}-{organisation}",
        "iat": now,
        "exp": now + 600,
        "roles": roles,
    }
    if organisation is not None:
        claims["organisation"] = organisation
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/ld+json"}


def _clerk(container: Any, organisation: str | None) -> dict[str, str]:
    return _token(container, ["registrar", "trader"], organisation)


@pytest.fixture
def acme(client: Any, container: Any) -> dict[str, str]:
    """Acme's material and product, registered by Acme's registrar."""
    from tests import lifecycle_payloads as p

    headers = _bearer(container, "registrar", "acme")
    for kind, body in (("material", p.material(value=100)), ("product", p.product())):
        answer = client.post(f"/api/v1/{kind}", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
    return _clerk(container, "acme")


def _refused(answer: Any) -> None:
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "FORBIDDEN" and "organisation" in error["message"]


@pytest.mark.parametrize(
    "subject", ["MAT-DE-MUC-2026-PLASTIC-A00001", "PRD-DE-MUC-2026-DESK-B00001"]
)
def test_offers_matches_and_transfers_on_anothers_passport_are_refused(
    client: Any, container: Any, acme: dict[str, str], subject: str
) -> None:
    from tests import lifecycle_payloads as p

    unit = "kg" if subject.startswith("MAT-") else "piece"
    globex = _clerk(container, "globex")
    _refused(client.post("/api/v1/offer", json=p.offer(subject, 10, unit), headers=globex))
    answer = client.post("/api/v1/offer", json=p.offer(subject, 10, unit), headers=acme)
    assert answer.status_code == 201, answer.text
    offer_id = answer.json()["id"]
    _refused(client.post("/api/v1/match", json=p.match(offer_id, subject), headers=globex))
    match = client.post(
        "/api/v1/match", json=p.match(offer_id, subject, status="accepted"), headers=acme
    )
    assert match.status_code == 201, match.text
    match_id = match.json()["id"]
    _refused(client.post("/api/v1/transfer", json=p.transfer(match_id, subject), headers=globex))
    transfer = client.post("/api/v1/transfer", json=p.transfer(match_id, subject), headers=acme)
    assert transfer.status_code == 201, transfer.text
    for entity, entity_id, target in (
        ("transfer", transfer.json()["id"], "cancelled"),
        ("match", match_id, "expired"),
        ("offer", offer_id, "withdrawn"),
    ):
        path = f"/api/v1/{entity}/{entity_id}/status"
        _refused(client.post(path, json={"status": target}, headers=globex))
        _refused(client.post(path, json={"status": target}, headers=_clerk(container, None)))
        answer = client.post(path, json={"status": target}, headers=acme)
        assert answer.status_code == 200, answer.text


def test_transactions_about_anothers_material_are_refused(
    client: Any, container: Any, acme: dict[str, str], auth: dict[str, str]
) -> None:
    from tests import lifecycle_payloads as p

    globex = _clerk(container, "globex")
    _refused(client.post("/api/v1/transaction", json=p.transaction(), headers=globex))
    assert client.post("/api/v1/transaction", json=p.transaction(), headers=acme).status_code == 201
    status = p.transaction_status("confirmed")
    _refused(client.post("/api/v1/transaction", json=status, headers=globex))
    path = "/api/v1/transaction/TXN-2026-06-01-001/status"
    _refused(client.post(path, json={"status": "confirmed"}, headers=globex))
    answer = client.post(path, json={"status": "confirmed"}, headers=acme)
    assert answer.status_code == 200, answer.text
    # Operators act for everyone.
    answer = client.post(path, json={"status": "in_transit"}, headers=auth)
    assert answer.status_code == 200, answer.text


def test_a_trader_without_the_registrar_role_trades_any_passport(
    client: Any, container: Any, acme: dict[str, str]
) -> None:
    from tests import lifecycle_payloads as p

    trader = _token(container, ["trader"], "globex")
    answer = client.post("/api/v1/offer", json=p.offer(), headers=trader)
    assert answer.status_code == 201, answer.text


def test_a_registrar_withdraws_only_its_own_material(
    client: Any, container: Any, acme: dict[str, str]
) -> None:
    from tests import lifecycle_payloads as p

    withdraw = p.status_update(status="withdrawn")
    _refused(
        client.post(
            "/api/v1/material-status",
            json=withdraw,
            headers=_bearer(container, "registrar", "globex"),
        )
    )
    answer = client.post(
        "/api/v1/material-status", json=withdraw, headers=_bearer(container, "registrar", "acme")
    )
    assert answer.status_code == 201, answer.text
