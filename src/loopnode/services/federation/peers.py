"""Peering (spec §9.1; DECISIONS 18-19): handshakes, approval, the NodeRegistry.

`loopnode peers add URL` (this node's operator) fetches the peer's NodeInfo
(`GET URL/api/v1/node/info`) and sends it a signed NodeHandshake carrying our public key; when
the peer answers `accepted`, we record it as approved on our side (our operator asked for it).

The receiving node (`receive_handshake`) records a *pending* peer: the handshake must be signed
by the key it carries (proof of possession), and the node id and key must match the NodeInfo it
fetches back from the handshake's endpoint (so nobody can claim another node's endpoint). Its
operator approves it (`loopnode peers approve`), or `peer_allowlist` does. A handshake for a
node we already hold an active key for must be signed by that key (it may then update the
endpoint, name and capabilities); a handshake from a node whose keys are all revoked is kept
as a *pending key*, which only an operator can install.

A pending (unapproved) peer's key is a claim, not an identity (issue 15, node-id squatting):
it authenticates nothing beyond its own later handshakes, and a first handshake for the same
node id with another key that proves possession and matches its endpoint's NodeInfo replaces
the claim (mode `reclaim`, recorded in evidence) instead of being refused. So a squatter who
claims `vienna.loop` first cannot lock the real Vienna out; the operator decides between claims
by checking the key out of band before `peers approve --key-id` (docs/federation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import orjson

from loopnode import LOOP_SPEC_VERSION
from loopnode.domain.errors import InvalidRequest, LoopError, NotFound
from loopnode.domain.times import format_timestamp, format_utc, from_us, to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.request_signing import UnknownKey
from loopnode.protocol.trust import KeyRecord
from loopnode.protocol.validation import validate_entity
from loopnode.services.federation.announcements import reverify
from loopnode.services.federation.ports import (
    FederationUnitOfWork,
    FederationUowFactory,
    PeerAddress,
    PeerRow,
    PeerTransport,
    TransportError,
)
from loopnode.services.federation.trust import PeerTrust, RawRequest, require_same_node
from loopnode.services.ports import Clock, EvidenceDraft
from loopnode.services.registry.identity import NodeIdentity

CONTEXT = "https://localloop.urbnia.com/projects/loop-protocol/contexts/loop-v0.2.0.jsonld"
HANDSHAKE_PATH = "/federation/handshake"
CAPABILITIES = (
    "material-registry",
    "federation-announce",
    "federation-offer",
    "signed-requests-v1",
    "cross-node-search",
)


class PeeringFailed(LoopError):
    """`peers add` could not complete (the peer refused, or could not be verified)."""


@dataclass(frozen=True, slots=True)
class TlsTrust:
    """How this node trusts peer certificates: a CA bundle, or pins taken at approval."""

    ca_bundle: str | None
    timeout_s: float


class PeerService:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        node: NodeIdentity,
        trust: PeerTrust,
        public_pem: Any,
        *,
        allowlist: Sequence[str] = (),
        tls_trust: TlsTrust,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node = node
        self._trust = trust
        self._public_pem = public_pem
        self._allowlist = frozenset(allowlist)
        self._tls = tls_trust

    # -- the adding side ----------------------------------------------------------------------
    async def add(
        self,
        transport: PeerTransport,
        base_url: str,
        *,
        fingerprint: str | None = None,
        trust_on_first_use: bool = False,
    ) -> PeerRow:
        endpoint = base_url.rstrip("/") + "/api/v1"
        pin = await self._pin_for(transport, endpoint, fingerprint, trust_on_first_use)
        info = await self._fetch_info(transport, endpoint, pin)
        node_id, public = info["id"], _info_key(info)
        if node_id == self._node.node_id:
            raise PeeringFailed("that URL is this node itself")
        peer = PeerAddress(node_id, endpoint, pin.tls_fingerprint, pin.tls_cert_pem)
        body = orjson.dumps(self.handshake_payload())
        try:
            answer = await transport.send(
                peer, "POST", HANDSHAKE_PATH, body, timeout=self._tls.timeout_s
            )
        except TransportError as exc:
            raise PeeringFailed(f"handshake with {node_id} failed: {exc.message}") from exc
        response = _json(answer.body)
        if answer.status != 200 or response.get("status") != "accepted":
            reason = response.get("message") or response.get("error") or answer.status
            raise PeeringFailed(f"{node_id} did not accept the handshake: {reason}")
        return self._record_added(info, endpoint, public, pin)

    async def _pin_for(
        self,
        transport: PeerTransport,
        endpoint: str,
        fingerprint: str | None,
        trust_on_first_use: bool,
    ) -> PeerAddress:
        unpinned = PeerAddress("", endpoint)
        if not endpoint.startswith("https://"):
            return unpinned
        if fingerprint is None and not trust_on_first_use:
            if self._tls.ca_bundle is None:
                raise InvalidRequest(
                    "no tls_ca_bundle is configured: pass the peer's certificate --fingerprint "
                    "(or --trust-on-first-use)"
                )
            return unpinned
        observed = await transport.certificate(endpoint, timeout=self._tls.timeout_s)
        if fingerprint is not None and observed.fingerprint != fingerprint:
            raise PeeringFailed(
                f"the peer presents certificate {observed.fingerprint}, not {fingerprint}"
            )
        return PeerAddress("", endpoint, observed.fingerprint, observed.pem)

    async def _fetch_info(
        self, transport: PeerTransport, endpoint: str, pin: PeerAddress | None
    ) -> dict[str, Any]:
        try:
            answer = await transport.get(
                endpoint + "/node/info", pin=pin, timeout=self._tls.timeout_s
            )
        except TransportError as exc:
            raise PeeringFailed(f"cannot read NodeInfo at {endpoint}: {exc.message}") from exc
        info = _json(answer.body)
        if answer.status != 200 or info.get("@type") != "NodeInfo":
            raise PeeringFailed(f"{endpoint}/node/info did not answer a NodeInfo")
        if not isinstance(info.get("id"), str) or not isinstance(info.get("location"), dict):
            raise PeeringFailed(f"{endpoint}/node/info has no id or location")
        return info

    def _record_added(
        self, info: dict[str, Any], endpoint: str, public: bytes, pin: PeerAddress
    ) -> PeerRow:
        now = self._clock.now()
        node_id = info["id"]
        key_id = keys.key_id(public, node_id)
        with self._uow(write=True) as uow:
            store = uow.federation
            existing = store.peers.get(node_id, for_update=True)
            row = PeerRow(
                node_id=node_id,
                name=str(info.get("name") or node_id)[:120],
                endpoint=endpoint,
                status="approved",
                capabilities=tuple(str(c) for c in info.get("capabilities") or ()),
                created_us=existing.created_us if existing else to_us(now),
                updated_us=to_us(now),
                lat=_number(info["location"].get("lat")),
                lon=_number(info["location"].get("lon")),
                tls_fingerprint=pin.tls_fingerprint,
                tls_cert_pem=pin.tls_cert_pem,
                last_seen_us=to_us(now),
                approved_us=to_us(now),
            )
            store.peers.put(row)
            _install_key(uow, node_id, key_id, public, "operator", to_us(now))
            self._evidence(uow, node_id, "operator", info, "added")
            reverify(uow, node_id, "operator", now)
        return row

    def handshake_payload(self) -> dict[str, Any]:
        name = self._node.name if len(self._node.name) >= 2 else self._node.node_id
        return {
            "@context": CONTEXT,
            "@type": "NodeHandshake",
            "schema_version": LOOP_SPEC_VERSION,
            "node_id": self._node.node_id,
            "name": name[:120],
            "endpoint": self._node.api_base,
            "capabilities": list(CAPABILITIES),
            "public_key": self._public_pem(),
            "timestamp": format_utc(self._clock.now()),
        }

    # -- the receiving side -------------------------------------------------------------------
    async def receive_handshake(
        self, transport: PeerTransport, request: RawRequest, payload: object
    ) -> dict[str, Any]:
        validate_entity(payload, "NodeHandshake")
        assert isinstance(payload, dict)
        node_id: str = payload["node_id"]
        if node_id == self._node.node_id:
            raise InvalidRequest("a node cannot peer with itself")
        require_same_node(_header(request.headers, "X-Node-ID"), node_id)
        public = _handshake_key(payload)
        key_id = keys.key_id(public, node_id)
        records = self._trust.keys_of(node_id)
        usable = [r for r in records if r.status == "active"]
        if usable and key_id not in {r.key_id for r in usable} and self._is_pending(node_id):
            self._trust.verify_with_key(request, KeyRecord(node_id, key_id, public))
            mode, records = "reclaim", []
        elif usable:
            self._trust.verify(request, require_approved=False)
            mode = "update"
        else:
            revoked = any(r.key_id == key_id and r.status == "revoked" for r in records)
            if revoked:
                raise UnknownKey(f"key {key_id} of {node_id} has been revoked")
            record = KeyRecord(node_id, key_id, public)
            self._trust.verify_with_key(request, record)
            mode = "rekey" if records else "new"
        if mode != "update" or self._endpoint_changed(node_id, payload["endpoint"]):
            check = await self._fetch_back(transport, payload["endpoint"], node_id, public, records)
            if isinstance(check, str):
                return self.handshake_response("rejected", check)
            pin = check
        else:
            pin = None
        message = self._store_handshake(payload, public, key_id, mode, pin)
        return self.handshake_response("accepted", message)

    def _is_pending(self, node_id: str) -> bool:
        with self._uow() as uow:
            peer = uow.federation.peers.get(node_id)
        return peer is not None and peer.status == "pending"

    def _endpoint_changed(self, node_id: str, endpoint: str) -> bool:
        with self._uow() as uow:
            peer = uow.federation.peers.get(node_id)
        return peer is None or peer.endpoint != endpoint

    async def _fetch_back(
        self,
        transport: PeerTransport,
        endpoint: str,
        node_id: str,
        public: bytes,
        records: list[KeyRecord],
    ) -> PeerAddress | str:
        """The peer's NodeInfo must name the same node and key; returns the TLS pin or why not."""
        pin: PeerAddress | None = None
        try:
            if endpoint.startswith("https://") and self._tls.ca_bundle is None:
                observed = await transport.certificate(endpoint, timeout=self._tls.timeout_s)
                pin = PeerAddress(node_id, endpoint, observed.fingerprint, observed.pem)
            info = await self._fetch_info(transport, endpoint.rstrip("/"), pin)
        except (PeeringFailed, TransportError) as exc:
            return f"cannot verify the handshake against {endpoint}: {_message(exc)}"
        if info["id"] != node_id:
            return f"{endpoint} belongs to {info['id']}, not {node_id}"
        if "public_key" in info:
            try:
                advertised = _info_key(info)
            except PeeringFailed as exc:
                return str(exc)
            known = {public} | {r.public_key for r in records if r.status != "revoked"}
            if advertised not in known:
                return f"the handshake key is not the key {endpoint} advertises"
        return pin or PeerAddress(node_id, endpoint)

    def _store_handshake(
        self,
        payload: dict[str, Any],
        public: bytes,
        key_id: str,
        mode: str,
        pin: PeerAddress | None,
    ) -> str:
        now = self._clock.now()
        node_id = payload["node_id"]
        with self._uow(write=True) as uow:
            store = uow.federation
            peer = store.peers.get(node_id, for_update=True)
            base = peer or PeerRow(
                node_id=node_id,
                name=payload["name"],
                endpoint=payload["endpoint"],
                status="pending",
                capabilities=(),
                created_us=to_us(now),
                updated_us=to_us(now),
            )
            row = replace(
                base,
                name=payload["name"],
                endpoint=payload["endpoint"],
                capabilities=tuple(payload["capabilities"]),
                updated_us=to_us(now),
                last_seen_us=to_us(now),
            )
            if mode == "reclaim":  # the earlier claim's key and pin go with it
                store.peer_keys.delete_unrevoked(node_id)
                row = replace(row, tls_fingerprint=None, tls_cert_pem=None)
            if pin is not None and pin.tls_cert_pem:
                row = replace(
                    row, tls_fingerprint=pin.tls_fingerprint, tls_cert_pem=pin.tls_cert_pem
                )
            if mode in ("new", "reclaim"):
                store.peer_keys.put(KeyRecord(node_id, key_id, public), "handshake", to_us(now))
                if node_id in self._allowlist:
                    row = replace(row, status="approved", approved_us=to_us(now))
            elif mode == "rekey":
                row = replace(row, pending_key_id=key_id, pending_public_key=public)
            store.peers.put(row)
            self._evidence(uow, node_id, node_id, payload, f"handshake-{mode}")
        if mode == "rekey":
            return f"new key {key_id} awaits approval by the operator of {self._node.node_id}"
        if row.approved:
            return f"{node_id} is an approved peer of {self._node.node_id}"
        return f"{node_id} is pending approval by the operator of {self._node.node_id}"

    def handshake_response(self, status: str, message: str) -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "@type": "NodeHandshakeResponse",
            "schema_version": LOOP_SPEC_VERSION,
            "status": status,
            "peer_id": self._node.node_id,
            "capabilities": list(CAPABILITIES),
            "received_at": format_utc(self._clock.now()),
            "lab_only": True,
            "message": message[:280],
        }

    # -- operators ------------------------------------------------------------------------------
    def approve(
        self, node_id: str, fingerprint: str | None = None, key_id: str | None = None
    ) -> PeerRow:
        """Approve a peer; with `key_id`, only if that is the key it holds or asks for (the key
        the operator verified out of band, so that a contested claim is not approved blindly)."""
        now = self._clock.now()
        with self._uow(write=True) as uow:
            store = uow.federation
            peer = store.peers.get(node_id, for_update=True)
            if peer is None:
                raise NotFound(f"no peer {node_id}", {"searched_id": node_id})
            if key_id is not None:
                _require_key(uow, peer, key_id)
            if fingerprint is not None and fingerprint != peer.tls_fingerprint:
                raise InvalidRequest(
                    f"{node_id} presented certificate {peer.tls_fingerprint}, not {fingerprint}"
                )
            row = replace(peer, status="approved", approved_us=to_us(now), updated_us=to_us(now))
            if peer.pending_key_id and peer.pending_public_key:
                _install_key(
                    uow,
                    node_id,
                    peer.pending_key_id,
                    peer.pending_public_key,
                    "operator",
                    to_us(now),
                )
                row = replace(row, pending_key_id=None, pending_public_key=None)
            store.peers.put(row)
            self._evidence(uow, node_id, "operator", {"node_id": node_id}, "approved")
            reverify(uow, node_id, "operator", now)
        return row

    def remove(self, node_id: str) -> bool:
        """Forget a peer and its usable keys (revoked keys stay, so they stay refused)."""
        with self._uow(write=True) as uow:
            removed = uow.federation.peers.delete(node_id)
            if removed:
                uow.federation.peer_keys.delete_unrevoked(node_id)
                self._evidence(uow, node_id, "operator", {"node_id": node_id}, "removed")
        return removed

    def describe(self) -> list[dict[str, Any]]:
        with self._uow() as uow:
            return [
                _describe(peer, uow.federation.peer_keys.for_node(peer.node_id))
                for peer in uow.federation.peers.all()
            ]

    def approved(self) -> list[PeerRow]:
        with self._uow() as uow:
            return uow.federation.peers.all("approved")

    def registry(self) -> dict[str, Any]:
        """A NodeRegistry (node-info schema): this node and its approved peers."""
        now = self._clock.now()
        nodes = [
            {
                "id": self._node.node_id,
                "endpoint": self._node.api_base,
                "public_key": self._public_pem(),
                "location": {"lat": self._node.lat, "lon": self._node.lon},
                "status": "active",
                "last_seen": format_utc(now),
                "capabilities": list(CAPABILITIES),
            }
        ]
        with self._uow() as uow:
            for peer in uow.federation.peers.all("approved"):
                active = [
                    k
                    for k in uow.federation.peer_keys.for_node(peer.node_id)
                    if k.status == "active"
                ]
                entry: dict[str, Any] = {
                    "id": peer.node_id,
                    "endpoint": peer.endpoint,
                    "location": {"lat": peer.lat or 0.0, "lon": peer.lon or 0.0},
                    "status": "active",
                    "capabilities": list(peer.capabilities),
                }
                if active:
                    entry["public_key"] = keys.public_pem(active[-1].public_key)
                if peer.last_seen_us is not None:
                    entry["last_seen"] = format_timestamp(from_us(peer.last_seen_us))
                nodes.append(entry)
        return {
            "@context": CONTEXT,
            "@type": "NodeRegistry",
            "schema_version": LOOP_SPEC_VERSION,
            "version": date.isoformat(now.date()),
            "nodes": nodes,
        }

    def _evidence(
        self, uow: FederationUnitOfWork, node_id: str, actor: str, payload: object, action: str
    ) -> None:
        draft = EvidenceDraft(
            "node.handshake", "node", node_id, actor, sha256_hex(payload), {"action": action}
        )
        uow.evidence.append(draft, self._clock.now())


