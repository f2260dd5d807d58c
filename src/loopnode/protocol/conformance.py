"""The conformance-vector runner: core-dp and the regulatory extension profiles.

Theory of operation (SPEC-DIGEST §5.1-5.3): a vector file is `{suite, vectors[]}`. For each
vector we

1. validate `payload` against `payload_schema` (repository path, file name or `$id` of one of
   the 21 bundled schemas) with AJV parity; every error becomes one failure
   `schema validation failed against …` followed by AJV-style `- /path (keyword): message`
   lines, so `expected_failure_contains` can match AJV's wording;
2. if that passed and the schema is the envelope schema, validate `payload.body` against the
   schema named by `payload.body_schema`;
3. run each named semantic check from `SEMANTIC_CHECKS` (the 15 core-dp checks and the three
   regulatory ones). For an envelope payload (one with `body` and `body_schema`) the
   non-envelope checks judge its body. A check that raises is a failure; an unknown check name
   is a *skip*, never a pass;
4. give the verdict: `invalid` iff there is any failure. The vector passes when the verdict
   equals `expected` and, for an invalid vector with a non-empty `expected_failure_contains`,
   some failure contains that text. A vector with skips but no failure is `skip`.

Envelope checks need a trust store (`TrustStore`); the replay check's evaluation time is the
vector's `evaluation_time` when present, else `payload.evaluation_time`, else `created_at`.
By default the trust store is the one shipped with the vectors, found as the upstream runner
finds it: `profiles/core-dp/conformance/trust/accepted-peer-keys.json` under the repository
that holds the vector file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import timestamp_or_none
from loopnode.protocol.coredp import (
    choreography,
    dna_rules,
    envelope,
    epcis,
    errors,
    evidence_rules,
    search_rules,
)
from loopnode.protocol.coredp._js import MISSING, get, truthy
from loopnode.protocol.coredp.schemas import BASE_ID, SchemaSet, format_issues, schemas
from loopnode.protocol.regulatory import REGULATORY_CHECKS
from loopnode.protocol.trust import TrustStore, TrustStoreError, load_trust_store

__all__ = [
    "SEMANTIC_CHECKS",
    "CheckContext",
    "VectorFileError",
    "VectorResult",
    "default_trust_store_path",
    "evaluate_suite",
    "evaluate_vector",
    "load_vector_file",
    "run_vector_file",
]

TRUST_STORE_REPO_PATH: Final = Path("profiles/core-dp/conformance/trust/accepted-peer-keys.json")
ENVELOPE_SCHEMA_ID: Final = BASE_ID + "envelope.schema.json"
Status = Literal["pass", "fail", "skip"]
Verdict = Literal["valid", "invalid"]


class VectorFileError(InvalidRequest):
    """The vector file (or its trust store) cannot be read as a vector suite."""


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a semantic check may consult besides the payload."""

    trust: TrustStore | None
    evaluation_time: datetime | None
    envelope: Mapping[str, Any] | None

    @classmethod
    def for_vector(cls, vector: object, trust: TrustStore | None) -> CheckContext:
        """The context the runner gives `vector`'s checks (evaluation time, envelope or not)."""
        payload = get(vector, "payload")
        return cls(trust, _evaluation_time(vector, payload), _as_envelope(payload))


@dataclass(frozen=True, slots=True)
class VectorResult:
    id: str
    expected: str
    verdict: Verdict
    failures: tuple[str, ...]
    status: Status
    skipped: tuple[str, ...] = field(default=())
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The CLI's `--json` record."""
        return {
            "id": self.id,
            "expected": self.expected,
            "verdict": self.verdict,
            "failures": list(self.failures),
        }


Check = Callable[[Any, CheckContext], list[str]]


def _on_body(rule: Callable[[Any], list[str]]) -> Check:
    """A body-level rule; for an envelope payload it judges the envelope's body."""
    return lambda payload, ctx: rule(get(payload, "body") if ctx.envelope is not None else payload)


def _on_payload(rule: Callable[[Any], list[str]]) -> Check:
    return lambda payload, _: rule(payload)


SEMANTIC_CHECKS: Final[Mapping[str, Check]] = {
    "core-dp-envelope-signing-input-sha256": lambda p, _: envelope.check_signing_input_sha256(p),
    "core-dp-envelope-ed25519-signature": lambda p, c: envelope.check_ed25519_signature(p, c.trust),
    "core-dp-envelope-trusted-key-resolution": lambda p, c: envelope.check_trusted_key(p, c.trust),
    "core-dp-envelope-body-contract": lambda p, _: envelope.check_body_contract(p),
    "core-dp-envelope-replay-window": lambda p, c: envelope.check_replay_window(
        p, c.evaluation_time
    ),
    "core-dp-dna-operation-contract": _on_body(dna_rules.check_dna_operation),
    "core-dp-search-contract-semantics": _on_body(search_rules.check_search_contract),
    "core-dp-error-contract-semantics": _on_body(errors.check_error_contract),
    "core-dp-epcis-mapping-semantics": _on_body(epcis.check_epcis_mapping),
    "core-dp-evidence-immutable-subset": _on_body(evidence_rules.check_immutable_subset),
    "core-dp-choreography-message-contract": lambda p, c: choreography.check_message_contract(
        get(p, "body") if c.envelope is not None else p, c.envelope
    ),
    "core-dp-choreography-terminal-regression": _on_body(choreography.check_terminal_regression),
    "core-dp-choreography-idempotency-retry": _on_body(choreography.check_idempotency_retry),
    "core-dp-choreography-stale-reordered": _on_body(choreography.check_stale_reordered),
    "core-dp-choreography-transfer-convergence": _on_body(choreography.check_transfer_convergence),
    **{name: _on_payload(rule) for name, rule in REGULATORY_CHECKS.items()},
}


