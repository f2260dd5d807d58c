"""Storage failures reach the web layer as a service error, rendered in web/errors.py only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from loopnode.adapters.storage.uow import SqlUnitOfWork
from loopnode.domain.errors import StorageUnavailable
from loopnode.web.errors import COREDP_STATUS


def test_an_operational_error_inside_a_unit_of_work_is_storage_unavailable(
    container: Any,
) -> None:
    uow = container.uow(write=True)
    assert isinstance(uow, SqlUnitOfWork)
    with pytest.raises(StorageUnavailable) as caught, uow:
        connection = uow.records._c
        if connection.dialect.name == "sqlite":
            connection.execute(text("SELECT * FROM no_such_table"))
        else:  # the server ends our session: the connection is lost mid-transaction
            connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert caught.value.message.startswith("the database could not complete the step")


def test_core_dp_storage_failure_is_a_504_timeout_core_dp_body(
    client: Any, container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: Any) -> Any:
        raise StorageUnavailable("database is locked")

    monkeypatch.setattr(container.coredp.receiver, "receive", unavailable)
    response = client.post("/api/v1/core-dp/messages", json={"message_id": "m"})
    assert response.status_code == COREDP_STATUS["timeout"] == 504
    body = response.json()
    assert body["code"] == "timeout"
    assert body["retryable"] is True
    assert "locked" not in body["message"]


def test_storage_failure_on_a_protocol_route_is_a_503_naming_nothing_internal(
    client: Any, container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise StorageUnavailable("disk I/O error at /secret/path")

    monkeypatch.setattr(container.registry, "document_json", unavailable)
    response = client.get("/api/v1/material/MAT-DE-MUC-2026-PLASTIC-0000000001")
    assert response.status_code == 503  # issue 15: retrying may work, so say when
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.text
