"""Storage behaviour that must hold on both databases: schema, append-only evidence, chain."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from loopnode.adapters.storage.tables.core import metadata
from loopnode.services.ports import EvidenceDraft


def test_migrations_build_exactly_the_declared_schema(container: Any) -> None:
    with container.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def append(container: Any, subject: str) -> None:
    with container.uow(write=True) as uow:
        draft = EvidenceDraft("material.registered", "material", subject, "tests", "a" * 64)
        uow.evidence.append(draft, container.clock.now())


@pytest.mark.parametrize(
    "statement",
    ["UPDATE evidence SET actor = 'mallory'", "DELETE FROM evidence"],
)
def test_the_database_refuses_to_change_evidence(container: Any, statement: str) -> None:
    append(container, "MAT-DE-MUC-2026-PLASTIC-000001")
    with pytest.raises(DBAPIError, match="append-only"), container.engine.begin() as connection:
        connection.execute(text(statement))
    assert container.evidence.verify().intact


def test_concurrent_appends_form_one_gapless_chain(container: Any) -> None:
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for round_ in range(10):
                append(container, f"MAT-DE-MUC-2026-PLASTIC-{index:03d}{round_:03d}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = container.evidence.verify()
    assert report.intact
    assert report.entries == 80


def test_offered_quantity_can_never_exceed_the_subject(container: Any) -> None:
    with pytest.raises(DBAPIError), container.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dna_records (id, kind, category, origin_city, current_city, "
                "quantity_unit, quantity_micro, offered_micro, available_from_us, source_node, "
                "document, record_hash, created_us, updated_us) VALUES ('MAT-X', 'material', "
                "'cardboard', 'Munich', 'Munich', 'kg', 10, 11, 0, 'munich.loop', '{}', 'h', 0, 0)"
            )
        )


def test_verify_names_the_first_entry_changed_behind_the_guard(container: Any) -> None:
    for index in range(5):
        append(container, f"MAT-DE-MUC-2026-PLASTIC-00000{index}")
    sqlite = container.engine.dialect.name == "sqlite"
    with container.engine.begin() as connection:
        # Someone with administrator rights on the database switches the guard off.
        if sqlite:
            connection.execute(text("DROP TRIGGER evidence_no_update"))
        else:
            connection.execute(text("ALTER TABLE evidence DISABLE TRIGGER evidence_no_update"))
        connection.execute(text("UPDATE evidence SET actor = 'mallory' WHERE sequence = 3"))
    report = container.evidence.verify()
    assert report.first_broken == 3
    assert "hash" in (report.reason or "")


def test_record_binding_and_existing_ids_keep_kinds_apart(client: Any, auth: Any) -> None:
    """Both look rows up by id alone (SQLite's planner, tests/integration/storage/
    test_sqlite_query_plans.py) and check the kind themselves: a product is no material."""
    from loopnode.adapters.storage.sql.evidence_binding import states_of
    from loopnode.adapters.storage.sql.registry import SqlRecordStore
    from tests.lifecycle_payloads import MATERIAL_ID, PRODUCT_ID, material, product

    assert client.post("/api/v1/material", json=material(), headers=auth).status_code == 201
    assert client.post("/api/v1/product", json=product(), headers=auth).status_code == 201
    container = client.app.state.container
    asked = [("material", MATERIAL_ID), ("material", PRODUCT_ID), ("product", PRODUCT_ID)]
    with container.engine.connect() as connection:
        assert set(states_of(connection, asked)) == {asked[0], asked[2]}
        store = SqlRecordStore(connection)
        assert store.existing_ids("material", [MATERIAL_ID, PRODUCT_ID]) == {MATERIAL_ID}
        assert store.existing_ids("product", [MATERIAL_ID, PRODUCT_ID]) == {PRODUCT_ID}
