"""SQL stores of each feature, built lazily by the unit of work."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["json_text"]


def json_text(value: Any) -> str:
    """A JSON column's text: orjson's compact rendering, which the reads pass through unchanged."""
    return orjson.dumps(value).decode()
