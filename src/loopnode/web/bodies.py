"""Reading request bodies safely: media type (415), size (413), JSON (400), object (400).

The size limit is checked against Content-Length before anything is read, and again while
streaming, so a body without a length cannot grow past the limit in memory either.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.input_limits import check_json
from loopnode.web.errors import HTTPProblem

ACCEPTED_TYPES = frozenset({"application/json", "application/ld+json"})


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    media = _media_type(request)
    if media not in ACCEPTED_TYPES:
        raise HTTPProblem(
            415,
            "send the body as application/json or application/ld+json",
            {"content_type": media or None},
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> HTTPProblem:
    return HTTPProblem(413, f"the body is larger than {limit} bytes", {"max_bytes": limit})


def parse_json(raw: bytes) -> Any:
    """Parse a request body and hold it to `protocol.input_limits` (depth, NUL, ranges)."""
    if not raw.strip():
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("the request body is not valid JSON", {"reason": str(exc)}) from exc
    check_json(document)
    return document


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    document = parse_json(await read_body(request, limit))
    if not isinstance(document, dict):
        raise InvalidRequest(
            f"the request body must be a JSON object, not {type(document).__name__}"
        )
    return document
