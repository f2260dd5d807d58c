"""Verifiable passports: `GET /api/v1/{material|product}/{id}/credential` (issue 13 item 5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import LD_JSON, LDJSONResponse

VC_MEDIA_TYPE = "application/vc"
router = APIRouter(prefix="/api/v1", tags=["Credentials"])


def _answer(request: Request, credential: dict[str, object]) -> Response:
    wanted = request.headers.get("accept", "")
    media = VC_MEDIA_TYPE if VC_MEDIA_TYPE in wanted and LD_JSON not in wanted else LD_JSON
    return LDJSONResponse(credential, media_type=media)


for _kind in ("material", "product"):

    def _route(kind: str) -> None:
        @router.get(
            f"/{kind}/{{record_id}}/credential",
            response_class=LDJSONResponse,
            summary=f"The {kind} passport as a W3C Verifiable Credential 2.0",
            description="Signed now with the node's key: a Data Integrity proof of cryptosuite "
            "eddsa-jcs-2022 whose verificationMethod is listed in `/.well-known/did.json`. "
            "`Accept: application/vc` answers that media type, else `application/ld+json`.",
            responses=errors(401, 404),
        )
        async def credential(
            request: Request, record_id: str, _p: Annotated[Principal, Depends(reader)]
        ) -> Response:
            service = container(request).credentials
            return _answer(request, await call(request, service.credential, kind, record_id))

    _route(_kind)
