"""The outbound wire as the services see it: where a peer is, what it answered, how it failed.

One transport serves every kind of node-to-node message (federation requests, core-dp
envelopes, NodeInfo reads, certificate probes). Implementations sign every `send`/`post`
(DECISIONS 19), check the peer's TLS, enforce the URL policy, cap the answer's size and give
every call an overall deadline; failures are `TransportError` with a short `reason`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from loopnode.domain.errors import PeerUnreachable

__all__ = [
    "CORE_DP",
    "DEAD",
    "FEDERATION",
    "OUTBOX_STATUSES",
    "CircuitRow",
    "CircuitStore",
    "MessagingStores",
    "ObservedCertificate",
    "OutboxDraft",
    "OutboxRow",
    "OutboxStore",
    "PeerAddress",
    "PeerResponse",
    "ReplayStore",
    "Transport",
    "TransportError",
]


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where and how to reach a peer: its API base (`…/api/v1`) and the TLS pin, if any."""

    node_id: str
    endpoint: str
    tls_fingerprint: str | None = None
    tls_cert_pem: str | None = None

    @classmethod
    def of(cls, peer: _HasAddress) -> PeerAddress:
        return cls(peer.node_id, peer.endpoint, peer.tls_fingerprint, peer.tls_cert_pem)


class _HasAddress(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def tls_fingerprint(self) -> str | None: ...

    @property
    def tls_cert_pem(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PeerResponse:
    status: int
    body: bytes
    tls_fingerprint: str | None = None


class TransportError(PeerUnreachable):
    """The peer could not be reached or did not answer properly; `reason` is a short token.

    Reasons: `unreachable` (no connection was made: nothing was sent), `tls` (certificate not
    trusted: nothing was sent), `insecure` (the URL policy refused the address: nothing was
    sent), `timeout` (no complete answer before the deadline), `too_large` (the answer passed
    the size cap), `error` (anything else after the request may have gone out).
    """


@dataclass(frozen=True, slots=True)
class ObservedCertificate:
    pem: str
    fingerprint: str


class Transport(Protocol):
    async def send(
        self,
        peer: PeerAddress,
        method: str,
        path: str,
        body: bytes,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> PeerResponse:
        """A signed request to `peer.endpoint + path` (DECISIONS 19); `timeout` is the
        deadline of the whole call, answer included."""

    async def post(
        self,
        peer: PeerAddress,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> PeerResponse:
        """`send("POST", ...)` with the caller's headers (core-dp envelopes)."""

    async def get(self, url: str, *, pin: PeerAddress | None, timeout: float) -> PeerResponse:
        """An unsigned GET of a public resource (NodeInfo)."""

    async def certificate(self, url: str, *, timeout: float) -> ObservedCertificate:
        """The certificate an https URL presents, unverified (for trust on first use)."""

    async def aclose(self) -> None: ...


# -- the durable outbox ----------------------------------------------------------------------------
FEDERATION = "federation"
CORE_DP = "core-dp"
DEAD = "dead"
OUTBOX_STATUSES = ("pending", "delivered", DEAD)


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """A message to deliver to one peer, queued in the transaction that caused it.

    `channel` names who prepares and settles it (`federation`, `core-dp`; next `settlement`);
    `kind` is what it is within the channel (`announce`, `offer.publish`...). `dedupe_key`
    makes queueing idempotent per (channel, peer). Messages with the same `lane` for one peer
    go strictly in order: the next waits until the earlier one is delivered or dead.
    `deadline_us` ends retries; `correlation_id` groups messages (a core-dp conversation);
    `attachment` is channel data sent beside the body (core-dp: the subject snapshot);
    `message_id` is the id the author gave the first attempt's message, if any. `hold_us`:
    the author sends it at once itself (a run with `fresh_within_us`), so it is due for
    background workers only that much later (they take over if the author could not).
    """

    peer_id: str
    kind: str
    method: str
    path: str
    body: str
    dedupe_key: str | None = None
    channel: str = FEDERATION
    lane: str | None = None
    deadline_us: int | None = None
    correlation_id: str | None = None
    attachment: str | None = None
    message_id: str | None = None
    hold_us: int = 0


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A queued message and its delivery state.

    `attempts` counts the attempts that may have reached the peer (0 before the first; a
    claimed row counts the attempt being made); `unreached` the ones that certainly did not
    (no connection: nothing was sent). `first_message_id`/`last_message_id` are the ids of
    the first and latest attempt's message, for channels that re-sign every attempt.
    """

    id: int
    peer_id: str
    kind: str
    method: str
    path: str
    body: str
    dedupe_key: str | None
    status: str
    attempts: int
    next_attempt_us: int
    last_error: str | None
    created_us: int
    updated_us: int
    delivered_us: int | None = None
    channel: str = FEDERATION
    lane: str | None = None
    deadline_us: int | None = None
    correlation_id: str | None = None
    attachment: str | None = None
    first_message_id: str | None = None
    last_message_id: str | None = None
    unreached: int = 0


@dataclass(frozen=True, slots=True)
class CircuitRow:
    peer_id: str
    state: str
    failures: int
    open_until_us: int | None
    updated_us: int


class OutboxStore(Protocol):
    def add(self, draft: OutboxDraft, now_us: int) -> int | None:
        """Queue a message; its id, or None when (channel, peer, dedupe key) is queued already."""

    def add_many(self, drafts: Sequence[OutboxDraft], now_us: int) -> int:
        """Queue messages in one statement (per 500); how many were new. A draft whose
        (channel, peer, dedupe key) is queued already is left out, as `add` leaves it."""

    def get(self, row_id: int) -> OutboxRow | None: ...

    def due(
        self,
        now_us: int,
        limit: int,
        *,
        peer_id: str | None = None,
        channel: str | None = None,
        fresh_within_us: int = 0,
    ) -> list[OutboxRow]:
        """Pending rows due now, oldest due first, only the head of each (peer, lane); locked
        for this transaction (SKIP LOCKED on PostgreSQL). Rows never tried yet are also due
        when they are due within `fresh_within_us` (an author delivering what it held)."""

    def update(self, row: OutboxRow) -> None:
        """Write every mutable field of `row` (by id)."""

    def release(self, ids: Sequence[int], now_us: int) -> None:
        """Make leased rows due again, giving their attempt back (a clean shutdown)."""

    def of_correlation(self, correlation_id: str) -> list[OutboxRow]: ...

    def page(
        self, status: str | None, after_id: int, limit: int, *, channel: str | None = None
    ) -> list[OutboxRow]: ...

    def counts(self, *, channel: str | None = None) -> dict[str, int]: ...

    def retry_dead(
        self, now_us: int, peer_id: str | None = None, *, channel: str | None = None
    ) -> int: ...


class CircuitStore(Protocol):
    def get(self, peer_id: str) -> CircuitRow | None: ...

    def all(self) -> list[CircuitRow]: ...

    def put(self, row: CircuitRow) -> None: ...


class ReplayStore(Protocol):
    """The one inbound replay/dedup store: keys seen, until they expire."""

    def remember(self, key: str, expires_us: int) -> bool:
        """Record `key`; False when it was already there (a replay)."""

    def prune(self, now_us: int) -> int:
        """Forget keys that expired at or before `now_us`."""


class MessagingStores(Protocol):
    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def circuits(self) -> CircuitStore: ...

    @property
    def seen(self) -> ReplayStore: ...
