"""Rate-limit counters from the `limits` library: memory for one process, Redis for many.

The moving-window strategy counts exactly: in Redis one Lua script checks and records a hit
atomically, so any number of workers and hosts sharing the Redis database share the quota
(a burst of 30 searches over two workers gets exactly the 10 the quota allows). A refused hit
is not recorded; `Retry-After` is the time until the oldest hit in the window expires.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from loopnode.services.access.ratelimit import Decision, StoreUnavailable


@lru_cache(maxsize=64)
def _item(limit: str) -> RateLimitItem:
    return parse(limit)


class LimitsCounterStore:
    """`CounterStore` over a `limits` async storage (moving window)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, scope: str, identity: str) -> Decision:
        item = _item(limit)
        try:
            if await self._limiter.hit(item, scope, identity):
                return Decision(True)
            stats = await self._limiter.get_window_stats(item, scope, identity)
        except (StorageError, OSError, ConnectionError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        return Decision(False, max(1, math.ceil(stats.reset_time - time.time())))

    async def close(self) -> None:
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


def counter_store(redis_url: str, key_prefix: str) -> LimitsCounterStore:
    """Redis when `redis_url` is set (shared by every worker and host), else process memory."""
    if not redis_url:
        return LimitsCounterStore(MemoryStorage())
    storage = RedisStorage(
        "async+" + redis_url,
        implementation="redispy",
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    return LimitsCounterStore(storage)
