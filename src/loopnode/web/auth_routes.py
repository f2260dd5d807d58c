"""`GET /.well-known/jwks.json`: the public key of the node's built-in token issuer (RFC 7517),
so that anyone can verify the bearer tokens `loopnode token issue` makes. Never the node's
federation key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from loopnode.web.auth import container

router = APIRouter(tags=["Authentication"])

JWKS_SCHEMA = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys of the built-in bearer-token issuer (JWKS)",
    responses={200: {"content": {"application/json": {"schema": JWKS_SCHEMA}}}},
    response_class=JSONResponse,
)
async def jwks(request: Request) -> JSONResponse:
    key = container(request).auth.signing_key
    body = key.jwks() if key is not None else {"keys": []}
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})
