"""Regulatory profiles: our own vectors cover every requirement, the runner judges them by general
rules, and AJV (the oracle) agrees with every schema-level verdict they claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol.conformance import run_vector_file
from loopnode.protocol.regulatory import REGULATORY_CHECKS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "profiles"
PROFILES = ("battery", "packaging", "waste-shipment")


def vectors(profile: str) -> list[dict[str, Any]]:
    path = FIXTURES / f"{profile}-requirement-vectors.json"
    found: list[dict[str, Any]] = json.loads(path.read_text())["vectors"]
    return found


def requirements(reference: Path, profile: str) -> list[str]:
    path = reference / "profiles" / profile / "requirements" / f"{profile}-requirements.json"
    return [r["id"] for r in json.loads(path.read_text())["requirements"]]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_requirement_has_a_valid_and_an_invalid_vector(profile: str, reference: Path):
    verdicts: dict[str, set[str]] = {}
    for vector in vectors(profile):
        for requirement in vector["requirement_ids"]:
            verdicts.setdefault(requirement, set()).add(vector["expected"])
    for requirement in requirements(reference, profile):
        assert verdicts.get(requirement) == {"valid", "invalid"}, requirement
    assert set(verdicts) <= set(requirements(reference, profile))


@pytest.mark.parametrize("profile", PROFILES)
def test_the_runner_passes_every_vector(profile: str):
    results = run_vector_file(FIXTURES / f"{profile}-requirement-vectors.json")
    assert [r.id for r in results if r.status != "pass"] == []
    assert len(results) == len(vectors(profile))


@pytest.mark.parametrize("profile", PROFILES)
def test_ajv_agrees_with_the_schema_level_verdicts(profile: str, oracle: Any):
    for vector in vectors(profile):
        schema = vector["payload_schema"].rsplit("/", 1)[-1].removesuffix(".schema.json")
        schema_valid = oracle.verdict(schema, vector["payload"])
        semantic = [name for name in vector.get("semantic_checks", []) if name in REGULATORY_CHECKS]
        if vector["expected"] == "valid":
            assert schema_valid, vector["id"]
        elif not semantic:
            assert not schema_valid, vector["id"]  # the schema alone must refuse it


@pytest.mark.parametrize("profile", PROFILES)
def test_semantic_invalid_vectors_break_the_rule_and_nothing_else(profile: str, oracle: Any):
    for vector in vectors(profile):
        checks = vector.get("semantic_checks", [])
        if vector["expected"] != "invalid" or not checks:
            continue
        schema = vector["payload_schema"].rsplit("/", 1)[-1].removesuffix(".schema.json")
        if not oracle.verdict(schema, vector["payload"]):
            continue  # a schema-invalid vector that also names the rule (enum outside Annex I)
        failures = [m for name in checks for m in REGULATORY_CHECKS[name](vector["payload"])]
        assert any(vector["expected_failure_contains"] in m for m in failures), vector["id"]
