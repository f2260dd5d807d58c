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
    """
    stack: list[tuple[Any, int, str]] = [(document, 1, "")]
    while stack:
        value, depth, pointer = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            raise InvalidRequest(
                f"{where} is nested too deep: at most {MAX_JSON_DEPTH} levels",
                {"max_depth": MAX_JSON_DEPTH, "pointer": pointer[:200]},
            )
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{pointer}/{_escape(str(key))}"
                check_text(str(key), f"{where} at {child[:200]!r} (a key)")
                if _is_identifier_key(str(key)) and isinstance(item, str):
                    _check_identifier(item, f"{where} at {child[:200]!r}")
                stack.append((item, depth + 1, child))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{pointer}/{i}") for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(value, f"{where} at {pointer[:200]!r}")
        elif isinstance(value, int) and not isinstance(value, bool):
            check_integer(value, f"{where} at {pointer[:200]!r}")


def _check_identifier(value: str, where: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRequest(
            f"{where} is longer than {MAX_ID_LENGTH} characters",
            {"max_length": MAX_ID_LENGTH, "length": len(value)},
        )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
