"""The core-dp HTTP binding (SPEC-DIGEST §7 item 15; DECISIONS 20; docs/core-dp.md).

`POST /api/v1/core-dp/messages` takes one signed envelope (`application/json`; the subject
snapshot rides in `X-CoreDp-Subject`) and answers 200 with the signed reply envelope, 202 with a
receipt when the choreography defines no reply, or a core-dp error body (`DP/error.schema.json`)
with the status of SPEC-DIGEST §2.6 — on this route never the §8.3 error format. The envelope is
its own credential: no API key or request signature is needed.

Readers: `GET /api/v1/core-dp/conversations` and `/conversations/{id}`. Operators (API key):
`GET /api/v1/core-dp/outbox`. The one delivery worker (`federation.start`) delivers the core-dp
outbox rows too, unless `federation_worker` is off.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.bootstrap import Container
from loopnode.domain.errors import LoopError, StorageUnavailable
from loopnode.protocol.input_limits import check_json
from loopnode.services.access.apikeys import Principal
from loopnode.services.coredp.exchange import view
from loopnode.services.coredp.messages import SUBJECT_HEADER
from loopnode.services.coredp.receiver import ReceiverAnswer, correlation_id
from loopnode.web.auth import container, reader, writer
from loopnode.web.bodies import read_body
from loopnode.web.concurrency import call
from loopnode.web.errors import COREDP_STATUS, HTTPProblem, coredp_response
from loopnode.web.responses import JSONResponse

__all__ = ["router", "stop"]

log = logging.getLogger("loopnode.web")
router = APIRouter(prefix="/api/v1/core-dp", tags=["Core-DP"])

DP_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message", "retryable", "correlation_id"],
                "description": "DP/error.schema.json",
            }
        }
    }
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The signed reply envelope (e.g. offer.ack for offer.publish)"},
    202: {"description": "Accepted; the choreography defines no reply (e.g. transfer.ack)"},
    **{
        status: {"description": description, **DP_ERROR}
        for status, description in (
            (400, "invalid_request, schema_invalid, unsupported_profile_version"),
            (401, "signature_invalid, unauthorized"),
            (403, "forbidden"),
            (409, "conflict, duplicate, stale_message"),
            (413, "invalid_request: body too large"),
            (415, "invalid_request: not application/json"),
            (504, "timeout: the node could not complete the step now (retry)"),
        )
    },
}

Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]


@router.post(
    "/messages",
    summary="Receive one signed core-dp envelope",
    responses=_ANSWERS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [
            {
                "name": SUBJECT_HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "base64url RFC 8785 JSON of the Offer/Match/Transfer the message "
                "is about; must hash to the body's local_evidence_hash_sha256",
            }
        ],
    },
)
async def messages(request: Request) -> Response:
    services = container(request)
    fallback = correlation_id(None)
    try:
        raw = await read_body(request, services.settings.max_body_bytes)
        document = orjson.loads(raw)
        check_json(document)
    except HTTPProblem as exc:
        return coredp_response("invalid_request", exc.message, fallback, exc.status)
    except LoopError as exc:
        return coredp_response("invalid_request", exc.message, fallback)
    except orjson.JSONDecodeError:
        return coredp_response(
            "invalid_request", "the body is not JSON: send one envelope", fallback
        )
    header = request.headers.get(SUBJECT_HEADER)
    try:
        answer = await call(request, services.coredp.receiver.receive, document, header)
    except StorageUnavailable:
        log.exception("core-dp storage failure")
        message = "this node could not complete the step now; retry"
        return coredp_response("timeout", message, correlation_id(document))
    except Exception:
        log.exception("core-dp receiver failure")
        message = "this node failed to handle the message"
        return coredp_response("internal_error", message, correlation_id(document))
    return _respond(answer)


def _respond(answer: ReceiverAnswer) -> Response:
    if answer.kind == "envelope":
        return JSONResponse(answer.body, 200)
    if answer.kind == "receipt":
        return JSONResponse(answer.body, 202)
    return JSONResponse(answer.body, COREDP_STATUS[answer.code or "internal_error"])


@router.get("/conversations", summary="Core-dp conversations of this node, oldest first")
async def conversations(
    request: Request,
    _principal: Reader,
    peer: Annotated[str | None, Query(max_length=128)] = None,
    subject_id: Annotated[str | None, Query(max_length=160)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    exchange = container(request).coredp.exchange
    found = await call(
        request, exchange.conversations, peer=peer, subject_id=subject_id, limit=limit
    )
    return JSONResponse({"conversations": [view(c) for c in found]})


@router.get("/conversations/{conversation_id}", summary="One core-dp conversation")
async def conversation(request: Request, conversation_id: str, _principal: Reader) -> Response:
    exchange = container(request).coredp.exchange
    return JSONResponse(view(await call(request, exchange.conversation, conversation_id)))


@router.get("/outbox", summary="Core-dp messages this node authored, with delivery state")
async def outbox(
    request: Request,
    _principal: Writer,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    exchange = container(request).coredp.exchange
    rows = await call(request, exchange.outbox, status, after, limit)
    return JSONResponse(
        {
            "entries": [
                {
                    "id": row.id,
                    "peer_node": row.peer_node,
                    "message_type": row.message_type,
                    "conversation_id": row.conversation_id,
                    "status": row.status,
                    "attempt": row.attempt,
                    "unreached": row.unreached,
                    "last_message_id": row.last_message_id,
                    "last_error": row.last_error,
                }
                for row in rows
            ]
        }
    )


async def stop(_app: Any, services: Container) -> None:
    """Close the exchange's transport (the one delivery worker, `federation.start`, serves
    core-dp rows too)."""
    await services.coredp.transport.aclose()
