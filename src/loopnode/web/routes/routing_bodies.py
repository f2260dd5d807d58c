"""Request bodies whose numbers must stay exact (signal values, prices): parsed twice, once as
the validators expect (orjson, JSON numbers as float) and once with every number a `Decimal`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request

from loopnode.domain.errors import InvalidRequest
from loopnode.web.bodies import parse_json, read_body


def exact_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the request body is not valid JSON") from exc


async def read_exact_object(request: Request, limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as `(plain, exact)`: both JSON objects, the second with Decimal numbers."""
    raw = await read_body(request, limit)
    plain = parse_json(raw)
    if not isinstance(plain, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {type(plain).__name__}")
    exact = exact_loads(raw)
    assert isinstance(exact, dict)
    return plain, exact
