"""The peer trust store in the database: verifying signed requests, key notices, imports.

`verify` runs `protocol.request_signing.verify_request` against the stored peer keys (their
lifecycle rules are `protocol.trust`'s), then records the signature in the seen-signature
table; the unique key makes that check-and-insert atomic across workers and hosts, and rows
expire with the ±300 s window, after which the skew check refuses the request anyway.
Refusals: unknown node, unknown key, bad signature, digest mismatch, skew, revoked key and
replay are 401; an unparsable `X-Timestamp` is 400; a known node that is not approved is 403.

Key changes reach the store only three ways: a signed key notice (`notices.py`), an operator
(`approve`, `import-trust`, `peers add`) or a first handshake (a pending peer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from loopnode.domain.errors import Forbidden, InvalidRequest
from loopnode.domain.times import to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.request_signing import (
    RequestSignatureError,
    UnknownNode,
    VerifiedRequest,
    verify_request,
)
from loopnode.protocol.trust import KeyRecord, TrustStore
from loopnode.services.federation import notices
from loopnode.services.federation.announcements import reverify
from loopnode.services.federation.ports import FederationUowFactory, PeerRow
from loopnode.services.ports import Clock, EvidenceDraft


class ReplayedRequest(RequestSignatureError):
    """This exact signature was accepted before (401)."""


class BadNotice(RequestSignatureError):
    """A key notice whose signatures do not hold (401)."""


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A request as received: what the signature covers (the body exactly as read)."""

    headers: Mapping[str, str]
    method: str
    path_with_query: str
    body: bytes


@dataclass(frozen=True, slots=True)
class SignedCaller:
    """The authenticated sender of a request."""

    verified: VerifiedRequest
    peer: PeerRow | None

    @property
    def node_id(self) -> str:
        return self.verified.node_id


class PeerTrust:
    def __init__(self, uow: FederationUowFactory, clock: Clock, node_id: str) -> None:
        self._uow = uow
        self._clock = clock
        self._node_id = node_id

    # -- signed requests -------------------------------------------------------------------------
    def verify(self, request: RawRequest, *, require_approved: bool = True) -> SignedCaller:
        now = self._clock.now()
        with self._uow() as uow:
            store = uow.federation

            def node_known(node_id: str) -> bool:
                return store.peers.get(node_id) is not None or store.peer_keys.knows(node_id)

            verified = verify_request(
                request.headers,
                method=request.method,
                path_with_query=request.path_with_query,
                body=request.body,
                receiver_node_id=self._node_id,
                now=now,
                lookup_key=store.peer_keys.get,
                node_known=node_known,
            )
            peer = store.peers.get(verified.node_id)
        if require_approved:
            if peer is None:
                raise UnknownNode(f"node {verified.node_id} is not a peer of this node")
            if not peer.approved:
                raise Forbidden(f"peer {verified.node_id} is not approved by this node's operator")
        self.remember(verified)
        return SignedCaller(verified, peer)

    def verify_with_key(self, request: RawRequest, record: KeyRecord) -> VerifiedRequest:
        """Verify against one given key (a first handshake proves possession of its key)."""

        def lookup(node_id: str, key_id: str) -> KeyRecord | None:
            if (node_id, key_id) == (record.node_id, record.key_id):
                return record
            return None

        verified = verify_request(
            request.headers,
            method=request.method,
            path_with_query=request.path_with_query,
            body=request.body,
            receiver_node_id=self._node_id,
            now=self._clock.now(),
            lookup_key=lookup,
        )
        self.remember(verified)
        return verified

    def remember(self, verified: VerifiedRequest) -> None:
        with self._uow(write=True) as uow:
            fresh = uow.messaging.seen.remember(
                verified.replay_key, to_us(verified.replay_expires_at)
            )
        if not fresh:
            raise ReplayedRequest("this request signature was already used")

    def prune(self) -> int:
        with self._uow(write=True) as uow:
            return uow.messaging.seen.prune(to_us(self._clock.now()))

    def keys_of(self, node_id: str) -> list[KeyRecord]:
        with self._uow() as uow:
            return uow.federation.peer_keys.for_node(node_id)

    # -- key notices -----------------------------------------------------------------------------
    def apply_notice(self, payload: object) -> dict[str, Any]:
        """Apply a peer's rotation/revocation notice; idempotent. Returns a short summary."""
        notice = notices.parse(payload)
        data = notices.signing_input(payload)  # type: ignore[arg-type]
        now = self._clock.now()
        with self._uow(write=True) as uow:
            store = uow.federation
            if store.peers.get(notice.node_id) is None:
                raise UnknownNode(f"node {notice.node_id} is not a peer of this node")
            target = store.peer_keys.get(notice.node_id, notice.key_id)
            if target is None or target.public_key != notice.public_key:
                raise BadNotice(f"key {notice.key_id} is not a key of {notice.node_id} here")
            if notice.action == "rotated":
                changed = _rotate(store, notice, target, data, to_us(now))
            else:
                changed = _revoke(store, notice, target, data, to_us(now))
            if changed:
                event = f"key.{notice.action}"
                draft = EvidenceDraft(
                    event,
                    "key",
                    notice.key_id,
                    notice.node_id,
                    sha256_hex(payload),
                    {"node_id": notice.node_id, "notice_id": notice.notice_id},
                )
                uow.evidence.append(draft, now)
                if notice.action == "rotated":
                    reverify(uow, notice.node_id, notice.node_id, now)
        return {"notice_id": notice.notice_id, "applied": changed}

    # -- operator imports ------------------------------------------------------------------------
    def import_store(self, store: TrustStore, actor: str = "operator") -> tuple[int, int]:
        """Merge a core-dp trust store; a revoked key is never made usable again.

        Returns (imported, skipped)."""
        now = self._clock.now()
        imported = skipped = 0
        nodes: set[str] = set()
        with self._uow(write=True) as uow:
            for record in store.records:
                existing = uow.federation.peer_keys.get(record.node_id, record.key_id)
                if existing is not None and (
                    existing.status == "revoked" or existing.public_key != record.public_key
                ):
                    skipped += 1
                    continue
                uow.federation.peer_keys.put(record, "import", to_us(now))
                summary = {"node_id": record.node_id, "source": "import", "status": record.status}
                digest = sha256_hex(record.to_document())
                uow.evidence.append(
                    EvidenceDraft("key.created", "key", record.key_id, actor, digest, summary), now
                )
                imported += 1
                nodes.add(record.node_id)
            for node_id in sorted(nodes):
                reverify(uow, node_id, actor, now)
        return imported, skipped


