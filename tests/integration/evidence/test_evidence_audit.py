"""Issue 15, "Evidence can be rewritten without detection": record binding, redaction
tombstones that keep the chain verifiable, and signed checkpoints (both databases).

Each node here is a data directory made by `loopnode init`, so the CLI (`evidence verify`,
`redact`, `export`) and the API act on the same database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from loopnode.bootstrap import Container, build
from loopnode.cli.main import app
from loopnode.config import load_settings
from loopnode.domain.errors import Conflict
from loopnode.domain.evidence import REDACTED_ACTOR, EvidenceEvent, entry_hash
from loopnode.domain.times import parse_timestamp
from loopnode.protocol import keys
from loopnode.protocol.checkpoints import parse_checkpoint
from loopnode.web.app import create_app
from tests import lifecycle_payloads as p
from tests.fakes import CountingHex, FakeClock
from tests.integration.evidence.test_evidence_summary import _init

MAT = p.MATERIAL_ID
SECOND = MAT[:-6] + "0000F2"


class Node:
    """One node: its data directory, services, an API client with a writer key."""

    def __init__(self, data_dir: Path, container: Container, client: TestClient) -> None:
        self.data_dir = data_dir
        self.container = container
        self.client = client
        secret = container.api_keys.create("tests", timedelta(days=60)).secret
        self.auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/ld+json"}

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/{path}", json=body, headers=self.auth)
        assert response.status_code == 201, response.json()
        document: dict[str, Any] = response.json()
        return document

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(app, ["evidence", *args, "--data-dir", str(self.data_dir)])

    def sql(self, statement: str, **params: Any) -> None:
        with self.container.engine.begin() as connection:
            connection.execute(text(statement), params)

    def flow(self) -> dict[str, str]:
        """A passport, a split transfer (offer, match, transfer, custody) and a status update."""
        self.created("material", p.material())
        offer = self.created("offer", p.offer(MAT, 10, to_city="Berlin"))
        match = self.created("match", p.match(offer["id"], status="accepted"))
        transfer = self.created("transfer", p.transfer(match["id"], status="completed"))
        self.created("material-status", p.status_update(status="reserved"))
        return {"offer": offer["id"], "match": match["id"], "transfer": transfer["id"]}

    def entries(self) -> list[dict[str, Any]]:
        result = self.cli("export")
        assert result.exit_code == 0, result.output
        return [orjson.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    data_dir = _init(tmp_path, database_url)
    container = build(load_settings(data_dir), clock=FakeClock(), random_hex=CountingHex())
    try:
        with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
            yield Node(data_dir, container, client)
    finally:
        container.close()


# -- record binding -------------------------------------------------------------------------------
def test_every_record_of_a_full_flow_is_bound_to_the_entry_that_made_it(node: Node) -> None:
    ids = node.flow()

    report = node.container.evidence.verify()
    assert report.intact, report
    with node.container.engine.connect() as connection:
        bound = {
            (row.subject_type, row.subject_id)
            for row in connection.execute(
                text("SELECT subject_type, subject_id FROM evidence WHERE record_hash IS NOT NULL")
            )
        }
    assert {("material", MAT), *((kind, ids[kind]) for kind in ids)} <= bound
    result = node.cli("verify")
    assert result.exit_code == 0 and "records match" in result.output


TAMPERING = {
    "material": ("UPDATE dna_records SET quantity_micro = quantity_micro * 2 WHERE id = :id", MAT),
    "offer": ("UPDATE offers SET quantity_micro = 1 WHERE id = :id", "offer"),
    "match": ("UPDATE matches SET status = 'rejected' WHERE id = :id", "match"),
    "transfer": ("UPDATE transfers SET document = '{}' WHERE id = :id", "transfer"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_a_record_changed_in_the_database_without_an_entry_is_named(node: Node, kind: str) -> None:
    ids = {**node.flow(), MAT: MAT}
    statement, which = TAMPERING[kind]
    node.sql(statement, id=ids[which])

    report = node.container.evidence.verify()
    assert report.first_broken is None  # the chain itself is untouched
    assert [(k, i) for k, i, _ in report.records] == [(kind, ids[which])]
    result = node.cli("verify")
    assert result.exit_code == 1
    assert f"RECORD {kind} {ids[which]}" in result.output


def test_a_record_added_or_deleted_without_an_entry_is_named(node: Node) -> None:
    node.flow()
    spare = node.created("offer", p.offer(MAT, 5, to_city="Vienna"))["id"]
    node.sql(
        "INSERT INTO dna_records (id, kind, category, origin_city, current_city, quantity_unit, "
        "quantity_micro, offered_micro, available_from_us, source_node, document, record_hash, "
        "created_us, updated_us) VALUES ('MAT-DE-MUC-2026-PLASTIC-FORGED', 'material', "
        "'plastic-pet', 'Munich', 'Munich', 'kg', 10, 0, 0, 'munich.loop', '{}', 'h', 0, 0)"
    )
    node.sql("DELETE FROM offers WHERE id = :id", id=spare)

    problems = {(k, i): why for k, i, why in node.container.evidence.verify().records}
    assert set(problems) == {
        ("material", "MAT-DE-MUC-2026-PLASTIC-FORGED"),
        ("offer", spare),
    }
    assert "no evidence entry" in problems[("material", "MAT-DE-MUC-2026-PLASTIC-FORGED")]
    assert "row is gone" in problems[("offer", spare)]


def test_a_transaction_is_bound_through_its_settlement_and_status_changes(node: Node) -> None:
    node.created("material", p.material())
    node.created("transaction", p.transaction(status="confirmed"))
    node.created("transaction", p.settlement())
    node.created("transaction", p.transaction_status("in_transit"))
    assert node.container.evidence.verify().intact

    node.sql("UPDATE transactions SET settlement = NULL WHERE id = :id", id="TXN-2026-06-01-001")
    problems = node.container.evidence.verify().records
    assert [(k, i) for k, i, _ in problems] == [("transaction", "TXN-2026-06-01-001")]


# -- redaction ------------------------------------------------------------------------------------
def _registered_sequence(node: Node) -> int:
    (entry,) = [e for e in node.entries() if e["event_type"] == "material.registered"]
    sequence: int = entry["sequence"]
    return sequence


def test_redaction_keeps_the_chain_verifiable_and_the_export_shows_the_tombstone(
    node: Node,
) -> None:
    node.flow()
    target = _registered_sequence(node)

    result = node.cli("redact", str(target), "--reason", "GDPR art. 17 request #12")
    assert result.exit_code == 0, result.output

    assert node.cli("verify").exit_code == 0
    entries = node.entries()
    tombstone = next(e for e in entries if e["sequence"] == target)
    assert tombstone["actor"] == REDACTED_ACTOR
    assert tombstone["redaction"] == {"status": "tombstoned", "reason": "GDPR art. 17 request #12"}
    redaction = entries[-1]
    assert redaction["event_type"] == "evidence.redacted"
    assert redaction["subject"] == {"type": "evidence", "id": tombstone["event_id"]}
    _assert_export_chain(entries)

    core_dp = CliRunner().invoke(
        app, ["evidence", "export", "--format", "core-dp", "--data-dir", str(node.data_dir)]
    )
    (exported,) = [
        e for e in map(orjson.loads, core_dp.stdout.splitlines()) if e["sequence"] == target
    ]
    assert exported["retention"]["redaction_status"] == "tombstoned"
    assert exported["retention"]["redaction_reason"] == "GDPR art. 17 request #12"
    assert exported["immutable"]["payload_hash_sha256"] == tombstone["payload_hash_sha256"]
    assert "actor_node_id" not in exported


def _assert_export_chain(entries: list[dict[str, Any]]) -> None:
    """Recompute every exported entry's hash from the export alone and follow the links."""
    previous = "0" * 64
    for entry in entries:
        assert entry["predecessor_hash_sha256"] == previous
        event = EvidenceEvent(
            sequence=entry["sequence"],
            event_id=entry["event_id"],
            event_type=entry["event_type"],
            subject_type=entry["subject"]["type"],
            subject_id=entry["subject"]["id"],
            actor=entry["actor"],
            payload_hash_sha256=entry["payload_hash_sha256"],
            prev_hash=entry["predecessor_hash_sha256"],
            recorded_at=parse_timestamp(entry["recorded_at"]),
            node_id=entry["node_id"],
            hash_version=entry["hash_version"],
            content_hash=entry["content_hash_sha256"],
            record_hash=entry["record_hash_sha256"],
            content_salt=None,
            redaction_reason="export",  # the export carries no salt: hash check only
        )
        assert entry_hash(event) == entry["entry_hash_sha256"]
        previous = entry["entry_hash_sha256"]


