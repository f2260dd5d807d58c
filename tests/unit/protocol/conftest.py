"""Shared fixtures: the LOOP reference folder, its examples, and the AJV oracle.

The reference folder is the vendored `reference/loop` (or `$LOOP_REFERENCE_DIR`); when it or the
oracle is unavailable, tests skip saying what is missing, and fail instead under CI
(`tests/reference.py`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reference import require_reference, unavailable

PROJECT_ROOT = Path(__file__).resolve().parents[3]
_ORACLE_MODULE = PROJECT_ROOT / "tests" / "oracle" / "ajv_oracle.py"


def _load_oracle_module() -> Any:
    if "ajv_oracle" in sys.modules:
        return sys.modules["ajv_oracle"]
    spec = importlib.util.spec_from_file_location("ajv_oracle", _ORACLE_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ajv_oracle"] = module
    spec.loader.exec_module(module)
    return module


ajv_oracle = _load_oracle_module()


@pytest.fixture(scope="session")
def reference() -> Path:
    """The LOOP reference folder (schemas, examples, openapi.json)."""
    return require_reference()


@pytest.fixture(scope="session")
def oracle(reference: Path) -> Iterator[Any]:
    """One AJV process for the whole session; `oracle.verdict(schema, payload) -> bool`."""
    try:
        running = ajv_oracle.AjvOracle.start(reference)
    except ajv_oracle.OracleUnavailable as exc:
        unavailable(f"AJV oracle unavailable: {exc}")
    with running:
        yield running


@pytest.fixture(scope="session")
def examples(reference: Path) -> dict[str, Any]:
    """Every example file's parsed content, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((reference / "examples").glob("*.json"))
    }
