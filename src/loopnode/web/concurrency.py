"""Running the synchronous services from async routes.

On SQLite, and on a PostgreSQL server on the same host, a service call is a few hundred
microseconds of local work and loopback round trips, cheaper to run inline than to hand to a
thread (`adapters/storage/engine.runs_inline`, setting `database_call_mode`). It runs
through `loop_bridge`, so that a write may wait on the loop for the writes of other requests
to share its transaction (services/group_commit.py) without blocking the loop. Inline on
PostgreSQL, a server that stops answering would hold the loop: the loop's heartbeat lets
`adapters/storage/stall_guard` break the stuck connection after `request_deadline_s`, and
the request answers 503.

On a PostgreSQL server across a network a call waits on it, so it goes to the threadpool
where other requests can proceed meanwhile, under the same deadline: a database that accepts
connections but never answers costs each request that long, then a 503 with `Retry-After`,
instead of holding it for the whole outage. The abandoned thread ends when the driver's own
timeouts fire; a write it completes after the 503 is made safe to retry by `Idempotency-Key`.
At most `database_pool_size` such calls run at once per process: one connection each, none
opened and closed again as pool overflow under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from loopnode.bootstrap import StallGuard
from loopnode.services import loop_bridge
from loopnode.web.errors import Unavailable

T = TypeVar("T")


async def call(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    state = request.app.state
    if state.inline_calls:
        guard: StallGuard | None = getattr(state, "stall_guard", None)
        if guard is not None:
            guard.watch(asyncio.get_running_loop())
        return await loop_bridge.run(fn, *args, **kwargs)
    deadline: float | None = getattr(request.app.state, "request_deadline_s", None)
    if deadline is None:
        return await offload(fn, *args, **kwargs)
    limiter = _limiter(request)
    try:
        with anyio.fail_after(deadline):
            return await anyio.to_thread.run_sync(
                partial(fn, *args, **kwargs), abandon_on_cancel=True, limiter=limiter
            )
    except TimeoutError as exc:
        raise Unavailable("the database did not answer in time; retry later") from exc


def _limiter(request: Request) -> anyio.CapacityLimiter | None:
    """The process's cap on concurrent database calls, one per event loop (a test client may
    run the same application on several loops in turn)."""
    state = request.app.state
    size: int | None = getattr(state, "database_calls", None)
    if size is None:
        return None
    loop = asyncio.get_running_loop()
    found: tuple[Any, anyio.CapacityLimiter] | None = getattr(state, "database_limiter", None)
    if found is None or found[0] is not loop:
        found = state.database_limiter = (loop, anyio.CapacityLimiter(size))
    return found[1]


async def offload(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Always in the threadpool: for calls that wait on peers, whatever the database."""
    return await run_in_threadpool(partial(fn, *args, **kwargs))
