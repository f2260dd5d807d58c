"""One exception tree for the whole node.

Every error the node raises on purpose derives from `LoopError`. Each subclass carries the §8.3
error code it maps to; the mapping to HTTP status lives in exactly one place (`web/errors.py`).

The tree keeps the protocol's distinction of who is at fault (STYLE 6), readable as
`error.peer_fault`:

    LoopError
    ├── the sender broke the rules (peer_fault = True; 4xx)
    │   InvalidRequest (400) ─ ValidationFailed, TimestampError, KeyFormatError, ...
    │   Unauthorized (401) ─ RequestSignatureError, ...
    │   Forbidden (403) · NotFound (404) · Conflict (409) · RateLimited (429)
    └── we failed (peer_fault = False; 5xx)
        NodeFailure (500)
        ├── ConfigurationError  settings, key or trust-store files the operator gave are unusable
        ├── StorageUnavailable  the database could not complete the step now (retry later)
        └── PeerUnreachable     an outbound call to a peer failed (timeout, TLS, refused)

Core-dp refusals (`services/coredp/messages.CoreDpRefusal`) are LoopErrors too; their
lower-case core-dp code says the fault, and they render as the core-dp error body.
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
    peer_fault: bool = False

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidRequest(LoopError):
    """The request breaks a protocol rule (400)."""

    code = "INVALID_REQUEST"
    peer_fault = True


class ValidationFailed(InvalidRequest):
    """A payload does not satisfy its schema; `issues` say where and why."""

    def __init__(self, issues: list[Issue], message: str | None = None) -> None:
        self.issues = issues
        summary = message or _summarise(issues)
        super().__init__(summary, {"validation": [issue.as_dict() for issue in issues]})


class Unauthorized(LoopError):
    """Missing, wrong or expired credentials or signatures (401)."""

    code = "UNAUTHORIZED"
    peer_fault = True


class Forbidden(LoopError):
    """Authenticated but not allowed (403)."""

    code = "FORBIDDEN"
    peer_fault = True


class NotFound(LoopError):
    """The named record does not exist on this node (404)."""

    code = "NOT_FOUND"
    peer_fault = True


class Conflict(LoopError):
    """The request conflicts with the current state (409)."""

    code = "CONFLICT"
    peer_fault = True


class RateLimited(LoopError):
    """Too many requests (429); `RATE_LIMITED` is our documented §8.3 extension."""

    code = "RATE_LIMITED"
    peer_fault = True


class NodeFailure(LoopError):
    """We failed, not the sender (500 INTERNAL_ERROR unless a subclass says otherwise)."""

    code = "INTERNAL_ERROR"


class ConfigurationError(NodeFailure):
    """Settings, key files or trust stores the operator gave cannot run the node."""


class StorageUnavailable(NodeFailure):
    """The database could not complete the step now (locked, connection lost); retrying may work."""


class PeerUnreachable(NodeFailure):
    """An outbound call to a peer failed; `reason` is a short token (timeout, tls, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, {"reason": reason})
        self.reason = reason


def _summarise(issues: list[Issue]) -> str:
    if not issues:
        return "payload is invalid"
    first = issues[0]
    where = first.pointer or "(root)"
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"{where}: {first.message}{more}"