# --- loading ---------------------------------------------------------------------------------


def load_vector_file(path: Path) -> dict[str, Any]:
    """Parse a vector file strictly (no duplicate keys, no NaN), as the upstream loader does."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
        document = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise VectorFileError(f"{path}: cannot read vector file: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("vectors"), list):
        raise VectorFileError(f"{path}: not a vector suite ({{suite, vectors[]}})")
    return document


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def default_trust_store_path(vectors_path: Path) -> Path | None:
    """The trust store shipped with a vector file, or None if there is none."""
    here = Path(vectors_path).resolve().parent
    for ancestor in (here, *here.parents):
        candidate = ancestor / TRUST_STORE_REPO_PATH
        if candidate.is_file():
            return candidate
    sibling = here.parent / "trust" / TRUST_STORE_REPO_PATH.name
    return sibling if sibling.is_file() else None


def run_vector_file(path: Path, trust_store_path: Path | None = None) -> list[VectorResult]:
    """Load a vector file (and its trust store) and evaluate every vector."""
    document = load_vector_file(path)
    store_path = trust_store_path or default_trust_store_path(path)
    trust = None
    if store_path is not None:
        try:
            trust = load_trust_store(store_path)
        except TrustStoreError as exc:
            raise VectorFileError(str(exc)) from exc
    return evaluate_suite(document, trust)


# --- evaluation ------------------------------------------------------------------------------


def evaluate_suite(
    document: Mapping[str, Any], trust: TrustStore | None, schema_set: SchemaSet | None = None
) -> list[VectorResult]:
    return [evaluate_vector(vector, trust, schema_set) for vector in document["vectors"]]


def evaluate_vector(
    vector: object, trust: TrustStore | None, schema_set: SchemaSet | None = None
) -> VectorResult:
    """Evaluate one vector; never raises."""
    vector_id, expected = str(get(vector, "id")), str(get(vector, "expected"))
    payload = get(vector, "payload")
    failures, stop = _schema_failures(payload, get(vector, "payload_schema"), schema_set)
    if stop:
        return VectorResult(vector_id, expected, "invalid", tuple(failures), "fail", reason=stop)
    context = CheckContext.for_vector(vector, trust)
    skipped: list[str] = []
    names = get(vector, "semantic_checks")
    for name in names if isinstance(names, list) else []:
        check = SEMANTIC_CHECKS.get(name) if isinstance(name, str) else None
        if check is None:
            skipped.append(f'semantic check "{name}" is not implemented; vector skipped.')
            continue
        try:
            failures.extend(check(payload, context))
        except Exception as exc:  # a check that throws is a failure, as upstream
            failures.append(f'semantic check "{name}" threw: {exc}')
    return _judge(vector, vector_id, expected, failures, skipped)


def _schema_failures(
    payload: object, schema_name: object, schema_set: SchemaSet | None
) -> tuple[list[str], str]:
    known = schema_set or schemas()
    validator = known.get(schema_name) if isinstance(schema_name, str) else None
    if validator is None:
        return [f"payload_schema is not registered: {schema_name}"], "unknown payload_schema"
    issues = validator.issues(payload)
    if issues:
        return [f"schema validation failed against {schema_name}:\n{format_issues(issues)}"], ""
    if validator.schema_id != ENVELOPE_SCHEMA_ID:
        return [], ""
    assert isinstance(payload, Mapping)
    body_schema = payload["body_schema"]
    body_validator = known.get(body_schema)
    if body_validator is None:
        return [f"envelope body_schema is not registered: {body_schema}"], ""
    body_issues = body_validator.issues(payload["body"])
    if body_issues:
        return [f"envelope body failed {body_schema}:\n{format_issues(body_issues)}"], ""
    return [], ""


def _as_envelope(payload: object) -> Mapping[str, Any] | None:
    """Upstream: a payload with a truthy `body` and `body_schema` is an envelope."""
    if truthy(get(payload, "body")) and truthy(get(payload, "body_schema")):
        assert isinstance(payload, Mapping)
        return payload
    return None


def _evaluation_time(vector: object, payload: object) -> datetime | None:
    override = get(vector, "evaluation_time")
    if override is not MISSING:
        return timestamp_or_none(override)
    for candidate in (get(payload, "evaluation_time"), get(payload, "created_at")):
        if truthy(candidate):
            return timestamp_or_none(candidate)
    return None


def _judge(
    vector: object, vector_id: str, expected: str, failures: list[str], skipped: list[str]
) -> VectorResult:
    verdict: Verdict = "invalid" if failures else "valid"

    def result(status: Status, reason: str = "") -> VectorResult:
        return VectorResult(
            vector_id, expected, verdict, tuple(failures), status, tuple(skipped), reason
        )

    if skipped and not failures:
        return result("skip", "declares semantic checks this runner does not implement")
    if expected == "valid":
        return result("pass") if not failures else result("fail", "expected valid but failed")
    if expected != "invalid":
        return result("fail", f"unrecognized expected value: {expected}")
    if not failures:
        return result("fail", "expected invalid, but schema and all semantic checks passed")
    reason = get(vector, "expected_failure_contains")
    if isinstance(reason, str) and reason and not any(reason in f for f in failures):
        return result("fail", f'did not fail for the declared reason "{reason}"')
    return result("pass")
