"""EPCIS 2.0 events of the evidence log: `GET /api/v1/epcis/events[/{eventID}]` (issue 13)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container, reader
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import LDJSONResponse

router = APIRouter(prefix="/api/v1/epcis", tags=["EPCIS"])


@router.get(
    "/events",
    response_class=LDJSONResponse,
    summary="Registrations, offers, matches, transfers and status changes as EPCIS 2.0",
    description="An EPCISDocument of ObjectEvents, oldest first. `subject` (a record id or "
    "`urn:loop:{type}:{id}`; a passport also finds the offers, matches and transfers of it), "
    "`from`/`until` (RFC 3339, inclusive), `limit` ≤ 500. The next page is in the `Link` "
    'header (`rel="next"`) and in `GS1-Next-Page-Token`; pass it back as `cursor`.',
    responses=errors(400, 401),
)
async def events(
    request: Request,
    _p: Annotated[Principal, Depends(reader)],
    subject: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    until: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    service = container(request).epcis
    page = await call(
        request,
        service.events,
        subject=subject,
        from_=from_,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    headers = {}
    if page.next_cursor is not None:
        params = {"subject": subject, "from": from_, "until": until, "limit": limit}
        kept = {k: v for k, v in params.items() if v is not None}
        query = urlencode({**kept, "cursor": page.next_cursor})
        headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        headers["GS1-Next-Page-Token"] = str(page.next_cursor)
    return LDJSONResponse(page.document, headers=headers)


@router.get(
    "/events/{event_id:path}",
    response_class=LDJSONResponse,
    summary="One EPCIS event by its eventID",
    description="`ni:///sha-256;{hex}` (percent-encoded in the path) or the bare 64 hex digits.",
    responses=errors(401, 404),
)
async def event(
    request: Request, event_id: str, _p: Annotated[Principal, Depends(reader)]
) -> Response:
    return LDJSONResponse(await call(request, container(request).epcis.event, event_id))
