"""`GET /api/v1/evidence/checkpoint[/{sequence}]`: signed checkpoints of the evidence chain.

Public, like the node's keys: a checkpoint says only how long the log is and what its head hash
is, and peers witnessing this node fetch it without credentials (services/evidence/witness.py). With
a
sequence, the node signs the hash of that earlier entry: what a witness holding an old
checkpoint asks to check that the log still extends it (protocol/checkpoints.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from loopnode.bootstrap import Container
from loopnode.web.auth import container
from loopnode.web.concurrency import call
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1")


@router.get(
    "/evidence/checkpoint",
    tags=["Evidence"],
    response_class=JSONResponse,
    summary="The evidence chain's head, signed with the node key",
    description="`{node_id, sequence, head_hash, issued_at, signature: {alg, key_id, value}}`; "
    "the signature is Ed25519 over the canonical JSON of those fields and "
    "`type: loopnode-evidence-checkpoint`.",
)
async def checkpoint(request: Request) -> Response:
    signed = await call(request, container(request).evidence.checkpoint)
    return JSONResponse(signed.to_document())


@router.get(
    "/evidence/checkpoint/{sequence}",
    tags=["Evidence"],
    response_class=JSONResponse,
    summary="The hash of evidence entry `sequence`, signed with the node key",
    responses=errors(400, 404),
)
async def checkpoint_at(
    request: Request, sequence: Annotated[int, Path(ge=0, le=2**53 - 1)]
) -> Response:
    signed = await call(request, container(request).evidence.checkpoint, sequence)
    return JSONResponse(signed.to_document())


async def start(app: Any, services: Container) -> asyncio.Task[None] | None:
    """Witness the approved peers' checkpoints every `evidence_witness_interval_s` (0: never);
    the findings count is a gauge on `/metrics`."""
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        metrics.add_gauge(
            "loopnode_evidence_witness_findings",
            "Inconsistencies found in peers' signed evidence checkpoints (issue 15).",
            lambda: float(services.witness.finding_count()),
        )
    interval = services.settings.evidence_witness_interval_s
    if interval <= 0 or not services.settings.federation_worker:
        return None
    return asyncio.create_task(services.witness.run(interval), name="evidence-witness")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
