"""Lookups by id must use the primary key on SQLite, which keeps no planner statistics.

Given `kind = ? AND id IN (?, ?)`, SQLite walked the covering `(kind, …)` index, every stored
material, instead of the primary key: with 100,000 stored materials the record binding of one
registration's evidence entry took 77 % of its time (docs/performance.md). SQLite only: the
question is SQLite's planner; PostgreSQL plans from statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from loopnode.adapters.storage.sql import evidence_binding, federation, registry


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'node.db'}"


def plan(container: Any, statement: Any, ids: list[str] | None = None, **values: Any) -> str:
    if ids is not None:
        values["ids"] = ids
    compiled = statement.params(**values).compile(
        dialect=container.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with container.engine.connect() as connection:
        rows = connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("subject_type", sorted(evidence_binding.BOUND_SUBJECTS))
def test_record_binding_reads_rows_by_primary_key(container: Any, subject_type: str) -> None:
    found = plan(container, evidence_binding._BY_IDS[subject_type], ["A-1", "A-2", "A-3"])
    assert "SCAN" not in found
    assert "ix_dna_records_kind" not in found
    assert "autoindex" in found or "PRIMARY KEY" in found


def test_existing_ids_reads_rows_by_primary_key(container: Any) -> None:
    found = plan(container, registry._KIND_BY_IDS, ["A-1", "A-2", "A-3"])
    assert "SCAN" not in found and "ix_dna_records_kind" not in found


def test_the_relay_rechecks_its_batch_by_primary_key(container: Any) -> None:
    found = plan(container, federation._VERSIONS_BY_IDS, ["A-1", "A-2", "A-3"])
    assert "SCAN" not in found and "ix_dna_records_kind" not in found


NEAR = {
    "q_kind": "material",
    "q_category": "plastic-pet",
    "q_x": 0.65,
    "q_y": 0.13,
    "q_z": 0.74,
    "q_min_dot": 0.9998,
    "q_lat_low": 47.2,
    "q_lat_high": 49.0,
    "q_limit": 21,
}


@pytest.mark.parametrize("statement", ["_NEAR_COUNT", "_NEAR_PAGE", "_NEAR_DOCUMENTS"])
def test_the_radius_search_reads_its_candidates_from_the_index_alone(
    container: Any, statement: str
) -> None:
    """Every candidate in the latitude band is tested from the covering index, not its table
    row (migration 0017: `availability` had fallen out of the index)."""
    found = plan(container, getattr(registry, statement), **NEAR)
    assert "COVERING INDEX ix_dna_records_search" in found
