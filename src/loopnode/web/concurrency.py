"""Running the synchronous services from async routes.

On SQLite a service call is a few hundred microseconds of local work, cheaper to run inline
than to hand to a thread. It runs through `loop_bridge`, so that a write may wait on the loop
for the writes of other requests to share its transaction (services/group_commit.py) without
blocking the loop. On PostgreSQL it waits on the network, so it goes to the threadpool
where other requests can proceed meanwhile, under a deadline (`request_deadline_s`): a
database that accepts connections but never answers costs each request that long, then a 503
with `Retry-After`, instead of holding it for the whole outage. The abandoned thread ends when
the driver's own timeouts fire; a write it completes after the 503 is made safe to retry by
`Idempotency-Key`. At most `database_pool_size` such calls run at once per process: one
connection each, none opened and closed again as pool overflow under load.
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

from loopnode.services import loop_bridge
from loopnode.web.errors import Unavailable

T = TypeVar("T")


async def call(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if request.app.state.inline_calls:
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
