"""Limits every input meets before it reaches storage, the same on SQLite and PostgreSQL.

Theory of operation (issue 15, "500s on bad input"). Some values are legal JSON and legal
Python but cannot be stored or written back: PostgreSQL refuses a NUL character in any text,
SQLite stores it; orjson cannot serialise JSON nested deeper than 255 levels, so a document
accepted at depth 300 fails when it is answered or relayed; a 64-bit column overflows on a
larger integer; PostgreSQL refuses an identifier longer than its `VARCHAR(160)` column, which
SQLite stores at any length. Each of these is refused here, at the edge, as `InvalidRequest`
(400), so both databases behave alike and no driver error ever becomes a 500.

The limits are deliberately far beyond what a LOOP document needs: the deepest official
example nests six levels; identifiers are about 40 characters.
"""

from __future__ import annotations

from typing import Any

from loopnode.domain.errors import InvalidRequest

MAX_JSON_DEPTH = 64
MAX_ID_LENGTH = 160
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUL = "\x00"


def _is_identifier_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def check_text(value: str, where: str) -> None:
    """Refuse a NUL character (PostgreSQL cannot store it in any text column)."""
    if NUL in value:
        raise InvalidRequest(
            f"{where} contains a NUL character (U+0000), which this node does not accept",
            {"where": where},
        )


def check_integer(value: int, where: str) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequest(f"{where} is outside the 64-bit integer range", {"where": where})


def check_json(document: Any, where: str = "the body") -> None:
    """Walk a parsed JSON value once: depth, NUL characters, integer range, identifier length.

    Iterative, so a hostile depth cannot exhaust the Python stack while it is being measured.
    Scalars are checked where their container is walked, and the JSON pointer of a value is
    only spelled out for an error: building every member's pointer and message up front cost
    8 % of a registration's CPU (docs/performance.md, "Session 4").
    """
    if not isinstance(document, dict | list):
        _check_scalar(document, where, None)
        return
    stack: list[tuple[Any, int, _Path]] = [(document, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            pointer = _pointer(path)
            raise InvalidRequest(
                f"{where} is nested too deep: at most {MAX_JSON_DEPTH} levels",
                {"max_depth": MAX_JSON_DEPTH, "pointer": pointer[:200]},
            )
        if isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                if NUL in key:
                    check_text(key, f"{where} at {_pointer((path, key))[:200]!r} (a key)")
                if isinstance(item, str):
                    if len(item) > MAX_ID_LENGTH and _is_identifier_key(key):
                        _check_identifier(item, f"{where} at {_pointer((path, key))[:200]!r}")
                    if NUL in item:
                        check_text(item, f"{where} at {_pointer((path, key))[:200]!r}")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1, (path, key)))
                elif isinstance(item, int):
                    _check_scalar(item, where, (path, key))
        else:
            for index, item in enumerate(value):
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1, (path, index)))
                elif isinstance(item, str | int):
                    _check_scalar(item, where, (path, index))


# A value's place as a chain of (parent, key or index), spelled as a JSON pointer on error.
_Path = tuple[Any, str | int] | None


def _pointer(path: _Path) -> str:
    tokens: list[str] = []
    while path is not None:
        path, token = path
        tokens.append(_escape(token) if isinstance(token, str) else str(token))
    return "".join(f"/{token}" for token in reversed(tokens))


def _check_scalar(value: Any, where: str, path: _Path) -> None:
    if isinstance(value, str):
        if NUL in value:
            check_text(value, f"{where} at {_pointer(path)[:200]!r}")
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INT64_MIN <= value <= INT64_MAX
    ):
        check_integer(value, f"{where} at {_pointer(path)[:200]!r}")


def _check_identifier(value: str, where: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRequest(
            f"{where} is longer than {MAX_ID_LENGTH} characters",
            {"max_length": MAX_ID_LENGTH, "length": len(value)},
        )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