def _install_key(
    uow: FederationUnitOfWork, node_id: str, key_id: str, public: bytes, source: str, now_us: int
) -> None:
    """Make `public` the node's active key; other usable keys of the node stop being active."""
    store = uow.federation.peer_keys
    for record in store.for_node(node_id):
        if record.key_id != key_id and record.status == "active":
            retired = replace(record, status="rotated", rotated_to_key_id=key_id)
            store.put(replace(retired, rotated_at=from_us(now_us)), source, now_us)
    existing = store.get(node_id, key_id)
    if existing is not None and existing.status == "revoked":
        raise InvalidRequest(f"key {key_id} of {node_id} is revoked and cannot be reinstated")
    store.put(KeyRecord(node_id, key_id, public), source, now_us)


def _require_key(uow: FederationUnitOfWork, peer: PeerRow, key_id: str) -> None:
    records = uow.federation.peer_keys.for_node(peer.node_id)
    held = {r.key_id for r in records}
    active = next((r.key_id for r in records if r.status == "active"), None)
    candidate = peer.pending_key_id or active
    if candidate != key_id:
        raise InvalidRequest(
            f"{peer.node_id} holds key {candidate}, not {key_id}: do not approve it until the "
            "key is the one its operator gave you",
            {"expected": key_id, "held": candidate, "known": sorted(held)},
        )


