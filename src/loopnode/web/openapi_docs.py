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
}


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
