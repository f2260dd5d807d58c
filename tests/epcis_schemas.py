"""The EPCIS oracles: GS1's EPCIS 2.0 JSON Schema (pinned copy) and the core-dp mapping schema."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epcis"
GS1_SCHEMA = FIXTURES / "EPCIS-JSON-Schema.json"
GS1_SCHEMA_SHA256 = "70b7ecb60eb605c6edd230761557763e4d470333510d28619291476de635bf20"


@lru_cache(maxsize=1)
def gs1_validator() -> Draft7Validator:
    data = GS1_SCHEMA.read_bytes()
    assert hashlib.sha256(data).hexdigest() == GS1_SCHEMA_SHA256, "the pinned schema changed"
    return Draft7Validator(json.loads(data), format_checker=Draft7Validator.FORMAT_CHECKER)


def gs1_errors(document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in gs1_validator().iter_errors(document)]


def mapping_validator(reference_dir: Path) -> Draft202012Validator:
    path = reference_dir / "profiles" / "core-dp" / "schemas" / "epcis-mapping.schema.json"
    return Draft202012Validator(
        json.loads(path.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
