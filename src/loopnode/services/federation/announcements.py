"""MaterialAnnouncements in and out (spec §8.1 `POST /federate/announce`, §9.3; DECISIONS 21).

In: `receive` validates the openapi MaterialAnnouncement and the flooding extension fields,
drops duplicates (answering the first receipt's id again), checks the origin, and then, in one
transaction: records the receipt, appends a `node.federation_received` evidence entry (its
sequence is the FederateAcceptedResponse `id`, a per-node monotonically increasing integer),
stores or refreshes the remote material, and queues the forwards that `flooding.plan` chooses.

Origins (issue 15, unverified overwrites). An announcement is *verified* when its sender is its
origin (the request signature proves it) or its origin signature verifies against a key this
node obtained through a trusted path: an approved peer's key, or one the operator imported (a
pending peer's key is only a claim). A signature that fails against such a key is refused
(401). Anything else (no signature, an origin or key id we hold no trusted key for) is
*unverified*: stored as such, never allowed to replace a verified entry, and relayed without
its origin signature fields, so no node forwards a signature it could not check and honest
relays are not refused downstream for an attacker's forgery. The stored entry keeps that
signature, and `reverify` checks it once the origin's key reaches this node through a trusted
path (approval, `peers add`, an operator import or a key notice): verified entries are marked
`origin_verified`, forged ones are dropped.

Out: `relay` finds local materials whose current version (`record_hash:availability`) has not
been announced, signs an announcement for each as its origin, and queues it for every approved
peer. It reads the registry rather than hooking registration, so materials registered by any
process (API, seeding, custody changes) are announced, in the transaction that records them as
announced. The watermark moves only past versions already seen, minus a margin for
transactions that commit late.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import InvalidRequest
from loopnode.domain.times import format_timestamp, from_us, timestamp_or_none, to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.input_limits import INT64_MAX
from loopnode.protocol.request_signing import RequestSignatureError
from loopnode.protocol.validation import validate_entity
from loopnode.services.federation import flooding
from loopnode.services.federation.outbox import ANNOUNCE_PATH, approved_peer_ids, dumps, enqueue
from loopnode.services.federation.ports import (
    AnnouncementReceipt,
    FederationUnitOfWork,
    FederationUowFactory,
    LocalMaterial,
    RemoteMaterialRow,
)
from loopnode.services.messaging.ports import OutboxDraft
from loopnode.services.ports import Clock, EvidenceDraft
from loopnode.services.registry.identity import NodeIdentity

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
ID_RETENTION = timedelta(days=7)
LATE_COMMIT_MARGIN_US = 60 * 1_000_000
RELAY_BATCH = 200
MAX_PAGE = 100
SIGNATURE_CHARS = 86  # an Ed25519 signature (64 bytes) in unpadded base64url


class BadOriginSignature(RequestSignatureError):
    """The announcement's origin signature fails against the origin key we hold (401)."""


@dataclass(frozen=True, slots=True)
class FloodSettings:
    radius_km: float = 1000.0
    ttl: int = flooding.DEFAULT_TTL
    dedupe_window: timedelta = timedelta(hours=1)