def _rotate(
    store: Any, notice: notices.KeyNotice, target: KeyRecord, data: bytes, now_us: int
) -> bool:
    assert notice.new_public_key is not None
    assert notice.new_key_id is not None
    if target.status == "rotated" and target.rotated_to_key_id == notice.new_key_id:
        return False
    if target.status != "active" or notice.signer_key_id != notice.key_id:
        raise BadNotice("a rotation must be signed by the active key it retires")
    if not keys.verify(target.public_key, data, notice.signature):
        raise BadNotice("the rotation notice is not signed by the retired key")
    if not keys.verify(notice.new_public_key, data, notice.new_key_signature or ""):
        raise BadNotice("the rotation notice is not signed by the new key")
    moment = notice.effective_at
    store.peer_keys.put(
        replace(
            target,
            status="rotated",
            rotated_at=moment,
            valid_until=moment,
            rotated_to_key_id=notice.new_key_id,
        ),
        "rotation",
        now_us,
    )
    successor = KeyRecord(notice.node_id, notice.new_key_id, notice.new_public_key, "active")
    store.peer_keys.put(replace(successor, valid_from=moment), "rotation", now_us)
    return True


def _revoke(
    store: Any, notice: notices.KeyNotice, target: KeyRecord, data: bytes, now_us: int
) -> bool:
    if target.status == "revoked":
        return False
    if notice.signer_key_id == notice.key_id:
        signer: KeyRecord | None = target
    else:
        signer = store.peer_keys.get(notice.node_id, notice.signer_key_id)
        if signer is None or signer.status != "active":
            raise BadNotice("a revocation must be signed by the key itself or an active key")
    assert signer is not None
    if not keys.verify(signer.public_key, data, notice.signature):
        raise BadNotice("the revocation notice signature does not verify")
    store.peer_keys.put(
        replace(target, status="revoked", revoked_at=notice.effective_at), "revocation", now_us
    )
    return True


def require_same_node(header_node: str, claimed: str) -> None:
    if header_node != claimed:
        raise InvalidRequest(
            "X-Node-ID and the handshake's node_id differ",
            {"x_node_id": header_node, "node_id": claimed},
        )
