"""REST `Idempotency-Key` (SPEC-DIGEST §4.12, reference backend behaviour).

A key belongs to the principal that sent it. The first request with a key runs; its response
(status, body, headers) is stored for 24 hours. A retry with the same key and the same request
(method, path and canonical body hash) gets the stored response back without running again; the
same key with another request is 409. Expiry is measured with the injected clock.

Exactly once: the key row is inserted at the start of the unit of work that makes the change, and
completed at its end, so the change and its stored response commit together or not at all. A
concurrent first use of the same key waits on the primary key (PostgreSQL) or the write lock
(SQLite), then finds the winner's row and replays it. A failed request stores nothing, so it may
be retried.

This is the one way writes run: every write route with an `Idempotency-Key` goes through `run`
(web/idempotency.py `write`), and in-process callers use `apply`. Services hand over a `Change`
and get its result back; web renders the result (status, body, headers), and that rendering is
what is stored and replayed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from loopnode.domain.errors import Conflict, InvalidRequest
from loopnode.domain.times import to_us
from loopnode.protocol.canonical import sha256_hex
from loopnode.services.group_commit import GroupCommit
from loopnode.services.ports import (
    Clock,
    IdempotencyRow,
    KeyTaken,
    UnitOfWork,
    UnitOfWorkFactory,
)
from loopnode.services.results import Change, Changed, Created, Render, Replayed, StoredResponse

__all__ = ["TTL", "IdempotencyRequest", "IdempotencyService"]

TTL = timedelta(hours=24)
# A `pending` row is a claim never completed (a process that died mid-request); past this age
# it no longer holds the key.
ABANDONED = timedelta(minutes=5)
PURGE_EVERY = timedelta(minutes=10)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")
R = TypeVar("R", Created, Changed)


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    principal: str
    key: str
    request_hash: str

    @classmethod
    def of(
        cls, principal: str, key: str, method: str, path: str, body: object
    ) -> IdempotencyRequest:
        if not _KEY.match(key):
            raise InvalidRequest(
                "Idempotency-Key must be 1-255 visible ASCII characters",
                {"header": "Idempotency-Key"},
            )
        fingerprint = sha256_hex({"method": method.upper(), "path": path, "body": body})
        return cls(principal, key, fingerprint)


class _Replay(Exception):  # control flow only: never escapes this module
    def __init__(self, replayed: Replayed) -> None:
        self.replayed = replayed


class IdempotencyService:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, writes: GroupCommit | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._last_purge: datetime | None = None
        # The lifecycle's changes share transactions with concurrent writes when given.
        self._writes = writes

    def apply(self, change: Change[R]) -> R:
        """Run `change` in one write unit of work (no key: an in-process caller)."""
        now = self._clock.now()
        return self._write(lambda uow: change(uow, now))

    def run(
        self, request: IdempotencyRequest | None, change: Change[R], render: Render
    ) -> R | Replayed:
        """Run `change` in one write unit of work, at most once per idempotency key; `render`
        gives the response to store with it."""
        if request is None:
            return self.apply(change)
        now = self._clock.now()
        self._purge(now)
        try:
            return self._write(lambda uow: self._once(uow, request, change, render, now))
        except _Replay as replay:
            return replay.replayed
        except KeyTaken:
            return self._stored(request, now)

    def _write(self, body: Callable[[UnitOfWork], R]) -> R:
        if self._writes is None:
            with self._uow(write=True) as uow:
                return body(uow)
        result: R = self._writes.run(lambda uow: (body(uow), ()))
        return result

    def _once(
        self,
        uow: UnitOfWork,
        request: IdempotencyRequest,
        change: Change[R],
        render: Render,
        now: datetime,
    ) -> R:
        self._claim(uow, request, now)
        result = change(uow, now)
        stored = render(result)
        uow.idempotency.complete(
            request.principal, request.key, stored.status, stored.body, stored.headers
        )
        return result

    def replay(self, request: IdempotencyRequest | None) -> Replayed | None:
        """A cheap look before validating: the stored response, or 409 for another request.

        `run` decides again inside its transaction; this only answers retries (and key reuse)
        the same way whatever the body's validity.
        """
        if request is None:
            return None
        with self._uow() as uow:
            row = uow.idempotency.get(request.principal, request.key)
        if row is None or _stale(row, to_us(self._clock.now())):
            return None
        verdict = _verdict(row, request)
        if isinstance(verdict, _Replay):
            return verdict.replayed
        raise verdict

    # -- shared -------------------------------------------------------------------------------
    def _claim(self, uow: UnitOfWork, request: IdempotencyRequest, now: datetime) -> None:
        now_us = to_us(now)
        row = uow.idempotency.get(request.principal, request.key)
        if row is not None and _stale(row, now_us):
            uow.idempotency.delete(request.principal, request.key)
            row = None
        if row is not None:
            raise _verdict(row, request)
        uow.idempotency.insert(
            IdempotencyRow(
                principal=request.principal,
                key=request.key,
                request_hash=request.request_hash,
                state="pending",
                created_us=now_us,
                expires_us=to_us(now + TTL),
            )
        )

    def _stored(self, request: IdempotencyRequest, now: datetime) -> Replayed:
        # We lost the race for the key: the winner has committed, so its row is visible now.
        with self._uow() as uow:
            row = uow.idempotency.get(request.principal, request.key)
        if row is None or _stale(row, to_us(now)):
            raise Conflict(
                "a concurrent request with this Idempotency-Key failed; retry",
                {"key": request.key},
            )
        error = _verdict(row, request)
        if isinstance(error, _Replay):
            return error.replayed
        raise error

    def _purge(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        with self._uow(write=True) as uow:
            uow.idempotency.purge(to_us(now))


def _stale(row: IdempotencyRow, now_us: int) -> bool:
    if row.expires_us <= now_us:
        return True
    abandoned_us = row.created_us + int(ABANDONED.total_seconds() * 1_000_000)
    return row.state == "pending" and abandoned_us <= now_us


def _verdict(row: IdempotencyRow, request: IdempotencyRequest) -> Exception:
    if row.request_hash != request.request_hash:
        return Conflict(
            "this Idempotency-Key was used with a different request",
            {"key": request.key},
        )
    if row.state != "done" or row.status_code is None or row.body is None:
        return Conflict(
            "a request with this Idempotency-Key is still in progress; retry later",
            {"key": request.key},
        )
    return _Replay(Replayed(StoredResponse(row.status_code, row.body, dict(row.headers))))
