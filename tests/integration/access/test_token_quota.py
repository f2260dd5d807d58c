"""Bearer tokens of one subject share one per-user quota (§10.4): minting a fresh token is not
a fresh quota. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fakes import FakeClock
from tests.integration.access.test_ratelimit_api import assert_refused, make_node


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Any]:
    built = make_node(tmp_path, database_url, clock, rate_limit_user="3/minute")
    yield built
    built.close()


def test_fresh_tokens_of_one_subject_share_its_quota(node: Any) -> None:
    from loopnode.web.app import create_app

    def bearer(subject: str) -> dict[str, str]:
        issued = node.auth.issuer.issue(subject=subject, role="trader", ttl=timedelta(minutes=5))
        return {"Authorization": f"Bearer {issued.token}"}

    with TestClient(create_app(container=node), raise_server_exceptions=False) as api:
        answers = [api.get("/api/v1/material", headers=bearer("u-1")).status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        assert_refused(api.get("/api/v1/material", headers=bearer("u-1")), "user")
        assert api.get("/api/v1/material", headers=bearer("u-2")).status_code == 200
