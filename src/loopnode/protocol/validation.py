"""Validate LOOP payloads by `@type` and report every problem with an RFC 6901 JSON pointer.

Theory of operation (SPEC-DIGEST §1, §4.13; DECISIONS 3, 4, 27). The core schemas that hold
several definitions (`oneOf`) make them exclusive only through the `@type` const, so choosing the
model by `@type` and validating against it gives AJV's verdict for the whole schema. A payload
without a known `@type` is refused at `/@type` before any model runs. FederateAcceptedResponse
has no `@type`: callers name it with `expected_type`, and `check_document` recognises a bare
`{"status", "id"}` object as one.

Messages are plain English ("must be a number", "is required"); pointers locate the value
(for a missing property, the place where it should be).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from loopnode.domain.errors import Issue, ValidationFailed
from loopnode.protocol import models

FEDERATE_ACCEPTED = "FederateAcceptedResponse"

ENTITY_MODELS: dict[str, type[BaseModel]] = {
    name: getattr(models, name) for name in sorted(models.__all__)
}
"""`@type` -> model, for every core definition and the two openapi federation components
(plus FederateAcceptedResponse under its schema title, for `expected_type`)."""

_TYPED_NAMES = ", ".join(name for name in ENTITY_MODELS if name != FEDERATE_ACCEPTED)


def check_payload(payload: object, expected_type: str | None = None) -> list[Issue]:
    """The payload's issues (`[]` when valid), choosing the model by its `@type`.

    With `expected_type`, the payload's `@type` must also equal it (an endpoint that takes one
    entity type passes it). Raises `KeyError` for an `expected_type` no model has.
    """
    return _validate(payload, expected_type)[1]


def validate_entity(payload: object, expected_type: str | None = None) -> BaseModel:
    """The validated model instance; raises `ValidationFailed` carrying every issue."""
    entity, issues = _validate(payload, expected_type)
    if entity is None:
        raise ValidationFailed(issues)
    return entity


def check_document(doc: object) -> list[Issue]:
    """Issues in a file's content: an entity, or an array of them (pointers then start `/0`...)."""
    if not isinstance(doc, list):
        return _check_document_entity(doc)
    if not doc:
        return [Issue("", "must be an entity object or a non-empty array of entities")]
    return [
        Issue(f"/{index}{issue.pointer}", issue.message)
        for index, item in enumerate(doc)
        for issue in _check_document_entity(item)
    ]


def _check_document_entity(item: object) -> list[Issue]:
    if isinstance(item, dict) and "@type" not in item and set(item) == {"status", "id"}:
        return check_payload(item, FEDERATE_ACCEPTED)
    return check_payload(item)


def _validate(payload: object, expected_type: str | None) -> tuple[BaseModel | None, list[Issue]]:
    model = _select_model(payload, expected_type)
    if isinstance(model, Issue):
        return None, [model]
    try:
        return model.model_validate(payload), []
    except ValidationError as exc:
        return None, issues_from(exc)


def issues_from(error: ValidationError) -> list[Issue]:
    """The issues of a Pydantic validation error, with JSON pointers and protocol wording."""
    return [_issue(item) for item in error.errors(include_url=False, include_input=False)]


def _select_model(payload: object, expected_type: str | None) -> type[BaseModel] | Issue:
    if expected_type == FEDERATE_ACCEPTED:
        return ENTITY_MODELS[expected_type]
    if expected_type is not None and expected_type not in ENTITY_MODELS:
        raise KeyError(f"no entity model for expected_type {expected_type!r}")
    if not isinstance(payload, dict):
        return Issue("", "must be a JSON object")
    if "@type" not in payload:
        wanted = repr(expected_type) if expected_type else f"one of {_TYPED_NAMES}"
        return Issue("/@type", f"is required (must be {wanted})")
    at_type = payload["@type"]
    if expected_type is not None and at_type != expected_type:
        return Issue("/@type", f"must be {expected_type!r}, not {at_type!r}")
    if not isinstance(at_type, str) or at_type not in ENTITY_MODELS or at_type == FEDERATE_ACCEPTED:
        return Issue("/@type", f"unknown entity type {at_type!r}; expected one of {_TYPED_NAMES}")
    return ENTITY_MODELS[at_type]


def _issue(error: ErrorDetails) -> Issue:
    return Issue(json_pointer(error["loc"]), _message(error))


def json_pointer(location: tuple[int | str, ...]) -> str:
    """RFC 6901: `("quantity", "unit")` -> `/quantity/unit`, `~` and `/` escaped; `()` -> `""`."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} item(s)"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    return _FIXED_MESSAGES.get(kind, error["msg"])


_FIXED_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not allowed here (this object admits no other properties)",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be an array",
    "bool_type": "must be a boolean",
    "string_type": "must be a string",
    "string_unicode": "must be a string",
}
