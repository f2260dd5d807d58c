"""The bundled schemas give AJV's verdicts and AJV's error text (SPEC-DIGEST §4.13, §5.1)."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loopnode.protocol.coredp.schemas import SchemaIssue, format_issues, schema, schemas
from tests.reference import unavailable

PROJECT_ROOT = Path(__file__).resolve().parents[4]
NODE_MODULES = PROJECT_ROOT / "tests" / "oracle" / "ajv" / "node_modules"
BATCH_ORACLE = Path(__file__).with_name("ajv_batch_oracle.js")
MAT_ID = "MAT-DE-MUC-2025-PLASTIC-B847F3"


def test_every_schema_is_found_by_id_repository_path_and_file_name() -> None:
    assert len(schemas().documents) == 21
    for repo_path, document in schemas().documents.items():
        by_path = schemas()[repo_path]
        assert schemas()[document["$id"]] is by_path
        assert schemas()[repo_path.rsplit("/", 1)[-1]] is by_path
    assert schemas().get("nope.schema.json") is None


def test_bundled_schemas_are_the_reference_copies(reference: Path) -> None:
    for repo_path, document in schemas().documents.items():
        assert json.loads((reference / repo_path).read_text(encoding="utf-8")) == document


def test_dna_operation_resolves_the_draft07_material_schema_across_drafts() -> None:
    body = {
        "message_type": "material.register",
        "operation": "register_request",
        "entity_type": "material",
        "request_id": "req_materialRegister0001",
        "record": {"@type": "MaterialDNA", "contact": "x"},
    }
    messages = {issue.message for issue in schema("dna-operation.schema.json").issues(body)}
    assert "must NOT be valid" in messages  # the forbidden `contact` key of material-dna
    assert "must have required property 'schema_version'" in messages


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (MAT_ID, True),
        (MAT_ID + "\n", False),  # `$` is the very end, as in JS
        ("MAT-DE-MUC-٢٠٢٥-PLASTIC-B847F3", False),  # `\d` is ASCII
    ],
)
def test_patterns_have_ecmascript_semantics(value: str, valid: bool) -> None:
    offer = {"@type": "Offer", "material_id": value}
    issues = schema("offer.schema.json").issues(offer)
    pattern_issues = [i for i in issues if i.instance_path == "/material_id"]
    assert (not pattern_issues) is valid


@pytest.mark.parametrize(
    ("ewc", "valid"), [("15 01 02", True), ("15\u00a001\u300002", True), ("15\u008501 02", False)]
)
def test_whitespace_class_is_the_javascript_one(ewc: str, valid: bool) -> None:
    material = {"classification": {"ewc_code": ewc}}
    issues = [
        i
        for i in schema("material-dna.schema.json").issues(material)
        if i.instance_path == "/classification/ewc_code"
    ]
    assert (not issues) is valid


@pytest.mark.parametrize(
    ("stamp", "valid"),
    [
        ("2026-07-17T00:00:00Z", True),
        ("2026-07-17 00:00:00Z", True),
        ("2026-07-17t00:00:00z", True),
        ("2026-07-17T00:00:00+0100", True),
        ("2026-07-17T00:00:00+01", True),
        ("2016-12-31T23:59:60Z", True),
        ("2016-12-31T22:59:60Z", False),
        ("2026-07-17T00:00:00", False),
        ("2026-02-29T00:00:00Z", False),
        ("2031", False),
    ],
)
def test_date_time_format_has_ajv_formats_leniency(stamp: str, valid: bool) -> None:
    evidence = {"recorded_at": stamp}
    issues = [
        i for i in schema("evidence-entry.schema.json").issues(evidence) if i.keyword == "format"
    ]
    assert (not issues) is valid


@pytest.mark.parametrize(
    ("uri", "valid"),
    [
        ("https://example.com/a?b=c#d", True),
        ("urn:isbn:0451450523", True),
        ("http://[::1]:8080/x", True),
        ("https://example.com/a b", False),
        ("relative/path", False),
        ("https://ex\u00e4mple.com", False),
    ],
)
def test_uri_format_is_the_ajv_formats_full_regex(uri: str, valid: bool) -> None:
    issues = schema("material-dna.schema.json").issues({"passport": {"passport_url": uri}})
    format_issues_ = [i for i in issues if i.keyword == "format"]
    assert (not format_issues_) is valid


def test_issues_use_ajv_wording_and_the_upstream_line_format() -> None:
    issues = schema("search-contract.schema.json").issues(
        {"entity_type": "product", "filters": {}, "limit": 101}
    )
    assert SchemaIssue("/limit", "maximum", "must be <= 100") in issues
    assert "- /limit (maximum): must be <= 100" in format_issues(issues)
    assert format_issues([]) == "No detailed errors reported."


def test_pathologically_deep_payloads_are_an_issue_not_an_exception() -> None:
    deep: Any = {}
    for _ in range(5000):
        deep = {"record": deep}
    issues = schema("dna-operation.schema.json").issues({"record": deep})
    assert issues


# --- differential test against AJV itself ------------------------------------------------------

STRINGS = [
    "",
    MAT_ID + "\n",
    "MAT-DE-MUC-2025-PLASTIC-B847F٣",
    "2025-06-03 09:15:00Z",
    "2025-06-03T09:15:00+01",
    "2016-12-31T23:59:60Z",
    "2025-02-29T00:00:00Z",
    "https://example.com/a b",
    "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
    "15\u00a001 02",
    "x" * 130,
    "conv_0123456789abcdef\n",
    "ſ",
]
VALUES: list[Any] = [*STRINGS, 0, -1, 1.5, 101, True, None, [], {}, [1], 300.0]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        found.extend(_paths(inner, (*prefix, key)))
    return found


def _mutate(rng: random.Random, payload: Any) -> Any:
    payload = copy.deepcopy(payload)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(payload)
        if not paths:
            break
        path = rng.choice(paths)
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.25:
            del parent[path[-1]]
        elif isinstance(parent, dict) and rng.random() < 0.15:
            parent["extra_field"] = rng.choice(VALUES)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return payload


def _ajv(reference: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "ajv").is_dir():
        unavailable("AJV oracle unavailable: needs `node` and tests/oracle/ajv/node_modules")
    completed = subprocess.run(
        [node, str(BATCH_ORACLE), str(reference)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        check=True,
        timeout=120,
    )
    answers: list[dict[str, Any]] = json.loads(completed.stdout)
    return answers


def test_verdicts_and_error_texts_equal_ajvs_on_vectors_examples_and_mutations(
    reference: Path, official_vectors: dict[str, dict[str, Any]]
) -> None:
    bases = [(v["payload_schema"], v["payload"]) for v in official_vectors.values()]
    bases += [
        (v["payload"]["body_schema"], v["payload"]["body"])
        for v in official_vectors.values()
        if v["payload_schema"].endswith("envelope.schema.json")
    ]
    for name, file in [
        ("material-dna", "12-material-dna-dpp-extensions.json"),
        ("product-dna", "14-product-reuse-registration.json"),
        ("transfer", "19-waste-shipment-transfer.json"),
    ]:
        example = json.loads((reference / "examples" / file).read_text(encoding="utf-8"))
        bases.append((f"schemas/{name}.schema.json", example))
    rng = random.Random(20260717)
    requests = [{"schema": s, "payload": p} for s, p in bases]
    requests += [
        {"schema": s, "payload": _mutate(rng, p)}
        for s, p in (rng.choice(bases) for _ in range(1500))
    ]
    answers = _ajv(reference, requests)
    mismatches = []
    for request, answer in zip(requests, answers, strict=True):
        ours = schema(request["schema"]).issues(request["payload"])
        theirs = Counter((e["instancePath"], e["keyword"], e["message"]) for e in answer["errors"])
        mine = Counter((i.instance_path, i.keyword, i.message) for i in ours)
        if answer["valid"] != (not ours) or theirs != mine:
            mismatches.append((request, theirs - mine, mine - theirs))
    assert not mismatches, mismatches[:3]
