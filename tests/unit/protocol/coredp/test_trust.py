"""The core-dp trust store: loading the official fixture and the key lifecycle rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loopnode.protocol import keys
from loopnode.protocol.coredp.schemas import schema
from loopnode.protocol.trust import (
    KeyProblem,
    KeyRecord,
    TrustStore,
    TrustStoreError,
    key_problem,
    load_trust_store,
    parse_trust_store,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RAW = keys.public_raw(keys.generate_private_key())


def test_the_official_trust_store_loads_with_its_lifecycles(official_trust: TrustStore) -> None:
    assert len(official_trust.records) == 4
    active = official_trust.lookup("munich.loop", "key_munich_2026_07")
    rotated = official_trust.lookup("munich.loop", "key_munich_2025_01")
    revoked = official_trust.lookup("munich.loop", "key_munich_revoked_001")
    assert active is not None and active.status == "active"
    assert rotated is not None and rotated.rotated_to_key_id == "key_munich_2026_07"
    assert revoked is not None and revoked.revoked_at == datetime(2026, 7, 1, tzinfo=UTC)
    assert official_trust.lookup("berlin.loop", "key_munich_2026_07") is None
    assert official_trust.knows_node("berlin.loop") and not official_trust.knows_node("x.loop")


def test_a_store_renders_to_a_schema_valid_document_and_back(tmp_path: Path) -> None:
    store = TrustStore.of(
        [
            KeyRecord(
                "munich.loop",
                "key_munich_test_1",
                RAW,
                valid_from=T0,
                valid_until=T0 + timedelta(days=1),
            )
        ]
    )
    document = store.to_document(updated_at=T0)
    assert schema("trust-store.schema.json").issues(document) == []
    path = tmp_path / "store.json"
    path.write_text(json.dumps(document))
    assert load_trust_store(path).records == store.records


@pytest.mark.parametrize(
    "document",
    [
        {"version": "1.0.0", "updated_at": "2026-01-01T00:00:00Z", "keys": []},
        {"version": "1", "updated_at": "2026-01-01T00:00:00Z", "keys": [{}]},
        [],
    ],
)
def test_an_invalid_store_is_a_trust_store_error(document: object) -> None:
    with pytest.raises(TrustStoreError):
        parse_trust_store(document)


def test_an_unreadable_store_is_a_trust_store_error(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError):
        load_trust_store(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TrustStoreError):
        load_trust_store(tmp_path / "bad.json")


def test_revoked_keys_are_always_rejected() -> None:
    record = KeyRecord(
        "n.loop", "key_n_00000001", RAW, "revoked", revoked_at=T0 + timedelta(days=9)
    )
    assert key_problem(record, T0) is KeyProblem.REVOKED


def test_validity_is_inclusive_from_and_exclusive_until() -> None:
    record = KeyRecord(
        "n.loop", "key_n_00000001", RAW, valid_from=T0, valid_until=T0 + timedelta(hours=1)
    )
    assert key_problem(record, T0) is None
    assert key_problem(record, T0 + timedelta(hours=1) - timedelta(microseconds=1)) is None
    assert key_problem(record, T0 + timedelta(hours=1)) is KeyProblem.OUTSIDE_VALIDITY
    assert key_problem(record, T0 - timedelta(microseconds=1)) is KeyProblem.OUTSIDE_VALIDITY


def test_rotated_keys_serve_only_messages_created_before_the_rotation() -> None:
    by_window = KeyRecord("n.loop", "key_n_00000001", RAW, "rotated", valid_until=T0)
    assert key_problem(by_window, T0 - timedelta(seconds=1)) is None
    assert key_problem(by_window, T0) is KeyProblem.OUTSIDE_VALIDITY
    by_event = KeyRecord("n.loop", "key_n_00000001", RAW, "rotated", rotated_at=T0)
    assert key_problem(by_event, T0 - timedelta(seconds=1)) is None
    assert key_problem(by_event, T0) is KeyProblem.ROTATED
    unknown_point = KeyRecord("n.loop", "key_n_00000001", RAW, "rotated")
    assert key_problem(unknown_point, T0) is KeyProblem.ROTATED


def test_records_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="32 raw bytes"):
        KeyRecord("n.loop", "key_n_00000001", b"short")
    with pytest.raises(ValueError, match="status"):
        KeyRecord("n.loop", "key_n_00000001", RAW, "paused")  # type: ignore[arg-type]
