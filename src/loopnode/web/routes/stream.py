"""`GET /api/v1/stream`: every evidence entry as a server-sent event (services/evidence/stream.py).

Each event is named after its evidence type (`offer.published`, `transfer.completed`, …), its
`id:` is the evidence sequence, and its data is the native evidence entry JSON. A client that
reconnects with `Last-Event-ID` (EventSource does so itself) first receives everything after
that sequence from the log, then live entries: nothing is missed. Comment lines keep idle
connections alive.

Ending streams on shutdown: uvicorn waits for open responses to finish before it runs the
application's shutdown, so a stream that only ended at shutdown would hold the server open
forever. While the node serves, SIGTERM and SIGINT therefore also tell the event hub to end its
streams (the previous handler still runs); the lifespan's shutdown ends whatever is left.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from starlette.responses import Response, StreamingResponse

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.evidence import EvidenceEvent
from loopnode.services.access.apikeys import Principal
from loopnode.services.evidence.service import native
from loopnode.services.evidence.stream import EventHub, Subscription
from loopnode.web.auth import container, reader
from loopnode.web.openapi_docs import errors

__all__ = ["router"]

# How often a waiting stream looks at the shutdown flag.
TICK = 0.5


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub: EventHub = app.state.container.events
    restore = _chain_exit_signals(hub)
    try:
        yield
    finally:
        restore()
        await hub.close()


router = APIRouter(prefix="/api/v1", tags=["Events"], lifespan=_lifespan)


@router.get(
    "/stream",
    summary="Server-sent events: every change, as evidence entries",
    description="`event:` the evidence type, `id:` the evidence sequence, `data:` the native "
    "evidence entry. Send `Last-Event-ID` to resume after that sequence; without it the stream "
    "starts with the next change.",
    responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 401)},
    response_class=StreamingResponse,
)
async def stream(
    request: Request,
    _p: Annotated[Principal, Depends(reader)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    start = _sequence(last_event_id)
    hub = container(request).events
    subscription = await hub.subscribe()
    after = start if start is not None else subscription.head
    return StreamingResponse(
        _events(hub, subscription, after, replay=start is not None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sequence(header: str | None) -> int | None:
    if header is None or not header.strip():
        return None
    text = header.strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidRequest("Last-Event-ID must be an evidence sequence number", {"value": text})
    return int(text)


async def _events(
    hub: EventHub, subscription: Subscription, after: int, *, replay: bool
) -> AsyncIterator[bytes]:
    try:
        yield b": loopnode event stream\nretry: 2000\n\n"
        if replay:
            async for event in hub.replay(after):
                yield _frame(event)
                after = event.sequence
        beat = time.monotonic()
        while not hub.closing:
            try:
                item = await asyncio.wait_for(subscription.queue.get(), timeout=TICK)
            except TimeoutError:
                if time.monotonic() - beat >= hub.heartbeat:
                    beat = time.monotonic()
                    yield b": heartbeat\n\n"
                continue
            if item is None:
                return
            if item.sequence > after:
                yield _frame(item)
                after = item.sequence
    finally:
        hub.unsubscribe(subscription)


def _frame(event: EvidenceEvent) -> bytes:
    data = orjson.dumps(native(event))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        event.sequence,
        event.event_type.encode(),
        data,
    )


def _chain_exit_signals(hub: EventHub) -> Callable[[], None]:
    """Make SIGTERM/SIGINT also end the streams, keeping the server's own handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals belong to the main thread (tests run servers elsewhere)
    installed: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            hub.closing = True  # only a flag: safe to set from a signal handler
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def restore() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return restore
