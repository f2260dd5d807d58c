"""The passport registration's answer (`POST /api/v1/{kind}`), shared by its documented APIRoute
(web/routes/registry.py) and its plain route (web/routes/registry_reads.fast_routes), which
serves it without FastAPI's dependency solving (docs/performance.md, "Session 4")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from loopnode.services.access.apikeys import Principal
from loopnode.web.auth import container
from loopnode.web.bodies import read_json_object
from loopnode.web.concurrency import call
from loopnode.web.idempotency import idempotency_request, respond, write
from loopnode.web.responses import LDJSONResponse


async def register_answer(request: Request, kind: str, principal: Principal) -> Response:
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    idem = idempotency_request(request, principal, body)
    change = services.ownership.owned(
        services.registry.registration(kind, body, principal.name), kind, principal
    )
    if idem is None and principal.organisation is not None:  # record the registrant's
        return respond(await call(request, services.ownership.register, change))
    if idem is None:  # validation outside the write transaction: the common, fast path
        registered = await call(request, services.registry.register, kind, body, principal.name)
        location = {"Location": f"/api/v1/{kind}/{registered.row.id}"}
        return LDJSONResponse(registered.response(), 201, location)
    return await write(request, principal, body, lambda: change)
