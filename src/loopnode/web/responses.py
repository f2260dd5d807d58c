"""Response classes: orjson rendering, JSON-LD media type for entities (DECISIONS 24)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

LD_JSON = "application/ld+json"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class LDJSONResponse(JSONResponse):
    media_type = LD_JSON
