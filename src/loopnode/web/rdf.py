"""RDF by content negotiation: `Accept: application/n-quads` on any stored entity (issue 13).

An ASGI middleware, so every entity route (passports, offers, matches, transfers, status
updates, transactions, the resolver) gains the view without knowing about it: for a GET of one
entity whose client prefers N-Quads over JSON, the route's `application/ld+json` answer is
converted (`protocol.rdf`, bundled contexts only, never the network). Errors and other answers
pass through untouched; a document whose context the node does not bundle is 406.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopnode.domain.errors import InvalidRequest
from loopnode.protocol.rdf import NQUADS, to_nquads
from loopnode.web import errors
from loopnode.web.negotiation import prefers

ENTITY_PATH = re.compile(
    r"^/(?:api/v1/(?:material|product|offer|match|transfer|material-status|transaction)"
    r"|dpp)/[^/]+$"
)
JSON_TYPES = ("application/ld+json", "application/json", "text/html")


class RdfNegotiation:
    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
        if start.get("status") != 200 or not content_type.startswith("application/ld+json"):
            await send({**start})
            await send({"type": "http.response.body", "body": body})
            return
        response = await self._convert(body, scope["path"])
        await response(scope, receive, send)

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        if not ENTITY_PATH.match(scope["path"]):
            return False
        # `prefers` needs N-Quads named explicitly: an Accept header without it is answered
        # JSON without being parsed (what almost every request sends).
        accept = next((v for k, v in scope["headers"] if k == b"accept"), None)
        if accept is None or b"n-quads" not in accept.lower():
            return False
        return prefers(accept.decode("latin-1"), (NQUADS,), JSON_TYPES)

    async def _convert(self, body: bytes, path: str) -> Response:
        base = self.base_url + path.rsplit("/", 1)[0] + "/"
        try:
            text = await run_in_threadpool(to_nquads, orjson.loads(body), base)
        except InvalidRequest as exc:
            problem = errors.HTTPProblem(406, f"no RDF view of this entity: {exc.message}")
            return errors.respond(problem)
        return Response(text, media_type=NQUADS, headers={"Vary": "Accept"})