def _describe(peer: PeerRow, records: list[KeyRecord]) -> dict[str, Any]:
    return {
        "node_id": peer.node_id,
        "name": peer.name,
        "endpoint": peer.endpoint,
        "status": peer.status,
        "tls_fingerprint": peer.tls_fingerprint,
        "pending_key_id": peer.pending_key_id,
        "last_seen": format_timestamp(from_us(peer.last_seen_us)) if peer.last_seen_us else None,
        "keys": [{"key_id": r.key_id, "status": r.status} for r in records],
    }


def _handshake_key(payload: Mapping[str, Any]) -> bytes:
    text = payload.get("public_key")
    if not isinstance(text, str):
        raise InvalidRequest("the handshake must carry the node's public_key (PEM)")
    try:
        return keys.public_raw(keys.load_public_pem(text))
    except keys.KeyFormatError as exc:
        raise InvalidRequest(f"public_key: {exc}", {"pointer": "/public_key"}) from exc


def _info_key(info: Mapping[str, Any]) -> bytes:
    text = info.get("public_key")
    if not isinstance(text, str):
        raise PeeringFailed("the peer's NodeInfo has no public_key")
    try:
        return keys.public_raw(keys.load_public_pem(text))
    except keys.KeyFormatError as exc:
        raise PeeringFailed(f"the peer's NodeInfo public_key is unusable: {exc}") from exc


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    return lowered.get(name.lower(), "")


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, LoopError | TransportError) else str(exc)