def test_an_entry_is_redacted_once_and_only_by_a_tombstone(node: Node) -> None:
    node.flow()
    target = _registered_sequence(node)
    node.container.evidence.redact(target, "retention period over")

    with pytest.raises(Conflict, match="already redacted"):
        node.container.evidence.redact(target, "again")
    assert node.cli("redact", "9999", "--reason", "x").exit_code == 1
    # The guard lets the tombstone through, nothing else: not a second one, not a changed hash.
    for statement in (
        "UPDATE evidence SET redaction_reason = 'other' WHERE sequence = :s",
        "UPDATE evidence SET actor = :a, summary = NULL, content_salt = NULL, redacted_by = 1, "
        "redaction_reason = 'x', payload_hash = :h WHERE sequence = :o",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            node.sql(statement, s=target, a=REDACTED_ACTOR, h="f" * 64, o=target + 1)
    assert node.container.evidence.verify().intact


def test_a_forged_tombstone_that_changes_a_hashed_column_breaks_the_chain(node: Node) -> None:
    node.flow()
    target = _registered_sequence(node)
    _without_guard(node)
    node.sql(
        "UPDATE evidence SET actor = :a, summary = NULL, content_salt = NULL, redacted_by = 1, "
        "redaction_reason = 'cover-up', subject_id = 'MAT-OTHER' WHERE sequence = :s",
        a=REDACTED_ACTOR,
        s=target,
    )
    report = node.container.evidence.verify()
    assert report.first_broken == target


def test_a_changed_actor_breaks_the_content_commitment(node: Node) -> None:
    node.flow()
    target = _registered_sequence(node)
    _without_guard(node)
    node.sql("UPDATE evidence SET actor = 'apikey:mallory' WHERE sequence = :s", s=target)

    report = node.container.evidence.verify()
    assert report.first_broken == target
    assert "content hash" in (report.reason or "")


def _without_guard(node: Node) -> None:
    # Someone with administrator rights on the database switches the guard off.
    if node.container.engine.dialect.name == "sqlite":
        node.sql("DROP TRIGGER evidence_no_update")
    else:
        node.sql("ALTER TABLE evidence DISABLE TRIGGER evidence_no_update")


# -- checkpoints ----------------------------------------------------------------------------------
def test_the_signed_checkpoint_is_public_and_verifies_with_the_node_key(node: Node) -> None:
    node.flow()
    answer = node.client.get("/api/v1/evidence/checkpoint")
    assert answer.status_code == 200
    checkpoint = parse_checkpoint(answer.json())
    with node.container.uow() as uow:
        head_sequence, head_hash = uow.evidence.head()
        third = uow.evidence.get(3)
    assert (checkpoint.node_id, checkpoint.sequence, checkpoint.head_hash) == (
        "munich.loop",
        head_sequence,
        head_hash,
    )
    public = keys.public_raw(keys.load_private_key(node.data_dir / "node_ed25519.key"))
    assert checkpoint.verifies_with(public)
    assert not checkpoint.verifies_with(hashlib.sha256(b"other").digest())

    earlier = parse_checkpoint(node.client.get("/api/v1/evidence/checkpoint/3").json())
    assert third is not None and (earlier.sequence, earlier.head_hash) == (3, third[1])
    assert earlier.verifies_with(public)
    missing = node.client.get(f"/api/v1/evidence/checkpoint/{head_sequence + 1}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert node.client.get("/api/v1/evidence/checkpoint/-1").status_code == 400


# -- retention ------------------------------------------------------------------------------------
def test_retention_tombstones_what_is_older_than_the_period_and_keeps_the_chain(
    node: Node,
) -> None:
    clock = node.container.evidence._clock
    assert isinstance(clock, FakeClock)
    before = {e["sequence"] for e in node.entries()}  # the node's own (at init, real time)
    node.created("material", p.material())  # old: registered 40 days before the run
    old = {e["sequence"] for e in node.entries()} - before
    clock.advance(days=40)
    node.created("material", p.material(SECOND))
    recent = {e["sequence"] for e in node.entries()} - old - before

    done = node.container.evidence.retain(timedelta(days=30))

    entries = {e["sequence"]: e for e in node.entries()}
    assert {r.sequence for r in done} == old
    for sequence in old:
        assert entries[sequence]["actor"] == REDACTED_ACTOR
        assert entries[sequence]["redaction"]["reason"] == "retention: older than 30 days"
    for sequence in recent:
        assert entries[sequence]["actor"] != REDACTED_ACTOR
    # each tombstone is recorded, and the records stay bound to their entries
    redactions = [e for e in entries.values() if e["event_type"] == "evidence.redacted"]
    assert len(redactions) == len(old)
    assert node.container.evidence.verify().intact
    assert node.cli("verify").exit_code == 0
    _assert_export_chain(list(entries.values()))
    # a second run has nothing left to do: redaction records name no person
    assert node.container.evidence.retain(timedelta(days=30)) == []


def test_retain_needs_a_period_from_the_option_or_the_setting(node: Node) -> None:
    result = node.cli("retain")
    assert result.exit_code == 2
    assert "no retention period" in result.output
    result = node.cli("retain", "--older-than-days", "30")
    assert result.exit_code == 0, result.output
    assert re.search(r"redacted \d+ entries older than 30 days", result.output)
