"""One exception tree for the whole node.

Every error the node raises on purpose derives from `LoopError`. Each subclass carries the §8.3
error code it maps to; the mapping to HTTP status lives in exactly one place (`web/errors.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem: where (an RFC 6901 JSON pointer) and what."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class LoopError(Exception):
    """Root of every deliberate error. `code` is the §8.3 error code."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidRequest(LoopError):
    """The request breaks a protocol rule (400)."""

    code = "INVALID_REQUEST"


class ValidationFailed(InvalidRequest):
    """A payload does not satisfy its schema; `issues` say where and why."""

    def __init__(self, issues: list[Issue], message: str | None = None) -> None:
        self.issues = issues
        summary = message or _summarise(issues)
        super().__init__(summary, {"validation": [issue.as_dict() for issue in issues]})


class Unauthorized(LoopError):
    """Missing, wrong or expired credentials or signatures (401)."""

    code = "UNAUTHORIZED"


class Forbidden(LoopError):
    """Authenticated but not allowed (403)."""

    code = "FORBIDDEN"


class NotFound(LoopError):
    """The named record does not exist on this node (404)."""

    code = "NOT_FOUND"


class Conflict(LoopError):
    """The request conflicts with the current state (409)."""

    code = "CONFLICT"


class RateLimited(LoopError):
    """Too many requests (429); `RATE_LIMITED` is our documented §8.3 extension."""

    code = "RATE_LIMITED"


def _summarise(issues: list[Issue]) -> str:
    if not issues:
        return "payload is invalid"
    first = issues[0]
    where = first.pointer or "(root)"
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"{where}: {first.message}{more}"
