"""Federation routes (spec §8.1 rows 9-10, §9; DECISIONS 18-21, 33; docs/federation.md).

Node-to-node (signed requests): `POST /federate/announce`, `POST /federate/offer`,
`POST /federation/handshake` (signed with the key it carries, or the peer's current key),
`POST /federation/keys` (key notices authenticate themselves; see `notices.py`).
Public: `GET /federation/nodes` (NodeRegistry), `GET /federation/keys` (this node's key
history as a core-dp trust store). Readers: `GET /federation/materials`. Operators (API key):
`GET /federation/peers`, `GET /federation/bids`, `POST /federation/bids/{id}/accept`,
`GET /federation/outbox`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from loopnode.bootstrap import Container
from loopnode.services.access.apikeys import Principal
from loopnode.services.federation.ports import PeerTransport
from loopnode.services.messaging.delivery import DeliveryWorker
from loopnode.web.auth import container, reader, writer
from loopnode.web.bodies import parse_json, read_json_object
from loopnode.web.concurrency import call
from loopnode.web.node_auth import SignedRequest, raw_request, signed_peer
from loopnode.web.openapi_docs import errors
from loopnode.web.responses import JSONResponse, LDJSONResponse

router = APIRouter(prefix="/api/v1")
SIGNED_ERRORS = (400, 401, 403, 413, 415)
NODE_SIGNATURE = "Signed node request: X-Node-ID, X-Timestamp, X-Node-Key-Id, "
NODE_SIGNATURE += "X-Node-Signature-Input-SHA256, X-Node-Signature (DECISIONS 19)."


def transport(request: Request) -> PeerTransport:
    """The app's peer transport, bound to the server's event loop."""
    state = request.app.state
    found: PeerTransport | None = getattr(state, "federation_transport", None)
    if found is None:
        found = container(request).federation.transport_factory()
        state.federation_transport = found
    return found


# -- node to node ----------------------------------------------------------------------------------
@router.post(
    "/federate/announce",
    tags=["Federation"],
    status_code=202,
    response_class=JSONResponse,
    summary="Receive a MaterialAnnouncement (controlled flooding)",
    description=NODE_SIGNATURE + " Answers FederateAcceptedResponse; duplicates get the id "
    "of the first receipt.",
    responses=errors(*SIGNED_ERRORS),
)
async def announce(
    request: Request, signed: Annotated[SignedRequest, Depends(signed_peer)]
) -> Response:
    payload = signed.json_object()
    services = container(request).federation
    event_id = await call(request, services.announcements.receive, signed.node_id, payload)
    return JSONResponse({"status": "accepted", "id": event_id}, 202)


@router.post(
    "/federate/offer",
    tags=["Federation"],
    status_code=202,
    response_class=JSONResponse,
    summary="Receive a MaterialOffer: a peer's bid for one of our materials",
    description=NODE_SIGNATURE + " 404 for a material this node does not hold, 400 for an "
    "expired bid.",
    responses=errors(*SIGNED_ERRORS, 404),
)
async def offer(
    request: Request, signed: Annotated[SignedRequest, Depends(signed_peer)]
) -> Response:
    payload = signed.json_object()
    services = container(request).federation
    event_id = await call(request, services.bids.receive, signed.node_id, payload)
    return JSONResponse({"status": "accepted", "id": event_id}, 202)


@router.post(
    "/federation/handshake",
    tags=["Federation"],
    response_class=LDJSONResponse,
    summary="Receive a NodeHandshake",
    description="A first handshake is signed with the key it carries; the node checks it "
    "against the NodeInfo at the handshake's endpoint and records a pending peer. Later "
    "handshakes must be signed by the peer's current key.",
    responses=errors(*SIGNED_ERRORS),
)
async def handshake(request: Request) -> Response:
    raw = await raw_request(request)
    payload = parse_json(raw.body)
    services = container(request).federation
    answer = await services.peers.receive_handshake(transport(request), raw, payload)
    return LDJSONResponse(answer)


@router.post(
    "/federation/keys",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Receive a key rotation or revocation notice from a peer",
    description="The notice carries its own signatures (see docs/federation.md).",
    responses=errors(400, 401, 413, 415),
)
async def key_notice(request: Request) -> Response:
    raw = await raw_request(request)
    payload = parse_json(raw.body)
    result = await call(request, container(request).federation.trust.apply_notice, payload)
    return JSONResponse({"status": "accepted", **result})


# -- public ----------------------------------------------------------------------------------------
@router.get(
    "/federation/nodes",
    tags=["Federation"],
    response_class=LDJSONResponse,
    summary="This node and its approved peers, as a NodeRegistry",
)
async def nodes(request: Request) -> Response:
    return LDJSONResponse(await call(request, container(request).federation.peers.registry))


@router.get(
    "/federation/keys",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="This node's key history, as a core-dp trust-store document",
    responses=errors(404),
)
async def own_keys(request: Request) -> Response:
    return JSONResponse(await call(request, container(request).federation.keys.trust_document))


@router.get(
    "/federation/materials",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Materials announced by peers (remote materials)",
    description="Keyset pages in (updated_at, material, origin) order; `source_node` is the "
    "node that holds the material, `received_from` the peer that relayed it.",
    responses=errors(400, 401),
)
async def remote_materials(
    request: Request,
    _p: Annotated[Principal, Depends(reader)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    source_node: str | None = None,
) -> Response:
    page = await call(
        request,
        container(request).federation.announcements.remote_page,
        cursor,
        limit,
        source_node,
    )
    return JSONResponse(page)


# -- operators -------------------------------------------------------------------------------------
@router.get(
    "/federation/peers",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Known peers, pending and approved, with their keys",
    responses=errors(401, 403),
)
async def peers(request: Request, _p: Annotated[Principal, Depends(writer)]) -> Response:
    described = await call(request, container(request).federation.peers.describe)
    return JSONResponse({"peers": described})


@router.get(
    "/federation/bids",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Bids (MaterialOffers) peers sent for our materials",
    responses=errors(400, 401, 403),
)
async def bids(
    request: Request,
    _p: Annotated[Principal, Depends(writer)],
    status: Literal["open", "accepted", "rejected", "expired"] | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    page = await call(request, container(request).federation.bids.page, status, after, limit)
    return JSONResponse(page)


@router.post(
    "/federation/outgoing-bids",
    tags=["Federation"],
    status_code=202,
    response_class=JSONResponse,
    summary="Bid for a peer's material: queue a signed MaterialOffer to the node that holds it",
    description="Body: `{to, material, base_price, loop_cost, valid_until}`; `to` is the approved "
    "peer holding the material (its announcement's origin). Delivered through the outbox.",
    responses=errors(400, 401, 403, 413, 415),
)
async def send_bid(request: Request, principal: Annotated[Principal, Depends(writer)]) -> Response:
    services = container(request)
    body = await read_json_object(request, services.settings.max_body_bytes)
    queued = await call(request, services.federation.bids.send, body, principal.name)
    return JSONResponse(queued, 202)


@router.post(
    "/federation/bids/{bid_id}/accept",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Accept a bid: create a Match against our open Offer for the material",
    responses=errors(401, 403, 404, 409),
)
async def accept_bid(
    request: Request, bid_id: int, principal: Annotated[Principal, Depends(writer)]
) -> Response:
    bid = await call(request, container(request).federation.bids.accept, bid_id, principal.name)
    return JSONResponse(bid)


@router.get(
    "/federation/outbox",
    tags=["Federation"],
    response_class=JSONResponse,
    summary="Outbound deliveries: pending, delivered and dead letters, with circuit states",
    responses=errors(400, 401, 403),
)
async def outbox(
    request: Request,
    _p: Annotated[Principal, Depends(writer)],
    status: Literal["pending", "delivered", "dead"] | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    page = await call(request, container(request).federation.outbox.page, status, after, limit)
    return JSONResponse(page)


# -- lifespan --------------------------------------------------------------------------------------
async def start(app: Any, services: Container) -> DeliveryWorker | None:
    """Start the one delivery worker (every channel of the outbox, the relay, core-dp
    timeouts) unless `federation_worker` is off."""
    if not services.messaging.run_worker:
        return None
    app.state.federation_transport = services.federation.transport_factory()
    worker = services.messaging.worker(app.state.federation_transport)
    worker.start()
    return worker


async def stop(app: Any, worker: DeliveryWorker | None) -> None:
    if worker is not None:
        await worker.stop()
    found: PeerTransport | None = getattr(app.state, "federation_transport", None)
    if found is not None:
        app.state.federation_transport = None
        await found.aclose()
