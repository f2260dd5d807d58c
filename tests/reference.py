"""Where the tests find the LOOP reference material, and what happens when something is missing.

The material is vendored at `reference/loop` (see its NOTICE.md); `LOOP_REFERENCE_DIR` overrides
the location. A test that cannot run because reference material, a tool (Node.js, the AJV oracle's
modules, wrk) or a service (PostgreSQL) is missing calls `unavailable(reason)`: it skips on a
developer machine and FAILS under CI (`CI=true`, `LOOPNODE_REQUIRE_REFERENCE=1`, or for
PostgreSQL also `LOOPNODE_REQUIRE_POSTGRES=1`), so CI can never go green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENDORED = PROJECT_ROOT / "reference" / "loop"
_NEEDED = ("schemas", "examples", "openapi.json", "profiles/core-dp/schemas")


def strict(*extra_env: str) -> bool:
    """True under CI: missing material or tools are failures, not skips."""
    if os.environ.get("CI", "").lower() == "true":
        return True
    return any(os.environ.get(name) == "1" for name in ("LOOPNODE_REQUIRE_REFERENCE", *extra_env))


def unavailable(reason: str, *extra_env: str) -> NoReturn:
    """Skip with `reason`, or fail under CI (see `strict`)."""
    if strict(*extra_env):
        pytest.fail(f"{reason} (required here: CI=true or LOOPNODE_REQUIRE_* is set)")
    pytest.skip(reason)


def reference_dir() -> Path:
    """`$LOOP_REFERENCE_DIR` when set, else the vendored `reference/loop`."""
    configured = os.environ.get("LOOP_REFERENCE_DIR")
    return Path(configured) if configured else VENDORED


def missing_reference(folder: Path) -> str | None:
    """Why `folder` is not a usable reference folder, or None when it is."""
    for needed in _NEEDED:
        if not (folder / needed).exists():
            return (
                f"LOOP reference material not found: {folder / needed} is missing "
                "(the vendored copy is reference/loop; LOOP_REFERENCE_DIR overrides it)"
            )
    return None


def require_reference() -> Path:
    """The reference folder, or skip/fail saying what is missing."""
    folder = reference_dir()
    problem = missing_reference(folder)
    if problem is not None:
        unavailable(problem)
    return folder
