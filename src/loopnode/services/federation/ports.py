"""The ports the federation services need: storage, the peer transport, the node's key.

Storage rows cross the boundary as the frozen dataclasses below; peer keys as
`protocol.trust.KeyRecord`, so the protocol's key-lifecycle rules apply to them unchanged.
`FederationUnitOfWork` is the registry's unit of work plus `federation` (all stores here),
so that a received announcement, its evidence entry and its forwards commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.protocol.trust import KeyRecord
from loopnode.services.messaging.ports import (
    CircuitRow,
    ObservedCertificate,
    OutboxDraft,
    OutboxRow,
    PeerAddress,
    PeerResponse,
    Transport,
    TransportError,
)
from loopnode.services.ports import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "CircuitRow",
    "ObservedCertificate",
    "OutboxDraft",
    "OutboxRow",
    "PeerAddress",
    "PeerResponse",
    "PeerTransport",
    "TransportError",
]


@dataclass(frozen=True, slots=True)
class NodeKeyRow:
    """One of this node's own keys."""

    key_id: str
    public_key: bytes
    status: str
    valid_from_us: int
    created_us: int
    valid_until_us: int | None = None
    rotated_at_us: int | None = None
    rotated_to_key_id: str | None = None
    revoked_at_us: int | None = None


@dataclass(frozen=True, slots=True)
class PeerRow:
    node_id: str
    name: str
    endpoint: str
    status: str
    capabilities: tuple[str, ...]
    created_us: int
    updated_us: int
    lat: float | None = None
    lon: float | None = None
    tls_fingerprint: str | None = None
    tls_cert_pem: str | None = None
    pending_key_id: str | None = None
    pending_public_key: bytes | None = None
    last_seen_us: int | None = None
    approved_us: int | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True, slots=True)
class AnnouncementReceipt:
    dedupe_key: str
    origin: str
    material: str
    announcement_id: str | None
    received_from: str
    event_id: int
    received_us: int
    expires_us: int


@dataclass(frozen=True, slots=True)
class RemoteMaterialRow:
    origin: str
    material: str
    received_from: str
    available: bool
    category: str | None
    announcement_id: str | None
    origin_verified: bool
    hop_count: int
    document: dict[str, Any]
    received_us: int
    updated_us: int
    # Kept while unverified, so the entry can be verified once the origin's key is trusted.
    origin_signature: str | None = None


@dataclass(frozen=True, slots=True)
class BidRow:
    id: int
    material_id: str
    bidder_node: str
    document: dict[str, Any]
    doc_hash: str
    valid_until_us: int
    status: str
    event_id: int
    received_us: int
    updated_us: int
    match_id: str | None = None


class NodeKeyStore(Protocol):
    def all(self) -> list[NodeKeyRow]: ...

    def get(self, key_id: str) -> NodeKeyRow | None: ...

    def put(self, row: NodeKeyRow) -> None:
        """Insert or replace by key id."""


class PeerStore(Protocol):
    def get(self, node_id: str, *, for_update: bool = False) -> PeerRow | None: ...

    def all(self, status: str | None = None) -> list[PeerRow]: ...

    def put(self, row: PeerRow) -> None:
        """Insert or replace by node id."""

    def delete(self, node_id: str) -> bool: ...


class PeerKeyStore(Protocol):
    def get(self, node_id: str, key_id: str) -> KeyRecord | None: ...

    def for_node(self, node_id: str) -> list[KeyRecord]: ...

    def put(self, record: KeyRecord, source: str, now_us: int) -> None:
        """Insert or replace by (node id, key id)."""

    def delete_unrevoked(self, node_id: str) -> None: ...

    def knows(self, node_id: str) -> bool: ...


class AnnouncementStore(Protocol):
    def receipt(self, dedupe_key: str) -> AnnouncementReceipt | None: ...

    def add_receipt(self, receipt: AnnouncementReceipt) -> bool:
        """False when the key is already there (a concurrent duplicate)."""

    def set_receipt_event(self, dedupe_key: str, event_id: int) -> None: ...

    def remote(self, origin: str, material: str) -> RemoteMaterialRow | None: ...

    def put_remote(self, row: RemoteMaterialRow) -> None: ...

    def remote_page(
        self, after: tuple[int, str, str] | None, limit: int, origin: str | None = None
    ) -> list[RemoteMaterialRow]: ...

    def unverified(self, origin: str) -> list[RemoteMaterialRow]:
        """`origin`'s entries not verified yet, locked for update."""

    def delete_remote(self, origin: str, material: str) -> None: ...

    def prune(self, now_us: int) -> int: ...


class BidStore(Protocol):
    def add(self, row: BidRow) -> BidRow:
        """Insert (the id is assigned); returns the stored row, or the existing duplicate."""

    def get(self, bid_id: int, *, for_update: bool = False) -> BidRow | None: ...

    def page(self, after_id: int, limit: int, status: str | None) -> list[BidRow]: ...

    def update(self, row: BidRow) -> None: ...


@dataclass(frozen=True, slots=True)
class LocalMaterial:
    """A material registered here whose current version has not been announced yet."""

    id: str
    version: str
    available: bool
    document: dict[str, Any]
    updated_us: int


class RelayStore(Protocol):
    def lock_watermark(self) -> int:
        """Every local material updated before this instant has been announced; locked."""

    def set_watermark(self, watermark_us: int) -> None: ...

    def unannounced(self, node_id: str, since_us: int, limit: int) -> list[LocalMaterial]:
        """Materials of `node_id` updated at or after `since_us` whose version
        (`record_hash:availability`) differs from the last one announced, oldest first."""

    def unannounced_versions(self, node_id: str, material_ids: list[str]) -> dict[str, str]:
        """The current version of each of `material_ids` that is still unannounced."""

    def set_announced(self, versions: Sequence[tuple[str, str, str]], now_us: int) -> None:
        """Record `(material id, version, announcement id)` as announced, in one statement."""


class FederationStores(Protocol):
    # Read-only members, so that implementations may narrow the types (protocol covariance).
    @property
    def node_keys(self) -> NodeKeyStore: ...

    @property
    def peers(self) -> PeerStore: ...

    @property
    def peer_keys(self) -> PeerKeyStore: ...

    @property
    def announcements(self) -> AnnouncementStore: ...

    @property
    def bids(self) -> BidStore: ...

    @property
    def relay(self) -> RelayStore: ...


# The node's one unit of work (services/ports.py) holds the federation stores.
FederationUnitOfWork = UnitOfWork
FederationUowFactory = UnitOfWorkFactory


# -- the node's own key (a file next to the database) ------------------------------------------
class PrivateKeyFile(Protocol):
    """Where the node's private key lives; replacing it is crash-safe (stage, then commit)."""

    def load(self) -> Ed25519PrivateKey | None: ...

    def stage(self, key: Ed25519PrivateKey) -> None: ...

    def staged(self) -> Ed25519PrivateKey | None: ...

    def commit_staged(self) -> None: ...

    def discard_staged(self) -> None: ...


# -- the network: the one messaging transport ---------------------------------------------------
PeerTransport = Transport
