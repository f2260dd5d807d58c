"""`GET /.well-known/jwks.json`: the public key of the node's built-in token issuer (RFC 7517),
so that anyone can verify the bearer tokens `loopnode token issue` makes. Never the node's
federation key. `GET /api/v1/whoami`: the roles of the credential sent, for the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import ANONYMOUS, container
from loopnode.web.openapi_docs import errors

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


WHOAMI_SCHEMA = {
    "type": "object",
    "required": ["authenticated", "roles", "organisation"],
    "properties": {
        "authenticated": {"type": "boolean"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "organisation": {"type": ["string", "null"]},
    },
}


@router.get(
    "/api/v1/whoami",
    summary="The roles of the credential sent (none without one)",
    description="What the dashboard asks after sign-in, so that it shows only the panels the "
    "credential's roles may read (web/authz.py POLICY). Answers for the caller only.",
    responses={
        200: {"content": {"application/json": {"schema": WHOAMI_SCHEMA}}},
        **errors(401),
    },
    response_class=JSONResponse,
)
async def whoami(request: Request) -> JSONResponse:
    principal: Principal = request.state.principal
    body = {
        "authenticated": principal is not ANONYMOUS,
        "roles": list(principal.roles),
        "organisation": principal.organisation,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
