"""Core-dp error objects (`error.schema.json`) and their retry semantics.

Theory of operation (SPEC-DIGEST §1.14 "Error", §4.9, §7 items 24 and 38; DECISIONS 23;
check `core-dp-error-contract-semantics`): core-dp surfaces answer with
`{code, message, retryable, correlation_id, details?}`, where `correlation_id` names the
failed message or conversation (never the error envelope itself). A version or signature
failure is not retryable as such; a timeout is. By default (reference backend) `timeout`,
`partition` and `internal_error` are retryable and everything else is not. HTTP statuses
are the web layer's business, not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

from loopnode.protocol.coredp._js import get

__all__ = [
    "ERROR_CODES",
    "RETRYABLE_BY_DEFAULT",
    "ErrorCode",
    "check_error_contract",
    "error_body",
]

ErrorCode = Literal[
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "duplicate",
    "stale_message",
    "unsupported_profile_version",
    "signature_invalid",
    "schema_invalid",
    "timeout",
    "partition",
    "internal_error",
]
ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))
RETRYABLE_BY_DEFAULT: Final = frozenset({"timeout", "partition", "internal_error"})
_MAX_MESSAGE = 500


def error_body(
    code: ErrorCode,
    message: str,
    correlation_id: str,
    *,
    retryable: bool | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A schema-valid core-dp error; the message is cut to the schema's 500 characters."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown core-dp error code {code!r}")
    body: dict[str, Any] = {
        "code": code,
        "message": (message or code)[:_MAX_MESSAGE],
        "retryable": code in RETRYABLE_BY_DEFAULT if retryable is None else retryable,
        "correlation_id": correlation_id,
    }
    if details:
        body["details"] = dict(details)
    return body


def check_error_contract(body: object) -> list[str]:
    """`core-dp-error-contract-semantics`, in the upstream harness's wording."""
    code, retryable = get(body, "code"), get(body, "retryable")
    failures = []
    if code == "unsupported_profile_version" and retryable is not False:
        failures.append(
            "unsupported_profile_version errors are not retryable without a new profile "
            "negotiation."
        )
    if code == "signature_invalid" and retryable is not False:
        failures.append(
            "signature_invalid errors are not retryable without changing the signature/key."
        )
    if code == "timeout" and retryable is not True:
        failures.append("timeout errors must be retryable.")
    return failures
