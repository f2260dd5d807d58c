"""The upstream OpenAPI contract (reference/loop/openapi.json) in the node's own /openapi.json
(issue 15 item 5): every upstream operation documents its request body and its success answer
with the protocol's component schemas, not FastAPI's placeholder `{"type": "string"}`.

`CONTRACT` lists the upstream operations (with this node's path-parameter names) and the
component each documents; `complete` writes them into the generated document.
`GET /api/v1/signals` comes with the routing branch (issue 11); until it is merged it is the one
operation `tests/integration/web/test_protocol_completeness.py` names as pending.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loopnode.protocol.validation import ENTITY_MODELS

V1 = "/api/v1"
REF = "#/components/schemas/"

# (method, path) -> (request component or None, success status, response component or None)
CONTRACT: dict[tuple[str, str], tuple[str | None, str, str | None]] = {
    ("post", f"{V1}/material"): ("MaterialDNA", "201", "MaterialDNA"),
    ("get", f"{V1}/material/{{record_id}}"): (None, "200", "MaterialDNA"),
    ("post", f"{V1}/material/search"): ("MaterialSearchRequest", "200", None),
    ("post", f"{V1}/product"): ("ProductDNA", "201", "ProductDNA"),
    ("get", f"{V1}/product/{{record_id}}"): (None, "200", "ProductDNA"),
    ("post", f"{V1}/product/search"): ("ProductSearchRequest", "200", None),
    ("get", f"{V1}/node/info"): (None, "200", "NodeInfo"),
    ("get", f"{V1}/signals"): (None, "200", "LoopSignalConfig"),
    ("post", f"{V1}/transaction"): ("MaterialTransaction", "201", None),
    ("post", f"{V1}/federate/announce"): (
        "MaterialAnnouncement",
        "202",
        "FederateAcceptedResponse",
    ),
    ("post", f"{V1}/federate/offer"): ("MaterialOffer", "202", "FederateAcceptedResponse"),
}
JSON_TYPES = ("application/ld+json", "application/json")


def complete(document: dict[str, Any], model_schema: Callable[[Any, dict[str, Any]], Any]) -> None:
    """Add the contract's components and point the operations' bodies and answers at them."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for request, _status, response in CONTRACT.values():
        for name in (request, response):
            if name and name not in components and name in ENTITY_MODELS:
                components[name] = model_schema(ENTITY_MODELS[name], components)
    for (method, path), (request, status, response) in CONTRACT.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue  # pending: another branch serves it
        if request and "requestBody" not in operation:
            operation["requestBody"] = {
                "required": True,
                "content": {media: {"schema": {"$ref": REF + request}} for media in JSON_TYPES},
            }
        answer = operation.setdefault("responses", {}).setdefault(status, {"description": ""})
        if response:
            content = answer.setdefault("content", {})
            for media in [m for m in content if "json" in m] or ["application/json"]:
                content[media] = {"schema": {"$ref": REF + response}}


OBJECT: dict[str, Any] = {"type": "object"}
PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["results", "next_cursor"],
    "properties": {
        "results": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"]},
    },
}
ERROR_REF = {"$ref": REF + "ErrorResponse"}
# Answers any route may give, whatever it does: the edge guard (400), quotas (429) and an
# unreachable database (503); 413/415 where a body is read.
EDGE = {"400": "Invalid request", "429": "Too many requests", "503": "Database unavailable"}


def document_answers(document: dict[str, Any], access: Callable[[str, str], object]) -> None:
    """Give every operation the schemas and status codes it can really answer with.

    FastAPI documents routes that return a Response as `{"type": "string"}`; JSON answers are
    objects, and the paginated lists have a fixed shape. Error statuses that the middleware,
    the access table (401/403) or a path parameter (404) can produce are documented with the
    §8.3 body."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, answer in responses.items():
                if not status.startswith("2"):
                    continue
                for media, body in answer.get("content", {}).items():
                    if "json" in media and body.get("schema") == {"type": "string"}:
                        body["schema"] = _shape(method, path)
            errors = dict(EDGE)
            if "{" in path:
                errors["404"] = "Not found"
            granted = access(method.upper(), path)
            if granted not in ("public", None):
                errors |= {"401": "Unauthorized", "403": "Forbidden"}
            if "requestBody" in operation or method == "post":
                errors |= {"413": "Body too large", "415": "Unsupported media type"}
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )


def _shape(method: str, path: str) -> dict[str, Any]:
    listing = method == "get" and path.startswith(V1) and "{" not in path
    paged = (
        "offer",
        "match",
        "transfer",
        "material-status",
        "transaction",
        "material",
        "product",
        "federation/materials",
    )
    if listing and path.removeprefix(V1 + "/") in paged:
        return PAGE
    return OBJECT