class AnnouncementService:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        node: NodeIdentity,
        signing_key: Callable[[], tuple[Ed25519PrivateKey, str]],
        new_id: Callable[[], str],
        settings: FloodSettings,
        hold: Callable[[list[str]], set[str]] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._signing_key = signing_key
        self._new_id = new_id
        self._settings = settings
        # Given when the overflow policy runs: the local materials it still holds back.
        self._hold = hold

    # -- inbound ---------------------------------------------------------------------------------
    def receive(self, sender: str, payload: object) -> int:
        """Accept an announcement from peer `sender`; returns the accepted event id."""
        validate_entity(payload, "MaterialAnnouncement")
        assert isinstance(payload, dict)
        fields = flooding.parse_flooding(payload, self._settings.ttl)
        key = flooding.dedupe_key(payload, fields)
        with self._uow() as uow:
            seen = uow.federation.announcements.receipt(key)
        if seen is not None:
            return seen.event_id
        with self._uow(write=True) as uow:
            return self._accept(uow, sender, payload, fields, key)

    def _accept(
        self,
        uow: FederationUnitOfWork,
        sender: str,
        payload: dict[str, Any],
        fields: flooding.Flooding,
        key: str,
    ) -> int:
        now = self._clock.now()
        store = uow.federation.announcements
        retention = ID_RETENTION if fields.announcement_id else self._settings.dedupe_window
        receipt = AnnouncementReceipt(
            key,
            payload["origin"],
            payload["material"],
            fields.announcement_id,
            sender,
            0,
            to_us(now),
            to_us(now + retention),
        )
        if not store.add_receipt(receipt):  # a concurrent copy won: answer its id
            found = store.receipt(key)
            assert found is not None
            return found.event_id
        verified = sender == payload["origin"] or self._origin_verified(uow, payload, fields)
        if not verified and _verified_entry(uow, payload):
            return self._record_only(uow, sender, payload, store, key, now)
        summary = {"kind": "announcement", "from": sender, "material": payload["material"]}
        event = uow.evidence.append(
            EvidenceDraft(
                "node.federation_received", "node", sender, sender, sha256_hex(payload), summary
            ),
            now,
        )
        store.set_receipt_event(key, event.sequence)
        if payload["origin"] != self._node.node_id:
            self._store_remote(uow, sender, payload, fields, verified, to_us(now))
            relayed = payload if verified else _unsigned(payload)
            self._forward(uow, sender, relayed, fields, key, to_us(now))
        return event.sequence

    def _record_only(
        self,
        uow: FederationUnitOfWork,
        sender: str,
        payload: dict[str, Any],
        store: Any,
        key: str,
        now: Any,
    ) -> int:
        """An unverified claim about a verified entry: evidence of receipt, no change."""
        summary = {
            "kind": "announcement",
            "from": sender,
            "material": payload["material"],
            "ignored": "unverified origin",
        }
        event = uow.evidence.append(
            EvidenceDraft(
                "node.federation_received", "node", sender, sender, sha256_hex(payload), summary
            ),
            now,
        )
        store.set_receipt_event(key, event.sequence)
        return event.sequence

    def _origin_verified(
        self, uow: FederationUnitOfWork, payload: dict[str, Any], fields: flooding.Flooding
    ) -> bool:
        origin = payload["origin"]
        peer = uow.federation.peers.get(origin)
        if peer is not None and not peer.approved:
            return False  # a pending claim's key is not a trusted path
        key_id, signature = fields.origin_key_id, fields.origin_signature
        record = uow.federation.peer_keys.get(origin, key_id) if key_id else None
        if record is None or signature is None:
            return False  # no key of ours to check it with: kept on the sender's word
        data = flooding.origin_signing_input(payload)
        if record.status == "revoked" or not keys.verify(record.public_key, data, signature):
            raise BadOriginSignature(
                f"origin_signature does not verify with {payload['origin']}'s key "
                f"{fields.origin_key_id}"
            )
        return True

    def _store_remote(
        self,
        uow: FederationUnitOfWork,
        sender: str,
        payload: dict[str, Any],
        fields: flooding.Flooding,
        verified: bool,
        now_us: int,
    ) -> None:
        store = uow.federation.announcements
        current = store.remote(payload["origin"], payload["material"])
        announced_at = payload.get("announced_at")
        if current is not None and _newer(current.document.get("announced_at"), announced_at):
            return  # an older state arriving late must not overwrite a newer one
        category = payload.get("category")
        store.put_remote(
            RemoteMaterialRow(
                origin=payload["origin"],
                material=payload["material"],
                received_from=sender,
                available=payload["available"],
                category=category[:64] if isinstance(category, str) else None,
                announcement_id=fields.announcement_id,
                origin_verified=verified,
                hop_count=fields.hop_count,
                document=flooding.content(payload),
                received_us=current.received_us if current else now_us,
                updated_us=now_us,
                origin_signature=None if verified else _checkable(fields.origin_signature),
            )
        )

    def _forward(
        self,
        uow: FederationUnitOfWork,
        sender: str,
        payload: dict[str, Any],
        fields: flooding.Flooding,
        key: str,
        now_us: int,
    ) -> None:
        origin_peer = uow.federation.peers.get(payload["origin"])
        fallback = None
        if origin_peer is not None and origin_peer.lat is not None and origin_peer.lon is not None:
            fallback = (origin_peer.lat, origin_peer.lon)
        plan = flooding.plan(
            payload,
            fields,
            me=flooding.Position(self._node.node_id, self._node.lat, self._node.lon),
            sender=sender,
            peers=approved_peer_ids(uow),
            radius_km=self._settings.radius_km,
            origin_location=fallback,
        )
        if plan.forwarded is not None and plan.forward_to:
            enqueue(
                uow,
                plan.forward_to,
                kind="announce",
                path=ANNOUNCE_PATH,
                body=dumps(plan.forwarded),
                dedupe_key=f"ann:{key}",
                now_us=now_us,
            )

    # -- outbound --------------------------------------------------------------------------------
    def relay(self, limit: int = RELAY_BATCH) -> int:
        """Queue announcements for local materials not yet announced; returns how many.

        The announcements are built and signed between a read and a write transaction (issue
        12 item 7): about 0.15 ms each, so a batch signed inside the write transaction held
        SQLite's write lock, and with it every request that writes, for 30 ms more. The write
        transaction takes only the materials whose version is still the one signed and still
        unannounced; one changed meanwhile is left to the next pass (its new `updated_us` is
        past the watermark), one announced meanwhile by another process is skipped. It writes
        the batch's `fed_announced` rows and outbox rows in one statement each, not three per
        row (a savepoint per outbox row)."""
        now = self._clock.now()
        now_us = to_us(now)
        with self._uow() as uow:
            watermark = uow.federation.relay.lock_watermark()
            pending = uow.federation.relay.unannounced(self._node.node_id, watermark, limit)
        if not pending:
            if watermark < now_us - 2 * LATE_COMMIT_MARGIN_US:
                with self._uow(write=True) as uow:
                    uow.federation.relay.lock_watermark()
                    uow.federation.relay.set_watermark(now_us - LATE_COMMIT_MARGIN_US)
            return 0
        signed = [(material, self.announcement(material, now)) for material in pending]
        bodies = {m.id: dumps(a) for m, a in signed}  # serialised once, and outside the lock
        with self._uow(write=True) as uow:
            relay = uow.federation.relay
            locked = relay.lock_watermark()
            current = relay.unannounced_versions(self._node.node_id, [m.id for m in pending])
            fresh = [(m, a) for m, a in signed if current.get(m.id) == m.version]
            held = self._hold([m.id for m, _ in fresh]) if self._hold and fresh else set()
            relay.set_announced([(m.id, m.version, a["announcement_id"]) for m, a in fresh], now_us)
            peers = approved_peer_ids(uow)
            # A held material is announced by the overflow policy when local demand is short.
            uow.messaging.outbox.add_many(
                [
                    OutboxDraft(
                        peer,
                        "announce",
                        "POST",
                        ANNOUNCE_PATH,
                        bodies[material.id],
                        f"own:{announcement['announcement_id']}",
                    )
                    for material, announcement in fresh
                    if material.id not in held
                    for peer in peers
                ],
                now_us,
            )
            if len(pending) < limit:  # a complete pass: everything older is announced
                relay.set_watermark(max(locked, now_us - LATE_COMMIT_MARGIN_US))
        return len(fresh)

    def announcement(self, material: LocalMaterial, now: Any) -> dict[str, Any]:
        """The signed MaterialAnnouncement of one local material version (we are its origin)."""
        document = material.document
        quantity = document.get("quantity") or {}
        body: dict[str, Any] = {
            "@context": CONTEXT,
            "@type": "MaterialAnnouncement",
            "material": material.id,
            "origin": self._node.node_id,
            "available": material.available,
            "category": document.get("category"),
            "quantity": quantity.get("value"),
            "unit": quantity.get("unit"),
            "current_city": document.get("current_city"),
            "announcement_id": f"ann_{self._new_id()}",
            "announced_at": format_timestamp(now),
            "origin_location": {"lat": self._node.lat, "lon": self._node.lon},
        }
        body = {k: v for k, v in body.items() if v is not None}
        key, key_id = self._signing_key()
        body["origin_key_id"] = key_id
        body["origin_signature"] = keys.sign(key, flooding.origin_signing_input(body))
        return {**body, "ttl": self._settings.ttl, "hop_count": 1}

    # -- browsing --------------------------------------------------------------------------------
    def remote_page(self, cursor: str | None, limit: int, origin: str | None) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        after = _decode_cursor(cursor) if cursor else None
        with self._uow() as uow:
            rows = uow.federation.announcements.remote_page(after, limit + 1, origin)
        page, more = rows[:limit], len(rows) > limit
        return {
            "results": [remote_view(row) for row in page],
            "next_cursor": _encode_cursor(page[-1]) if more else None,
        }

    def prune(self) -> int:
        with self._uow(write=True) as uow:
            return uow.federation.announcements.prune(to_us(self._clock.now()))


