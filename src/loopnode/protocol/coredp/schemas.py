"""The official core-dp and core schemas, validated the way the upstream harness does.

Theory of operation (SPEC-DIGEST §1.0, §1.14, §4.13, §5.1): the 9 core-dp schemas (draft
2020-12) and the 12 core schemas (draft-07) ship as package data and go into one
`referencing.Registry` under their `$id`, each with its own dialect, so `dna-operation` can
`$ref` `material-dna` across drafts. Validation uses one jsonschema class whose keywords come
from `ajv_compat` (AJV's patterns, formats, wording and applicator reporting). The `$schema`
member is dropped from the registered copies so that jsonschema never swaps our class for its
stock one when a `$ref` crosses into a draft-07 resource; the two drafts do not differ in any
keyword these schemas use.

A schema is found by its `$id`, its upstream repository path (`schemas/transfer.schema.json`,
`profiles/core-dp/schemas/envelope.schema.json`) or its file name, as the upstream runners do.
`SchemaValidator.issues` returns AJV-style issues and never raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import Draft202012Validator, extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from loopnode.protocol.coredp.ajv_compat import KEYWORDS

__all__ = [
    "BASE_ID",
    "CORE_BASE_ID",
    "SchemaIssue",
    "SchemaSet",
    "SchemaValidator",
    "format_issues",
    "schema",
    "schemas",
]

BASE_ID = "https://localloop.urbnia.com/projects/loop-protocol/profiles/core-dp/0.1.0-lab/schemas/"
CORE_BASE_ID = "https://localloop.urbnia.com/projects/loop-protocol/schemas/v0.2.0/"
_CORE_DP_REPO_DIR = "profiles/core-dp/schemas/"
_CORE_REPO_DIR = "schemas/"

_AjvValidator = extend(Draft202012Validator, validators=dict(KEYWORDS))  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One AJV-style error: JSON pointer of the instance, keyword and AJV's message."""

    instance_path: str
    keyword: str
    message: str

    def line(self) -> str:
        """The upstream `formatErrors` line: `- /path (keyword): message`."""
        return f"- {self.instance_path or '/'} ({self.keyword}): {self.message}"


def format_issues(issues: list[SchemaIssue]) -> str:
    if not issues:
        return "No detailed errors reported."
    return "\n".join(issue.line() for issue in issues)


class SchemaValidator:
    """Validates instances against one registered schema."""

    def __init__(self, schema_id: str, repo_path: str, registry: Registry[Any]) -> None:
        self.schema_id = schema_id
        self.repo_path = repo_path
        self._registry = registry

    @cached_property
    def _validator(self) -> Any:
        contents = self._registry.contents(self.schema_id)
        return _AjvValidator(contents, registry=self._registry)

    def issues(self, instance: object) -> list[SchemaIssue]:
        """Every failure, AJV-style; an empty list means valid. Never raises on any input."""
        try:
            return [_issue(error) for error in self._iter_errors(instance)]
        except RecursionError:
            return [SchemaIssue("", "depth", "payload is nested too deeply to validate")]

    def is_valid(self, instance: object) -> bool:
        try:
            return next(self._iter_errors(instance), None) is None
        except RecursionError:
            return False

    def _iter_errors(self, instance: object) -> Iterator[ValidationError]:
        errors: Iterator[ValidationError] = self._validator.iter_errors(instance)
        return errors


class SchemaSet:
    """All bundled schemas, addressable by `$id`, repository path or file name."""

    def __init__(self, documents: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        resources_: list[tuple[str, Resource[Any]]] = []
        self._by_name: dict[str, SchemaValidator] = {}
        self.documents = {path: doc for path, (_, doc) in documents.items()}
        for schema_id, document in documents.values():
            spec = DRAFT202012 if "2020-12" in str(document.get("$schema", "")) else DRAFT7
            stripped = {k: v for k, v in document.items() if k != "$schema"}
            resources_.append((schema_id, spec.create_resource(stripped)))
        registry: Registry[Any] = Registry().with_resources(resources_)
        for repo_path, (schema_id, _) in documents.items():
            validator = SchemaValidator(schema_id, repo_path, registry)
            for name in (schema_id, repo_path, repo_path.rsplit("/", 1)[-1]):
                self._by_name.setdefault(name, validator)

    def get(self, name: str) -> SchemaValidator | None:
        return self._by_name.get(name) if isinstance(name, str) else None

    def __getitem__(self, name: str) -> SchemaValidator:
        found = self.get(name)
        if found is None:
            raise KeyError(f"no bundled schema named {name!r}")
        return found


@lru_cache(maxsize=1)
def schemas() -> SchemaSet:
    """The bundled schema set (loaded once)."""
    root = resources.files("loopnode.protocol.coredp").joinpath("schemas")
    documents: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for folder, repo_dir in ((root, _CORE_DP_REPO_DIR), (root.joinpath("core"), _CORE_REPO_DIR)):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".schema.json"):
                document = json.loads(entry.read_text(encoding="utf-8"))
                documents[repo_dir + entry.name] = (document["$id"], document)
    return SchemaSet(documents)


def schema(name: str) -> SchemaValidator:
    """The bundled schema called `name` (`$id`, repository path or file name)."""
    return schemas()[name]


def _issue(error: ValidationError) -> SchemaIssue:
    pointer = "".join("/" + _escape(part) for part in error.absolute_path)
    keyword = str(error.validator) if error.validator is not None else "false schema"
    message = error.message if error.validator is not None else "boolean schema is false"
    return SchemaIssue(pointer, keyword, message)


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")
