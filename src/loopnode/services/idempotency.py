"""REST `Idempotency-Key` (SPEC-DIGEST §4.12, reference backend behaviour).

A key belongs to the principal that sent it. The first request with a key runs; its response
(status, body, headers) is stored for 24 hours. A retry with the same key and the same request
(method, path and canonical body hash) gets the stored response back without running again; the
same key with another request is 409. Expiry is measured with the injected clock.

Exactly once: the key row is inserted at the start of the unit of work that makes the change, and
completed at its end, so the change and its stored response commit together or not at all. A
concurrent first use of the same key waits on the primary key (PostgreSQL) or the write lock
(SQLite), then finds the winner's row and replays it. A failed request stores nothing, so it may
be retried. Actions that open their own transactions (the registry's) use `begin`/`finish`
instead: a `pending` row claims the key first, and a second request meanwhile gets 409.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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

__all__ = ["TTL", "IdempotencyRequest", "IdempotencyService", "Outcome"]

TTL = timedelta(hours=24)
# A `pending` claim older than this was left by a process that died mid-request.
ABANDONED = timedelta(minutes=5)
PURGE_EVERY = timedelta(minutes=10)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A response as the services produce and the key table stores it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


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
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class IdempotencyService:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, writes: GroupCommit | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._last_purge: datetime | None = None
        # The lifecycle's changes share transactions with concurrent writes when given.
        self._writes = writes

    def run(
        self,
        request: IdempotencyRequest | None,
        change: Callable[[UnitOfWork, datetime], Outcome],
    ) -> Outcome:
        """Run `change` in one write unit of work, at most once per idempotency key."""
        now = self._clock.now()
        if request is not None:
            self._purge(now)
        try:
            return self._write(lambda uow: self._once(uow, request, change, now))
        except _Replay as replay:
            return replay.outcome
        except KeyTaken:
            if request is None:
                raise
            return self._stored(request, now)

    def _write(self, body: Callable[[UnitOfWork], Outcome]) -> Outcome:
        if self._writes is None:
            with self._uow(write=True) as uow:
                return body(uow)
        outcome: Outcome = self._writes.run(lambda uow: (body(uow), ()))
        return outcome

    def _once(
        self,
        uow: UnitOfWork,
        request: IdempotencyRequest | None,
        change: Callable[[UnitOfWork, datetime], Outcome],
        now: datetime,
    ) -> Outcome:
        if request is None:
            return change(uow, now)
        self._claim(uow, request, now)
        outcome = change(uow, now)
        uow.idempotency.complete(
            request.principal, request.key, outcome.status, outcome.body, outcome.headers
        )
        return outcome

    def replay(self, request: IdempotencyRequest | None) -> Outcome | None:
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
            return verdict.outcome
        raise verdict

    # -- for actions that run their own transactions ----------------------------------------
    def begin(self, request: IdempotencyRequest) -> Outcome | None:
        """Claim the key; the stored response when it was already used with this request."""
        now = self._clock.now()
        self._purge(now)
        try:
            with self._uow(write=True) as uow:
                self._claim(uow, request, now)
        except _Replay as replay:
            return replay.outcome
        except KeyTaken:
            return self._stored(request, now)
        return None

    def finish(self, request: IdempotencyRequest, outcome: Outcome) -> None:
        with self._uow(write=True) as uow:
            uow.idempotency.complete(
                request.principal, request.key, outcome.status, outcome.body, outcome.headers
            )

    def abandon(self, request: IdempotencyRequest) -> None:
        """Free the key after a failed action, so the client may retry it."""
        with self._uow(write=True) as uow:
            uow.idempotency.delete(request.principal, request.key)

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

    def _stored(self, request: IdempotencyRequest, now: datetime) -> Outcome:
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
            return error.outcome
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
    return _Replay(Outcome(row.status_code, row.body, dict(row.headers), replayed=True))
