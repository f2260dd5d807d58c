"""The official schemas as an oracle for what the node emits (Python jsonschema, formats on).

Used for outputs only (NodeInfo, search responses, evidence exports): outputs are strict RFC
3339 and plain https URLs, where Python's format checkers and AJV agree (SPEC-DIGEST §4.13).
Input parity is tested against AJV itself (tests/oracle).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012


@cache
def _registry(reference_dir: Path) -> Registry:
    resources = []
    for path in sorted((reference_dir / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append(
            (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))
        )
    for path in sorted((reference_dir / "profiles/core-dp/schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append(
            (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        )
    return Registry().with_resources(resources)


def errors(reference_dir: Path, schema_file: str, instance: Any, pointer: str = "") -> list[str]:
    """Messages of every violation of `schema_file` (optionally a `$defs` entry)."""
    core = reference_dir / "schemas" / schema_file
    path = core if core.exists() else reference_dir / "profiles/core-dp/schemas" / schema_file
    schema = json.loads(path.read_text())
    cls = Draft7Validator if core.exists() else Draft202012Validator
    if pointer:
        schema = {"$ref": f"{schema['$id']}#{pointer}"}
    validator = cls(schema, registry=_registry(reference_dir), format_checker=FormatChecker())
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]
