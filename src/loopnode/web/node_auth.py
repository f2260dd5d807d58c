"""Node signatures on HTTP (DECISIONS 19): the FastAPI dependency for node-to-node routes.

`signed_peer` reads the raw body once (media type, size limit), verifies the five signature
headers against the peer trust store (`services.federation.trust.PeerTrust.verify`: skew,
key lifecycle, digest, Ed25519, then the seen-signature cache in the database) and hands the
route the authenticated node id together with the body bytes, from which the route parses its
JSON. The signed path is the request target as received: `raw_path` plus the query string.
Refusals use the §8.3 error body: 401 for unknown nodes and every signature failure, 400 for
an unparsable `X-Timestamp`, 403 for a known peer that is not approved yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from loopnode.domain.errors import InvalidRequest
from loopnode.services.federation.trust import RawRequest, SignedCaller
from loopnode.web.auth import container
from loopnode.web.bodies import parse_json, read_body
from loopnode.web.concurrency import call
from loopnode.web.ratelimit import charge_node


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An authenticated node-to-node request and its body bytes (read exactly once)."""

    caller: SignedCaller
    body: bytes

    @property
    def node_id(self) -> str:
        return self.caller.node_id

    def json_object(self) -> dict[str, Any]:
        document = parse_json(self.body)
        if not isinstance(document, dict):
            raise InvalidRequest("the request body must be a JSON object")
        return document


def request_target(request: Request) -> str:
    """Path plus query string exactly as the client sent them (what the signature covers)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = raw + (b"?" + query if query else b"")
    return target.decode("latin-1")


async def raw_request(request: Request) -> RawRequest:
    body = await read_body(request, container(request).settings.max_body_bytes)
    return RawRequest(dict(request.headers), request.method, request_target(request), body)


async def signed_peer(request: Request) -> SignedRequest:
    """Dependency: an approved peer's correctly signed, never-seen request."""
    raw = await raw_request(request)
    caller = await call(request, container(request).federation.trust.verify, raw)
    await charge_node(request, caller.node_id)
    return SignedRequest(caller, raw.body)
