"""Synchronous service code run on the event loop that may still wait for the loop.

On SQLite the routes run service calls inline on the event loop: a thread hop costs more than
the call. But a write that should share a transaction with the writes of other requests
(services/group_commit.py) has to wait until those requests reach it, which a plain call on
the loop cannot do without blocking the loop. `run` starts the call in a greenlet; inside it,
`wait(awaitable)` suspends the call, lets the route's coroutine await the awaitable on the
loop (other requests proceed meanwhile), and resumes the call with its result. Code that never
calls `wait` runs exactly as a direct call, for the price of one greenlet (a few µs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet

__all__ = ["bridged", "run", "wait"]

T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet started by `run`: its parent awaits what it hands over."""


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, on this loop's thread, where `wait` may suspend it."""
    child = _Bridged(lambda: fn(*args, **kwargs))
    # The call sees the caller's context variables, as a direct call would.
    child.gr_context = greenlet.getcurrent().gr_context
    handed = child.switch()
    while not child.dead:
        try:
            value = await handed
        except BaseException as exc:  # cancellation included: unwind the call
            handed = child.throw(exc)
        else:
            handed = child.switch(value)
    result: T = handed
    return result


def bridged() -> bool:
    """True inside a call started by `run` (where `wait` works)."""
    return isinstance(greenlet.getcurrent(), _Bridged)


def wait(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` on the event loop from inside a call started by `run`."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        raise RuntimeError("wait() outside a call started by loop_bridge.run")
    result: T = current.parent.switch(awaitable)
    return result
