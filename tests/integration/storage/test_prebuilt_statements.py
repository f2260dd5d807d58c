"""The lifecycle's reads and updates run at the driver (`sql/driver.Prebuilt`) on both
databases: compiled once per dialect, no SQLAlchemy type processor in the way (else they would
fall back to SQLAlchemy and the speed-up would be lost unnoticed), and answering what
SQLAlchemy answers for the same statement."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import OperationalError

from loopnode.adapters.storage.sql import evidence_binding as binding
from loopnode.adapters.storage.sql import evidence_log as sql_evidence_log
from loopnode.adapters.storage.sql import lifecycle as sql_lifecycle
from loopnode.adapters.storage.sql import registry as sql_registry
from loopnode.adapters.storage.sql.driver import Prebuilt, _compile
from loopnode.adapters.storage.tables.lifecycle import matches, offers
from tests import lifecycle_payloads as payloads

pytestmark = pytest.mark.usefixtures("container")


def _prebuilt() -> list[Prebuilt]:
    found: list[Prebuilt] = []
    for module in (sql_lifecycle, sql_registry, sql_evidence_log):
        for value in vars(module).values():
            if isinstance(value, Prebuilt):
                found.append(value)
            elif isinstance(value, dict):
                found += [v for v in value.values() if isinstance(v, Prebuilt)]
    return found


def test_every_prebuilt_statement_runs_at_the_driver(container: Any) -> None:
    statements = _prebuilt()
    assert len(statements) >= 12
    dialect = container.engine.dialect
    for statement in statements:
        assert _compile(statement.statement, dialect) is not None, statement.statement


def test_a_prebuilt_read_answers_what_sqlalchemy_answers(container: Any, offer_row: Any) -> None:
    with container.engine.begin() as connection:
        connection.execute(insert(offers), offer_row)
        for entity_get in (sql_lifecycle._GET["offer"], sql_lifecycle._GET_LOCKED["offer"]):
            ours = entity_get.first(connection, {"wanted_id": offer_row["id"]})
            theirs = connection.execute(entity_get.statement, {"wanted_id": offer_row["id"]})
            assert ours == dict(theirs.one()._mapping)
        assert sql_lifecycle._GET["offer"].first(connection, {"wanted_id": "OFR-NONE"}) is None
        connection.execute(insert(matches), match_row(offer_row))
        for literal, params in (  # statements with literal values of their own (IN, !=)
            (sql_lifecycle._ACTIVE_MATCH, {"wanted_offer": offer_row["id"]}),
            (sql_lifecycle._LIVE_TRANSFER, {"wanted_match": "MCH-PREBUILT-0001"}),
        ):
            ours = literal.first(connection, params)
            theirs = connection.execute(literal.statement, params).first()
            assert ours == (None if theirs is None else dict(theirs._mapping))
        assert sql_lifecycle._ACTIVE_MATCH.first(connection, {"wanted_offer": offer_row["id"]})
        connection.rollback()


def test_a_child_finds_its_offer_locked_in_one_statement(container: Any, offer_row: Any) -> None:
    """The lifecycle locks a match's offer without reading the match first (engine.py): the
    offer comes back as `get` reads it, and on PostgreSQL it is locked until the commit."""
    with container.engine.begin() as connection:
        connection.execute(insert(offers), offer_row)
        connection.execute(insert(matches), match_row(offer_row))
    with container.engine.begin() as connection:
        store = sql_lifecycle.SqlExchangeStore(connection)
        assert store.parent("match", "MCH-NONE", "offer") is None
        parent = store.parent("match", "MCH-PREBUILT-0001", "offer")
        assert parent == store.get("offer", offer_row["id"])
        if container.engine.dialect.name == "postgresql":
            with container.engine.connect() as other:
                other.execute(text("SET lock_timeout = '50ms'"))
                with pytest.raises(OperationalError):
                    other.execute(
                        text("SELECT 1 FROM offers WHERE id = :i FOR UPDATE"),
                        {"i": offer_row["id"]},
                    )
                other.rollback()
                other.execute(text("SET lock_timeout = '50ms'"))
                other.execute(text("SELECT 1 FROM matches FOR UPDATE"))  # the match is not locked


@pytest.fixture
def offer_row(container: Any) -> dict[str, Any]:
    container.registry.register("material", payloads.material(), "tests")
    return {
        "id": "OFR-PREBUILT-0001",
        "subject_id": payloads.MATERIAL_ID,
        "material_id": payloads.MATERIAL_ID,
        "product_id": None,
        "status": "open",
        "quantity_micro": 1_000_000,
        "available_until_us": 2_000_000_000_000_000,
        "document": '{"id": "OFR-PREBUILT-0001"}',
        "created_us": 1,
        "updated_us": 1,
    }


def match_row(offer: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "MCH-PREBUILT-0001",
        "offer_id": offer["id"],
        "subject_id": offer["subject_id"],
        "material_id": offer["material_id"],
        "product_id": None,
        "status": "proposed",
        "document": '{"id": "MCH-PREBUILT-0001"}',
        "created_us": 2,
        "updated_us": 2,
    }


def test_the_exchange_tables_need_no_python_side_default() -> None:
    # Their rows are inserted at the driver (`insert_rows`), which fills in nothing.
    for table in sql_lifecycle.TABLES.values():
        assert [c.name for c in table.columns if c.default is not None] == [], table.name


@pytest.mark.parametrize("count", [1, 3, binding._PREBUILT_IDS, binding._PREBUILT_IDS + 6])
def test_the_binding_read_answers_what_verify_computes(
    container: Any, offer_row: dict[str, Any], count: int
) -> None:
    # states_of (at the driver up to _PREBUILT_IDS ids, SQLAlchemy past it) and current_states
    # (what `evidence verify` recomputes, through SQLAlchemy) must hash every row alike.
    rows = [{**offer_row, "id": f"OFR-PREBUILT-{n:04d}"} for n in range(count)]
    with container.engine.begin() as connection:
        connection.execute(insert(offers), rows)
        asked = [("offer", row["id"]) for row in rows] + [("offer", "OFR-NONE")]
        asked += [("material", payloads.MATERIAL_ID), ("product", payloads.MATERIAL_ID)]
        ours = binding.states_of(connection, asked)
        offers_now = dict(binding.current_states(connection, "offer"))
        materials_now = dict(binding.current_states(connection, "material"))
        connection.rollback()
    expected = {("offer", row["id"]): offers_now[row["id"]] for row in rows}
    expected[("material", payloads.MATERIAL_ID)] = materials_now[payloads.MATERIAL_ID]
    assert ours == expected  # no row for the unknown id, nor for a material asked as a product


def test_a_driver_insert_stores_each_value_as_given(container: Any) -> None:
    """`insert_rows` on PostgreSQL goes through psycopg's raw cursor with `$n` placeholders:
    text that looks like a placeholder stays text, and rows past 50 parameters (which the
    default cursor would rewrite) land in their own columns, in order."""
    from loopnode.adapters.storage.sql.driver import insert_rows

    columns = ("material_id", "version", "announcement_id", "announced_us")
    rows = [(f"MAT-{n:03d}", "$1 %s %(x)s ?", f"ann_{n}", 2**62 + n) for n in range(40)]
    with container.engine.begin() as connection:
        assert insert_rows(connection, "fed_announced", columns, rows) == 40
        again = [(f"MAT-{n:03d}", "v2", f"ann_{n}b", n) for n in range(0, 40, 2)]
        upsert = "(material_id) DO UPDATE SET version = excluded.version"
        assert insert_rows(connection, "fed_announced", columns, again, on_conflict=upsert) == 20
        stored = connection.execute(
            text("SELECT material_id, version, announcement_id, announced_us FROM fed_announced")
        ).all()
    expected = {
        row[0]: (row[1], row[2], row[3]) if n % 2 else ("v2", row[2], row[3])
        for n, row in enumerate(rows)
    }
    assert {r[0]: tuple(r[1:]) for r in stored} == expected
