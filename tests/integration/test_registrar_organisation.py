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
    from loopnode.services.apikeys import Principal
    from loopnode.services.ownership import ensure_holder, ensure_organisation

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
