"""`GET /api/v1/evidence/verify`: the evidence chain's verification status (spec §10.5).

The dashboard's evidence panel shows it; it runs the same check as `loopnode evidence verify`
(services/evidence/service.py), so the page and the command line can never disagree.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1")


@router.get(
    "/evidence/verify",
    tags=["Evidence"],
    response_class=JSONResponse,
    summary="Recompute the evidence hash chain and report whether it is intact",
    description="`{intact, entries, first_broken, reason, records}`: `first_broken` is the "
    "sequence of the first entry that does not fit the chain (null when intact); `records` "
    "lists the stored records their evidence does not account for (`{type, id, problem}`).",
    responses=errors(401),
)
async def verify(request: Request, _p: Annotated[Principal, Depends(reader)]) -> Response:
    report = await call(request, container(request).evidence.verify)
    return JSONResponse(
        {
            "intact": report.intact,
            "entries": report.entries,
            "first_broken": report.first_broken,
            "reason": report.reason,
            "records": [
                {"type": kind, "id": record_id, "problem": problem}
                for kind, record_id, problem in report.records
            ],
        }
    )
