"""The vendored reference material: complete, one copy, and missing pieces fail under CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import reference

PACKAGE = reference.PROJECT_ROOT / "src" / "loopnode" / "protocol"


def test_the_vendored_folder_is_complete_without_anything_beside_the_clone() -> None:
    folder = reference.VENDORED
    assert reference.missing_reference(folder) is None
    assert len(list((folder / "schemas").glob("*.schema.json"))) == 12
    assert len(list((folder / "examples").glob("*.json"))) == 19
    assert len(list((folder / "profiles/core-dp/schemas").glob("*.schema.json"))) == 9
    vectors = folder / "profiles/core-dp/conformance/vectors/core-dp-vectors.json"
    assert len(json.loads(vectors.read_text())["vectors"]) == 44
    for profile in ("battery", "packaging", "waste-shipment"):
        assert (folder / f"profiles/{profile}/requirements/{profile}-requirements.json").is_file()
    notice = (folder / "NOTICE.md").read_text()
    assert "local-loop-io/loop-protocol" in notice
    assert "9420ef326a6fe5ca83fdb1e61b2ad3df9e4ee3ea" in notice
    assert (folder / "UPSTREAM-LICENSE.txt").is_file()


def test_the_run_time_copies_are_the_reference_copies() -> None:
    """Schemas and contexts the node ships are the files the tests check against, not copies."""
    folder = reference.VENDORED
    pairs = [
        (folder / "schemas", PACKAGE / "coredp/schemas/core"),
        (folder / "profiles/core-dp/schemas", PACKAGE / "coredp/schemas"),
        (folder / "contexts", PACKAGE / "contexts"),
    ]
    for vendored, packaged in pairs:
        assert vendored.resolve() == packaged.resolve()


@pytest.mark.parametrize(
    ("env", "strict"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"LOOPNODE_REQUIRE_REFERENCE": "1"}, True),
        ({"LOOPNODE_REQUIRE_REFERENCE": "0"}, False),
    ],
)
def test_missing_material_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], strict: bool
) -> None:
    for name in ("CI", "LOOPNODE_REQUIRE_REFERENCE", "LOOPNODE_REQUIRE_POSTGRES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOOP_REFERENCE_DIR", "/nonexistent/loop")
    expected = pytest.fail.Exception if strict else pytest.skip.Exception
    with pytest.raises(expected, match="/nonexistent/loop"):
        reference.require_reference()


def test_the_override_points_tests_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOOP_REFERENCE_DIR", str(tmp_path))
    assert reference.reference_dir() == tmp_path
