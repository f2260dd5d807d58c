"""A crash mid-registration never lets a retry register a minted id twice (issue 15).

The process dies after the record is written and before the stored response is: simulated by
making the idempotency store fail at that very point. The record, its evidence and the key
must commit together, so the failed attempt leaves nothing and the retry (even after the old
5-minute abandonment window) registers exactly one record, then replays it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from loopnode.adapters.storage.sql.lifecycle import SqlIdempotencyStore
from tests import lifecycle_payloads as p


class Killed(Exception):
    """Stands for kill -9: nothing after this point runs."""


def records(container: Any) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM dna_records")).scalar_one())


def test_a_retry_after_a_crash_registers_a_minted_id_once(
    client: Any, auth: dict[str, str], container: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = p.material()
    del body["id"]  # the node mints one
    headers = {**auth, "Idempotency-Key": "crash-1"}

    def die(*_args: Any, **_kw: Any) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(SqlIdempotencyStore, "complete", die)
        crashed = client.post("/api/v1/material", json=body, headers=headers)
    assert crashed.status_code == 500
    assert records(container) == 0  # the record went with the key
    clock.advance(seconds=6 * 60)
    first = client.post("/api/v1/material", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/material", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert records(container) == 1
