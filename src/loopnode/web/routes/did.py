"""`GET /.well-known/did.json`: the node's did:web document, resolving credential keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from loopnode.web.auth import container
from loopnode.web.concurrency import call
from loopnode.web.responses import JSONResponse

DID_MEDIA_TYPE = "application/did+ld+json"
router = APIRouter(tags=["Credentials"])


class DIDResponse(JSONResponse):
    media_type = DID_MEDIA_TYPE


@router.get(
    "/.well-known/did.json",
    response_class=DIDResponse,
    summary="This node's DID document (did:web)",
    description="Lists every key that signed still-valid credentials as a Multikey "
    "`assertionMethod` (the current key first; revoked keys are left out). Always public: "
    "verifiers must be able to resolve the issuer.",
)
async def did_document(request: Request) -> Response:
    return DIDResponse(await call(request, container(request).credentials.did_document))
