"""Shared OpenAPI fragments: error responses and JSON/JSON-LD request bodies."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "INVALID_REQUEST",
                        "UNAUTHORIZED",
                        "FORBIDDEN",
                        "NOT_FOUND",
                        "CONFLICT",
                        "RATE_LIMITED",
                        "INTERNAL_ERROR",
                    ],
                },
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
_DESCRIPTIONS = {
    400: "Invalid request (schema, personal data, malformed JSON, bad cursor)",
    401: "Missing, wrong or expired credentials",
    403: "Credentials do not allow this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Body larger than the node accepts",
    415: "Body is not application/json or application/ld+json",
    429: "Rate limited",
    503: "The database is unavailable: retry after `Retry-After` seconds",
}
# Every operation may answer these: the request guard (400) and database faults (503).
GUARD_STATUSES = (400, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            },
        }
        for status in statuses
    }


def document_guard(schema: dict[str, Any]) -> None:
    """Add the guard's 400 and the 503 of database faults to every documented operation."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, response in errors(*GUARD_STATUSES).items():
                    operation["responses"].setdefault(str(status), response)


def json_body(schema_ref: str, description: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{schema_ref}"}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/ld+json": {"schema": schema},
                "application/json": {"schema": schema},
            },
        }
    }


WRITE_ERRORS = (400, 401, 403, 405, 409, 413, 415)
