"""Running the synchronous services from async routes.

On SQLite a service call is a few hundred microseconds of local work, cheaper to run inline
than to hand to a thread. On PostgreSQL it waits on the network, so it goes to the threadpool
where other requests can proceed meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


async def call(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if request.app.state.inline_calls:
        return fn(*args, **kwargs)
    return await offload(fn, *args, **kwargs)


async def offload(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Always in the threadpool: for calls that wait on peers, whatever the database."""
    return await run_in_threadpool(partial(fn, *args, **kwargs))
