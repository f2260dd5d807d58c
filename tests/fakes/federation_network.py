"""An in-memory federation for simulations and tests: the real announcement code, no I/O.

(Used by tests/unit/services/federation/test_flooding.py and benchmarks/federation_sim.py.)

`MemoryNetwork` runs one `AnnouncementService` per node over in-memory stores (only what
announcement handling touches: receipts, remote materials, peers, peer keys, outbox, an
evidence counter) and delivers queued outbox rows by calling the receiver's `receive`
directly, in FIFO order or in an order a random source picks. Writes are buffered per unit of
work and applied on success, so a refused announcement leaves no trace, as with a database.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, cast

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import LoopError
from loopnode.protocol import keys
from loopnode.protocol.trust import KeyRecord
from loopnode.services.federation.announcements import AnnouncementService, FloodSettings
from loopnode.services.federation.outbox import ANNOUNCE_PATH, dumps, enqueue
from loopnode.services.federation.ports import (
    AnnouncementReceipt,
    FederationUowFactory,
    LocalMaterial,
    PeerRow,
    RemoteMaterialRow,
)
from loopnode.services.messaging.ports import OutboxDraft
from loopnode.services.ports import EvidenceDraft
from loopnode.services.registry.identity import NodeIdentity


@dataclass
class NodeState:
    """Everything one simulated node stores."""

    receipts: dict[str, AnnouncementReceipt] = field(default_factory=dict)
    remote: dict[tuple[str, str], RemoteMaterialRow] = field(default_factory=dict)
    peers: dict[str, PeerRow] = field(default_factory=dict)
    keys: dict[tuple[str, str], KeyRecord] = field(default_factory=dict)
    outbox: deque[OutboxDraft] = field(default_factory=deque)
    events: int = 0


class _Writes:
    def __init__(self, state: NodeState) -> None:
        self.state = state
        self.receipts: dict[str, AnnouncementReceipt] = {}
        self.remote: dict[tuple[str, str], RemoteMaterialRow] = {}
        self.outbox: list[OutboxDraft] = []
        self.events = 0


class _Announcements:
    def __init__(self, writes: _Writes) -> None:
        self._w = writes

    def receipt(self, dedupe_key: str) -> AnnouncementReceipt | None:
        return self._w.receipts.get(dedupe_key) or self._w.state.receipts.get(dedupe_key)

    def add_receipt(self, receipt: AnnouncementReceipt) -> bool:
        if self.receipt(receipt.dedupe_key) is not None:
            return False
        self._w.receipts[receipt.dedupe_key] = receipt
        return True

    def set_receipt_event(self, dedupe_key: str, event_id: int) -> None:
        found = self.receipt(dedupe_key)
        assert found is not None
        self._w.receipts[dedupe_key] = AnnouncementReceipt(
            found.dedupe_key,
            found.origin,
            found.material,
            found.announcement_id,
            found.received_from,
            event_id,
            found.received_us,
            found.expires_us,
        )

    def remote(self, origin: str, material: str) -> RemoteMaterialRow | None:
        key = (origin, material)
        return self._w.remote.get(key) or self._w.state.remote.get(key)

    def put_remote(self, row: RemoteMaterialRow) -> None:
        self._w.remote[(row.origin, row.material)] = row


class _Peers:
    def __init__(self, state: NodeState) -> None:
        self._state = state

    def get(self, node_id: str, *, for_update: bool = False) -> PeerRow | None:
        return self._state.peers.get(node_id)

    def all(self, status: str | None = None) -> list[PeerRow]:
        rows = sorted(self._state.peers.values(), key=lambda p: p.node_id)
        return [p for p in rows if status is None or p.status == status]


class _PeerKeys:
    def __init__(self, state: NodeState) -> None:
        self._state = state

    def get(self, node_id: str, key_id: str) -> KeyRecord | None:
        return self._state.keys.get((node_id, key_id))


class _Outbox:
    def __init__(self, writes: _Writes) -> None:
        self._w = writes

    def add(self, draft: OutboxDraft, now_us: int) -> int | None:
        self._w.outbox.append(draft)
        return len(self._w.state.outbox) + len(self._w.outbox)


class _Evidence:
    def __init__(self, writes: _Writes) -> None:
        self._w = writes

    def append(self, draft: EvidenceDraft, now: datetime) -> Any:
        self._w.events += 1

        @dataclass(frozen=True)
        class Event:
            sequence: int

        return Event(self._w.state.events + self._w.events)


class _Stores:
    def __init__(self, writes: _Writes) -> None:
        self.announcements = _Announcements(writes)
        self.peers = _Peers(writes.state)
        self.peer_keys = _PeerKeys(writes.state)


class _Messaging:
    def __init__(self, writes: _Writes) -> None:
        self.outbox = _Outbox(writes)


class MemoryUnitOfWork:
    """Buffers writes; applies them when the block ends without an exception."""

    def __init__(self, state: NodeState, *, write: bool = False) -> None:
        self._state = state

    def __enter__(self) -> MemoryUnitOfWork:
        self._writes = _Writes(self._state)
        self.federation = _Stores(self._writes)
        self.messaging = _Messaging(self._writes)
        self.evidence = _Evidence(self._writes)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            return
        w = self._writes
        self._state.receipts.update(w.receipts)
        self._state.remote.update(w.remote)
        self._state.outbox.extend(w.outbox)
        self._state.events += w.events


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


@dataclass
class SimNode:
    node_id: str
    lat: float
    lon: float
    key: Ed25519PrivateKey
    state: NodeState
    service: AnnouncementService


@dataclass
class FloodStats:
    """One flood: who stored it, how many messages it took, how many were duplicates."""

    reached: set[str] = field(default_factory=set)
    hops: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    duplicates: int = 0
    refused: int = 0


class MemoryNetwork:
    def __init__(
        self,
        *,
        radius_km: float = 1000.0,
        ttl: int = 3,
        clock: FixedClock | None = None,
        key_seed: int = 0,
    ) -> None:
        self.clock = clock or FixedClock()
        self.settings = FloodSettings(radius_km=radius_km, ttl=ttl)
        self.nodes: dict[str, SimNode] = {}
        self._rng = random.Random(key_seed)
        self._ids = 0

    def add_node(self, node_id: str, lat: float, lon: float) -> SimNode:
        key = Ed25519PrivateKey.from_private_bytes(self._rng.randbytes(32))
        key_id = keys.key_id(keys.public_raw(key), node_id)
        state = NodeState()
        identity = NodeIdentity(node_id, node_id, "DE", "SIM", node_id, lat, lon, "")
        factory = cast(FederationUowFactory, lambda write=False: MemoryUnitOfWork(state))
        service = AnnouncementService(
            factory, self.clock, identity, lambda: (key, key_id), self._new_id, self.settings
        )
        node = SimNode(node_id, lat, lon, key, state, service)
        self.nodes[node_id] = node
        return node

    def _new_id(self) -> str:
        self._ids += 1
        return f"{self._ids:016d}"

    def connect(self, a: str, b: str) -> None:
        """Approved peering both ways, each side holding the other's key."""
        for one, other in ((a, b), (b, a)):
            mine, theirs = self.nodes[one], self.nodes[other]
            mine.state.peers[other] = PeerRow(
                other, other, "", "approved", (), 0, 0, theirs.lat, theirs.lon
            )
            raw = keys.public_raw(theirs.key)
            record = KeyRecord(other, keys.key_id(raw, other), raw)
            mine.state.keys[(other, record.key_id)] = record

    def announce(self, origin: str, material: str) -> dict[str, Any]:
        """The origin announces one of its materials to its approved peers (as `relay` does)."""
        node = self.nodes[origin]
        document = {"category": "plastic-pet", "quantity": {"value": 1, "unit": "kg"}}
        announcement = node.service.announcement(
            LocalMaterial(material, "v1", True, document, 0), self.clock.now()
        )
        with MemoryUnitOfWork(node.state) as uow:
            peers = [p.node_id for p in uow.federation.peers.all("approved")]
            enqueue(
                cast(Any, uow),
                peers,
                kind="announce",
                path=ANNOUNCE_PATH,
                body=dumps(announcement),
                dedupe_key=None,
                now_us=0,
            )
        return announcement

    def run(
        self, origin: str, material: str, order: Callable[[int], int] | None = None
    ) -> FloodStats:
        """Deliver until every outbox is empty; `order(n)` picks which of n queued rows goes
        next (default: FIFO, i.e. equal link latencies)."""
        stats = FloodStats()
        queue: deque[tuple[str, OutboxDraft]] = deque()
        self._drain(self.nodes[origin], queue)
        while queue:
            if order is None:
                sender, draft = queue.popleft()
            else:
                queue.rotate(-order(len(queue)))
                sender, draft = queue.popleft()
            receiver = self.nodes[draft.peer_id]
            before = len(receiver.state.receipts)
            stats.messages += 1
            try:
                receiver.service.receive(sender, orjson.loads(draft.body))
            except LoopError:
                stats.refused += 1
                continue
            if len(receiver.state.receipts) == before:
                stats.duplicates += 1
                continue
            row = receiver.state.remote.get((origin, material))
            if row is not None:
                stats.reached.add(receiver.node_id)
                stats.hops[receiver.node_id] = row.hop_count
            self._drain(receiver, queue)
        return stats

    @staticmethod
    def _drain(node: SimNode, queue: deque[tuple[str, OutboxDraft]]) -> None:
        while node.state.outbox:
            queue.append((node.node_id, node.state.outbox.popleft()))