def reverify(uow: FederationUnitOfWork, origin: str, actor: str, now: datetime) -> tuple[int, int]:
    """Check `origin`'s unverified entries now that its keys came through a trusted path (an
    operator's approval, `peers add` or import, or a key notice signed by a key we trusted).

    An entry whose kept signature verifies with a usable key becomes `origin_verified`; one
    whose signature fails against a key of the origin we now hold is dropped (it was forged or
    altered on the way). Entries without a signature, or naming a key we still lack, stay as
    they are. Keys are never fetched through another peer: an approved peer vouching for a
    third node's key would let any one peer verify what it forged. Returns (verified, dropped);
    any change is one evidence entry, in the caller's transaction."""
    peer = uow.federation.peers.get(origin)
    if peer is not None and not peer.approved:
        return 0, 0  # a pending claim's key is not a trusted path
    store = uow.federation.announcements
    verified: list[str] = []
    dropped: list[str] = []
    for row in store.unverified(origin):
        key_id = row.document.get("origin_key_id")
        record = uow.federation.peer_keys.get(origin, key_id) if isinstance(key_id, str) else None
        if record is None or row.origin_signature is None:
            continue
        data = flooding.origin_signing_input(row.document)
        if record.status != "revoked" and keys.verify(
            record.public_key, data, row.origin_signature
        ):
            store.put_remote(replace(row, origin_verified=True, origin_signature=None))
            verified.append(row.material)
        else:
            store.delete_remote(origin, row.material)
            dropped.append(row.material)
    if verified or dropped:
        summary = {"kind": "reverification", "verified": verified, "dropped": dropped}
        draft = EvidenceDraft(
            "node.federation_received", "node", origin, actor, sha256_hex(summary), summary
        )
        uow.evidence.append(draft, now)
    return len(verified), len(dropped)


