"""Opaque keyset cursors, bound to the query that produced them.

A cursor carries the (updated_us, id) of the last row served, the snapshot instant when there
is one, and a digest of the filters, ordering and consistency mode. Presenting it with other
filters is an error rather than a silently wrong page (core-dp search contract, SPEC-DIGEST §4.7).
Cursors are not secret and not signed: they only say where to resume, and every row they lead
to is re-checked against the filters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.input_limits import INT64_MAX

PREFIX = "cur_"
_SHAPE = re.compile(r"^cur_[A-Za-z0-9_-]{16,200}\Z")


@dataclass(frozen=True, slots=True)
class Position:
    updated_us: int
    record_id: str
    snapshot_us: int | None = None


def binding(*parts: Any) -> str:
    """A short digest of everything a cursor must not outlive."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode(position: Position, bound_to: str) -> str:
    snapshot = "" if position.snapshot_us is None else str(position.snapshot_us)
    raw = f"{bound_to}.{position.updated_us}.{snapshot}.{position.record_id}".encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, bound_to: str) -> Position:
    if not _SHAPE.match(cursor):
        raise InvalidRequest("cursor is malformed", {"cursor": cursor[:220]})
    body = cursor[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        bound, updated, snapshot, record_id = raw.split(".", 3)
        position = Position(int(updated), record_id, int(snapshot) if snapshot else None)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("cursor is malformed", {"cursor": cursor[:220]}) from exc
    if not _storable(position):
        raise InvalidRequest("cursor is malformed", {"cursor": cursor[:220]})
    if bound != bound_to:
        raise InvalidRequest(
            "cursor belongs to a different query: repeat the filters it was issued for",
            {"cursor": cursor[:220]},
        )
    return position


def _storable(position: Position) -> bool:
    """A forged cursor must not carry what the database cannot compare (issue 15)."""
    numbers = (position.updated_us, position.snapshot_us or 0)
    return all(0 <= n <= INT64_MAX for n in numbers) and "\x00" not in position.record_id
