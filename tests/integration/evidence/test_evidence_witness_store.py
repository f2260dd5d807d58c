"""Witnessed checkpoints on both databases, in process: node B (on the parametrised database)
witnesses node A through the messaging transport mounted on A's app; the held checkpoints and
findings are append-only, and a rewrite of A's past is found once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from loopnode.adapters.messaging.http import HttpTransport
from loopnode.bootstrap import build
from loopnode.config import load_settings
from loopnode.domain.times import to_us
from loopnode.protocol import keys
from loopnode.protocol.trust import KeyRecord
from loopnode.services.evidence.witness import WitnessService
from loopnode.services.federation.ports import PeerRow
from loopnode.services.ports import EvidenceDraft
from loopnode.web.app import create_app
from tests.fakes import CountingHex, FakeClock

A_URL = "https://munich.example"


def _container(base: Path, node_id: str, url: str, clock: FakeClock) -> Any:
    base.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    keys.save_private_key(key, base / "node_ed25519.key")
    settings = load_settings(
        base,
        node_id=node_id,
        name=node_id,
        country="DE",
        city_code="MUC",
        city="Munich",
        lat=48.137,
        lon=11.575,
        base_url=f"https://{node_id}",
        database_url=url,
        federation_worker=False,
    )
    return build(settings, clock=clock, random_hex=CountingHex()), key


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[Any, Any, WitnessService]]:
    clock = FakeClock()
    a, a_key = _container(tmp_path / "a", "munich.loop", f"sqlite:///{tmp_path / 'a.db'}", clock)
    b, _ = _container(tmp_path / "b", "vienna.loop", database_url, clock)
    now = clock.now()
    with b.uow(write=True) as uow:
        uow.federation.peers.put(
            PeerRow(
                node_id="munich.loop",
                name="munich.loop",
                endpoint=A_URL + "/api/v1",
                status="approved",
                capabilities=(),
                created_us=to_us(now),
                updated_us=to_us(now),
                approved_us=to_us(now),
            )
        )
        public = keys.public_raw(a_key)
        record = KeyRecord(
            "munich.loop",
            keys.key_id(public, "munich.loop"),
            public,
            "active",
            valid_from=now - timedelta(days=1),
        )
        uow.federation.peer_keys.put(record, "import", to_us(now))
    app = create_app(container=a)

    def transport() -> HttpTransport:
        made = HttpTransport(
            node_id="vienna.loop", signing_key=b.federation.keys.signing_key, clock=clock
        )
        made.mount(A_URL, httpx.ASGITransport(app=app))
        return made

    try:
        yield a, b, WitnessService(b.uow, clock, transport, 3.0)
    finally:
        a.close()
        b.close()


def _append(container: Any, count: int) -> None:
    with container.uow(write=True) as uow:
        for index in range(count):
            draft = EvidenceDraft("signal.vote_recorded", "signal", f"S{index}", "t", "a" * 64)
            uow.evidence.append(draft, container.clock.now())


def _head(container: Any) -> int:
    with container.uow() as uow:
        sequence, _ = uow.evidence.head()
    return sequence


def test_checkpoints_are_held_and_a_rewrite_is_found_once(pair: tuple[Any, Any, Any]) -> None:
    a, b, witness = pair
    _append(a, 3)
    held_at = _head(a)
    (first,) = asyncio.run(witness.collect())
    assert (first.status, first.sequence) == ("held", held_at)
    (again,) = asyncio.run(witness.collect())
    assert again.status == "known"

    forged = {"h": "e" * 64, "s": held_at}
    with a.engine.begin() as connection:  # a's past, rewritten with the guard off
        connection.execute(text("DROP TRIGGER evidence_no_update"))
        connection.execute(text("UPDATE evidence SET entry_hash = :h WHERE sequence = :s"), forged)
        connection.execute(text("UPDATE evidence_head SET entry_hash = :h"), forged)
    _append(a, 1)

    (caught,) = asyncio.run(witness.collect())
    assert caught.status == "finding"
    assert [(f.kind, f.sequence, f.answered_hash) for f in caught.findings] == [
        ("rewritten", held_at, "e" * 64)
    ]
    (quiet,) = asyncio.run(witness.collect())
    assert quiet.status == "known" and quiet.findings == ()
    assert [f.kind for f in witness.findings()] == ["rewritten"]
    assert [w.sequence for w in witness.held()] == [held_at + 1]
    with b.uow() as uow:
        kinds = [e.event_type for e, _ in uow.evidence.iterate()]
        (recorded,) = [e for e, _ in uow.evidence.iterate() if e.subject_type == "node"][-1:]
    assert kinds.count("node.equivocation_detected") == 1
    assert recorded.subject_id == "munich.loop"
    assert b.evidence.verify().intact


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE evidence_witnessed SET head_hash = 'x'",
        "DELETE FROM evidence_witnessed",
        "UPDATE evidence_witness_findings SET detail = 'x'",
        "DELETE FROM evidence_witness_findings",
    ],
)
def test_held_checkpoints_and_findings_are_append_only(
    pair: tuple[Any, Any, Any], statement: str
) -> None:
    a, b, witness = pair
    _append(a, 2)
    asyncio.run(witness.collect())
    with b.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO evidence_witness_findings (peer_node_id, kind, sequence, held_hash, "
                "answered_hash, detail, found_us) VALUES ('p', 'equivocation', 1, 'h', 'g', 'd', 0)"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), b.engine.begin() as connection:
        connection.execute(text(statement))


def test_a_checkpoint_signed_by_another_key_is_refused(pair: tuple[Any, Any, Any]) -> None:
    a, b, witness = pair
    _append(a, 1)
    with b.uow(write=True) as uow:
        uow.federation.peer_keys.delete_unrevoked("munich.loop")
    (refused,) = asyncio.run(witness.collect())
    assert refused.status == "failed" and "unknown key" in (refused.reason or "")
    assert witness.held() == []


def test_the_periodic_round_witnesses_without_an_operator(pair: tuple[Any, Any, Any]) -> None:
    a, _b, witness = pair
    _append(a, 1)

    async def a_few_rounds() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(witness.run(0.05), 1.0)

    asyncio.run(a_few_rounds())
    assert [w.sequence for w in witness.held()] == [_head(a)]