def remote_view(row: RemoteMaterialRow) -> dict[str, Any]:
    return {
        **row.document,
        "source_node": row.origin,
        "received_from": row.received_from,
        "hop_count": row.hop_count,
        "origin_verified": row.origin_verified,
        "received_at": format_timestamp(from_us(row.received_us)),
        "updated_at": format_timestamp(from_us(row.updated_us)),
    }


def _checkable(signature: str | None) -> str | None:
    """A signature worth keeping for later: one of an Ed25519 signature's length (base64url,
    86 characters). Anything longer could never verify and would not fit its column."""
    return signature if signature is not None and len(signature) == SIGNATURE_CHARS else None


def _unsigned(payload: dict[str, Any]) -> dict[str, Any]:
    """An announcement we could not verify travels on without the origin's signature fields."""
    return {k: v for k, v in payload.items() if k not in ("origin_key_id", "origin_signature")}


def _verified_entry(uow: FederationUnitOfWork, payload: dict[str, Any]) -> bool:
    current = uow.federation.announcements.remote(payload["origin"], payload["material"])
    return current is not None and current.origin_verified


def _newer(stored: object, incoming: object) -> bool:
    """Is the stored `announced_at` strictly later than the incoming one? (Unknown: no.)"""
    old, new = timestamp_or_none(stored), timestamp_or_none(incoming)
    return old is not None and new is not None and old > new


def _encode_cursor(row: RemoteMaterialRow) -> str:
    return keys.b64url_encode(dumps([row.updated_us, row.material, row.origin]).encode())


def _decode_cursor(cursor: str) -> tuple[int, str, str]:
    raw = keys.b64url_decode(cursor)
    try:
        value = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        value = None
    valid = isinstance(value, list) and len(value) == 3 and isinstance(value[0], int)
    valid = valid and 0 <= value[0] <= INT64_MAX  # type: ignore[index]
    if not valid or not all(isinstance(v, str) and "\x00" not in v for v in value[1:]):  # type: ignore[index]
        raise InvalidRequest("cursor is not one this node issued", {"cursor": cursor[:100]})
    return int(value[0]), str(value[1]), str(value[2])  # type: ignore[index]
