"""The conformance runner and `loopnode conformance` on official, regulatory, hand-built vectors."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from loopnode.cli import conformance_cmd
from loopnode.protocol import conformance, keys
from loopnode.protocol.coredp.envelope import NodeRef, build_envelope, sign_envelope
from loopnode.protocol.trust import KeyRecord, TrustStore
from tests.reference import reference_dir

PROJECT_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "conformance"
REGULATORY_FILES = sorted(FIXTURES.glob("*-vectors.json"))
VECTORS_PATH = "profiles/core-dp/conformance/vectors/core-dp-vectors.json"
ENVELOPE_SCHEMA = "profiles/core-dp/schemas/envelope.schema.json"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """loopnode (test harness)."""

    conformance_cmd.register(app)
    return app


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(_app(), ["conformance", *map(str, args)])


@pytest.fixture(scope="module")
def official_file(reference: Path) -> Path:
    return reference / VECTORS_PATH


@pytest.fixture(scope="module")
def official_results(official_file: Path) -> dict[str, conformance.VectorResult]:
    return {r.id: r for r in conformance.run_vector_file(official_file)}


@pytest.fixture(scope="module")
def official_vectors(official_file: Path) -> dict[str, Any]:
    return {v["id"]: v for v in json.loads(official_file.read_text())["vectors"]}


# --- the official core-dp vectors ---------------------------------------------------------------


def test_all_44_official_vectors_are_evaluated(official_results: dict[str, Any]) -> None:
    assert len(official_results) == 44


def _official_ids() -> list[str]:
    """Vector ids for parametrisation; without the reference folder the tests skip anyway."""
    path = reference_dir() / VECTORS_PATH
    if not path.exists():
        return ["(reference folder absent)"]
    return [v["id"] for v in json.loads(path.read_text())["vectors"]]


@pytest.mark.parametrize("vector_id", _official_ids())
def test_official_vector_gets_its_expected_verdict_for_its_declared_reason(
    vector_id: str, official_results: dict[str, Any], official_vectors: dict[str, Any]
) -> None:
    result = official_results[vector_id]
    vector = official_vectors[vector_id]
    assert result.status == "pass", (result.reason, result.failures)
    assert result.verdict == vector["expected"]
    if vector["expected"] == "invalid" and vector.get("expected_failure_contains"):
        assert any(vector["expected_failure_contains"] in f for f in result.failures)


def test_semantic_reasons_come_from_the_semantic_checks_not_only_the_schema(
    official_vectors: dict[str, Any], reference: Path
) -> None:
    """Invalid vectors whose reason is not AJV text must fail the same way without a schema."""
    ajv_words = ("must be", "must match", "must NOT", "must have", "must contain", "contains")
    trust = conformance.load_trust_store(reference / conformance.TRUST_STORE_REPO_PATH)
    for vector in official_vectors.values():
        reason = vector.get("expected_failure_contains", "")
        if vector["expected"] != "invalid" or any(w in reason for w in ajv_words):
            continue
        context = conformance.CheckContext.for_vector(vector, trust)
        failures = [
            failure
            for name in vector["semantic_checks"]
            for failure in conformance.SEMANTIC_CHECKS[name](vector["payload"], context)
        ]
        assert any(reason in f for f in failures), (vector["id"], failures)


def test_cli_prints_one_pass_line_per_official_vector(official_file: Path) -> None:
    result = run_cli(official_file)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 44 and all(line.startswith("PASS ") for line in lines)


def test_cli_json_is_one_list_of_the_four_fields(official_file: Path) -> None:
    result = run_cli("--json", official_file)
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert len(records) == 44
    assert all(set(r) == {"id", "expected", "verdict", "failures"} for r in records)
    assert all(r["verdict"] == r["expected"] for r in records)


def test_the_default_trust_store_is_found_next_to_copied_vectors(
    official_file: Path, tmp_path: Path, reference: Path
) -> None:
    copy_root = tmp_path / "repo"
    target = copy_root / VECTORS_PATH
    target.parent.mkdir(parents=True)
    shutil.copy(official_file, target)
    store = copy_root / conformance.TRUST_STORE_REPO_PATH
    store.parent.mkdir(parents=True)
    shutil.copy(reference / conformance.TRUST_STORE_REPO_PATH, store)
    assert conformance.default_trust_store_path(target) == store
    assert run_cli(target).exit_code == 0
    store.unlink()
    assert conformance.default_trust_store_path(target) is None
    result = run_cli(target)
    assert result.exit_code == 1  # signature vectors now fail: no trust store
    assert "FAIL core-dp-envelope-valid-001" in result.stdout


# --- regulatory profile fixtures -----------------------------------------------------------------


@pytest.mark.parametrize("path", REGULATORY_FILES, ids=lambda p: p.name)
def test_regulatory_fixture_vectors_all_pass(path: Path) -> None:
    results = conformance.run_vector_file(path)
    assert results and all(r.status == "pass" for r in results), [
        (r.id, r.reason, r.failures) for r in results if r.status != "pass"
    ]
    assert run_cli(path).exit_code == 0


def test_regulatory_semantic_vectors_fail_only_because_of_the_rule() -> None:
    for path in REGULATORY_FILES:
        for vector in json.loads(path.read_text())["vectors"]:
            if vector["expected"] != "invalid" or not vector.get("semantic_checks"):
                continue
            without_checks = {**vector, "semantic_checks": []}
            result = conformance.evaluate_vector(without_checks, None)
            schema_only = result.verdict == "valid"
            reason_in_schema = any(
                vector["expected_failure_contains"] in f for f in result.failures
            )
            assert schema_only or not reason_in_schema, vector["id"]


# --- hand-built core-dp vectors (our keys, our trust store) -------------------------------------

CREATED = datetime(2026, 7, 17, tzinfo=UTC)
OUR_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
MUNICH = NodeRef("munich.loop", "https://munich.loop/api/v1", "key_munich_own_0001")
BERLIN = NodeRef("berlin.loop", "https://berlin.loop/api/v1", "key_berlin_own_0001")
ENVELOPE_CHECKS = [
    "core-dp-envelope-signing-input-sha256",
    "core-dp-envelope-ed25519-signature",
    "core-dp-envelope-trusted-key-resolution",
    "core-dp-envelope-body-contract",
    "core-dp-envelope-replay-window",
    "core-dp-choreography-message-contract",
]


def _our_store(tmp_path: Path) -> Path:
    raw = keys.public_raw(OUR_KEY)
    store = TrustStore.of(
        [
            KeyRecord(
                "munich.loop",
                MUNICH.key_id,
                raw,
                valid_from=CREATED - timedelta(days=1),
                valid_until=CREATED + timedelta(days=1),
            ),
            KeyRecord(
                "munich.loop",
                "key_munich_gone_0001",
                raw,
                "revoked",
                valid_from=CREATED - timedelta(days=1),
                valid_until=CREATED + timedelta(days=1),
                revoked_at=CREATED,
            ),
            KeyRecord(
                "munich.loop",
                "key_munich_old_0001",
                raw,
                "rotated",
                valid_from=CREATED - timedelta(days=9),
                valid_until=CREATED,
                rotated_to_key_id=MUNICH.key_id,
            ),
        ]
    )
    path = tmp_path / "our-trust.json"
    path.write_text(json.dumps(store.to_document(updated_at=CREATED)))
    return path


def _signed(body_changes: dict[str, Any] | None = None, sender: NodeRef = MUNICH) -> dict[str, Any]:
    body = {
        "conversation_id": "conv_ownOfferPublish0001",
        "message_type": "offer.publish",
        "origin_node": "munich.loop",
        "counterparty_node": "berlin.loop",
        "authoritative_role": "origin",
        "subject": {"type": "offer", "id": "OFF-DE-MUC-2026-000009"},
        "state": "offer-published",
        "terminal": False,
        "attempt": 1,
        "timeout_at": "2026-07-17T00:05:00Z",
    } | (body_changes or {})
    envelope = build_envelope(
        message_type="offer.publish",
        sender=sender,
        receiver=BERLIN,
        body=body,
        message_id="msg_ownOfferPublish00001",
        idempotency_key="idem_ownOfferPublish0001",
        created_at=CREATED,
    )
    return sign_envelope(envelope, OUR_KEY)


def _vector(
    vid: str,
    expected: str,
    schema: str,
    payload: Any,
    checks: list[str],
    reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    vector = {
        "id": vid,
        "requirement_ids": ["X"],
        "expected": expected,
        "payload_schema": schema,
        "payload": payload,
        "semantic_checks": checks,
        **extra,
    }
    if reason:
        vector["expected_failure_contains"] = reason
    return vector


def _hand_built(official: dict[str, Any]) -> list[dict[str, Any]]:
    def payload(vid: str) -> Any:
        return copy.deepcopy(official[vid]["payload"])

    tampered = _signed()
    tampered["body"]["subject"]["id"] = "OFF-DE-MUC-2026-000010"
    retagged = _signed()
    retagged["body"]["subject"]["id"] = "OFF-DE-MUC-2026-000010"
    retagged["signature"]["signing_input_sha256"] = conformance.envelope.signing_input_sha256(
        retagged
    )
    revoked, rotated = (
        _signed(sender=NodeRef(MUNICH.node_id, MUNICH.endpoint, "key_munich_gone_0001")),
        _signed(sender=NodeRef(MUNICH.node_id, MUNICH.endpoint, "key_munich_old_0001")),
    )
    huge = _signed()
    huge["body"]["attempt"] = 2**60
    error = payload("core-dp-error-invalid-retryable-001")
    evidence = payload("core-dp-evidence-valid-001")
    evidence["immutable"]["payload_hash_sha256"] = "f" * 64
    epcis_ = payload("core-dp-epcis-valid-supported-fixture-001")
    epcis_["epcis_subset_event"]["epcList"] = ["urn:loop:transfer:TRF-DE-MUC-2026-999999"]
    search = payload("core-dp-search-valid-local-material-001")
    search |= {"strict_filtering": True, "filters": {**search["filters"], "condition": "good"}}
    response = payload("core-dp-search-valid-cross-node-product-response-001")
    response["results"][0]["id"] = "MAT-DE-MUC-2026-PLASTIC-A1B2C3"
    capabilities = payload("core-dp-capabilities-valid-response-001")
    capabilities["accepted_profile_version"] = "0.2.0-lab"
    return [
        _vector("own-valid-signed", "valid", ENVELOPE_SCHEMA, _signed(), ENVELOPE_CHECKS),
        _vector(
            "own-tampered-body",
            "invalid",
            ENVELOPE_SCHEMA,
            tampered,
            ENVELOPE_CHECKS,
            "expected signing_input_sha256",
        ),
        _vector(
            "own-tampered-body-rehashed",
            "invalid",
            ENVELOPE_SCHEMA,
            retagged,
            ENVELOPE_CHECKS,
            "detached Ed25519 signature verification failed",
        ),
        _vector(
            "own-revoked-key",
            "invalid",
            ENVELOPE_SCHEMA,
            revoked,
            ENVELOPE_CHECKS,
            "has been revoked",
        ),
        _vector(
            "own-rotated-key",
            "invalid",
            ENVELOPE_SCHEMA,
            rotated,
            ["core-dp-envelope-trusted-key-resolution"],
            "not valid for message created_at",
        ),
        _vector(
            "own-expired",
            "invalid",
            ENVELOPE_SCHEMA,
            _signed(),
            ["core-dp-envelope-replay-window"],
            "message has expired",
            evaluation_time="2026-07-17T00:05:00Z",
        ),
        _vector(
            "own-last-instant",
            "valid",
            ENVELOPE_SCHEMA,
            _signed(),
            ["core-dp-envelope-replay-window"],
            evaluation_time="2026-07-17T00:04:59Z",
        ),
        _vector(
            "own-unparsable-evaluation-time",
            "invalid",
            ENVELOPE_SCHEMA,
            _signed(),
            ["core-dp-envelope-replay-window"],
            "evaluation_time must be a valid date-time value",
            evaluation_time=None,
        ),
        _vector(
            "own-huge-integer",
            "invalid",
            ENVELOPE_SCHEMA,
            huge,
            ENVELOPE_CHECKS,
            "cannot be canonicalised",
        ),
        _vector(
            "own-error-signature-retryable",
            "invalid",
            "error.schema.json",
            error | {"code": "signature_invalid"},
            ["core-dp-error-contract-semantics"],
            "signature_invalid errors are not retryable",
        ),
        _vector(
            "own-error-timeout-not-retryable",
            "invalid",
            "error.schema.json",
            error | {"code": "timeout", "retryable": False},
            ["core-dp-error-contract-semantics"],
            "timeout errors must be retryable",
        ),
        _vector(
            "own-evidence-rewritten",
            "invalid",
            "evidence-entry.schema.json",
            evidence,
            ["core-dp-evidence-immutable-subset"],
            "immutable.payload_hash_sha256 must match",
        ),
        _vector(
            "own-epcis-wrong-subject",
            "invalid",
            "epcis-mapping.schema.json",
            epcis_,
            ["core-dp-epcis-mapping-semantics"],
            "EPCIS epcList must include mapped Core-DP subject",
        ),
        _vector(
            "own-strict-material-condition",
            "invalid",
            "search-contract.schema.json",
            search,
            ["core-dp-search-contract-semantics"],
            "strict material search must reject condition",
        ),
        _vector(
            "own-product-result-prefix",
            "invalid",
            "search-contract.schema.json",
            response,
            ["core-dp-search-contract-semantics"],
            "product search result 0 id must use PRD- prefix",
        ),
        _vector(
            "own-capabilities-version",
            "invalid",
            "choreography-message.schema.json",
            capabilities,
            ["core-dp-choreography-message-contract"],
            "accepted_profile_version must be 0.1.0-lab",
        ),
        _vector(
            "own-unknown-check",
            "valid",
            "error.schema.json",
            error | {"retryable": False},
            ["core-dp-check-from-the-future"],
        ),
    ]


@pytest.fixture
def hand_built_file(tmp_path: Path, official_vectors: dict[str, Any]) -> Path:
    path = tmp_path / "hand-built-vectors.json"
    path.write_text(
        json.dumps({"suite": "loopnode-hand-built", "vectors": _hand_built(official_vectors)})
    )
    return path


def test_hand_built_core_dp_vectors_get_their_verdicts(
    hand_built_file: Path, tmp_path: Path
) -> None:
    results = conformance.run_vector_file(hand_built_file, _our_store(tmp_path))
    by_id = {r.id: r for r in results}
    assert by_id.pop("own-unknown-check").status == "skip"
    assert all(r.status == "pass" for r in by_id.values()), [
        (r.id, r.reason, r.failures) for r in by_id.values() if r.status != "pass"
    ]


def test_cli_uses_the_given_trust_store_and_reports_skips(
    hand_built_file: Path, tmp_path: Path
) -> None:
    result = run_cli("--trust-store", _our_store(tmp_path), hand_built_file)
    assert result.exit_code == 0, result.output
    assert "SKIP own-unknown-check" in result.stdout
    official = run_cli(hand_built_file)  # no trust store next to it: signatures cannot verify
    assert official.exit_code == 1
    assert "FAIL own-valid-signed" in official.stdout


def test_a_wrong_verdict_or_reason_fails_the_run(
    tmp_path: Path, official_vectors: dict[str, Any]
) -> None:
    wrong_reason = copy.deepcopy(official_vectors["core-dp-search-invalid-limit-001"])
    wrong_reason["expected_failure_contains"] = "a reason nobody gives"
    wrong_verdict = copy.deepcopy(official_vectors["core-dp-evidence-valid-001"]) | {
        "expected": "invalid"
    }
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps({"suite": "s", "vectors": [wrong_reason, wrong_verdict]}))
    result = run_cli(path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "FAIL core-dp-search-invalid-limit-001",
        "FAIL core-dp-evidence-valid-001",
    ]
    records = json.loads(run_cli("--json", path).stdout)
    assert [r["verdict"] for r in records] == ["invalid", "valid"]


@pytest.mark.parametrize(
    "content",
    [
        "{",
        '{"suite": "s"}',
        '{"suite": "s", "vectors": [], "suite": "t"}',
        '{"vectors": [NaN]}',
        "[]",
    ],
)
def test_unreadable_vector_files_exit_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    assert run_cli(path).exit_code == 2
    with pytest.raises(conformance.VectorFileError):
        conformance.run_vector_file(path)


def test_missing_files_and_bad_trust_stores_exit_2(tmp_path: Path) -> None:
    assert run_cli(tmp_path / "absent.json").exit_code == 2
    vectors = tmp_path / "v.json"
    vectors.write_text('{"suite": "s", "vectors": []}')
    bad_store = tmp_path / "store.json"
    bad_store.write_text('{"version": "1.0.0", "keys": []}')
    assert run_cli("--trust-store", bad_store, vectors).exit_code == 2
    assert run_cli(vectors).exit_code == 0


def test_odd_vectors_never_crash_the_runner() -> None:
    odd = [
        None,
        {},
        {"id": "x", "expected": "valid", "payload_schema": "nope.json", "payload": {}},
        {"id": "y", "expected": "maybe", "payload_schema": "error.schema.json", "payload": None},
        {
            "id": "z",
            "expected": "invalid",
            "payload_schema": ENVELOPE_SCHEMA,
            "payload": [],
            "semantic_checks": list(conformance.SEMANTIC_CHECKS),
        },
    ]
    results = [conformance.evaluate_vector(vector, None) for vector in odd]
    assert [r.status for r in results] == ["fail", "fail", "fail", "fail", "pass"]
