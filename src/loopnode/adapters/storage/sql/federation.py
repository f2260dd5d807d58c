"""SQLAlchemy Core implementations of the federation stores, identical on SQLite and PostgreSQL.

All stores share the unit of work's connection. The outbox, the circuit breakers and the
replay cache are the messaging stack's (`messaging_sql`). "Insert unless present" relies on
primary/unique keys and a savepoint, so a duplicate never aborts the surrounding transaction
on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.savepoints import insert_unless_present
from loopnode.adapters.storage.sql.driver import insert_rows
from loopnode.adapters.storage.tables.core import records
from loopnode.adapters.storage.tables.federation import (
    announced,
    announcements,
    bids,
    node_keys,
    peer_keys,
    peers,
    relay_state,
    remote_materials,
)
from loopnode.domain.times import from_us, to_us
from loopnode.protocol.trust import KeyRecord, KeyStatus
from loopnode.services.federation.ports import (
    AnnouncementReceipt,
    BidRow,
    LocalMaterial,
    NodeKeyRow,
    PeerRow,
    RemoteMaterialRow,
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _replace(c: Connection, table: Any, keys: dict[str, Any], values: dict[str, Any]) -> None:
    where = [table.c[name] == value for name, value in keys.items()]
    result = c.execute(update(table).where(*where).values(**values))
    if not result.rowcount:
        c.execute(insert(table), {**keys, **values})


class SqlFederationStores:
    """Every federation store on one connection (`uow.federation`)."""

    def __init__(self, connection: Connection) -> None:
        self.node_keys = SqlNodeKeyStore(connection)
        self.peers = SqlPeerStore(connection)
        self.peer_keys = SqlPeerKeyStore(connection)
        self.announcements = SqlAnnouncementStore(connection)
        self.bids = SqlBidStore(connection)
        self.relay = SqlRelayStore(connection)


# -- keys ------------------------------------------------------------------------------------------
class SqlNodeKeyStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def all(self) -> list[NodeKeyRow]:
        rows = self._c.execute(select(node_keys).order_by(node_keys.c.created_us))
        return [_node_key(r) for r in rows]

    def get(self, key_id: str) -> NodeKeyRow | None:
        row = self._c.execute(select(node_keys).where(node_keys.c.key_id == key_id)).first()
        return None if row is None else _node_key(row)

    def put(self, row: NodeKeyRow) -> None:
        values = {
            "public_key": row.public_key.hex(),
            "status": row.status,
            "valid_from_us": row.valid_from_us,
            "valid_until_us": row.valid_until_us,
            "rotated_at_us": row.rotated_at_us,
            "rotated_to_key_id": row.rotated_to_key_id,
            "revoked_at_us": row.revoked_at_us,
            "created_us": row.created_us,
        }
        _replace(self._c, node_keys, {"key_id": row.key_id}, values)


def _node_key(row: Row[Any]) -> NodeKeyRow:
    m = row._mapping
    return NodeKeyRow(
        key_id=m["key_id"],
        public_key=bytes.fromhex(m["public_key"]),
        status=m["status"],
        valid_from_us=int(m["valid_from_us"]),
        created_us=int(m["created_us"]),
        valid_until_us=m["valid_until_us"],
        rotated_at_us=m["rotated_at_us"],
        rotated_to_key_id=m["rotated_to_key_id"],
        revoked_at_us=m["revoked_at_us"],
    )


class SqlPeerKeyStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, node_id: str, key_id: str) -> KeyRecord | None:
        row = self._c.execute(
            select(peer_keys).where(peer_keys.c.node_id == node_id, peer_keys.c.key_id == key_id)
        ).first()
        return None if row is None else _key_record(row)

    def for_node(self, node_id: str) -> list[KeyRecord]:
        statement = (
            select(peer_keys).where(peer_keys.c.node_id == node_id).order_by(peer_keys.c.created_us)
        )
        return [_key_record(r) for r in self._c.execute(statement)]

    def put(self, record: KeyRecord, source: str, now_us: int) -> None:
        values = {
            "public_key": record.public_key.hex(),
            "status": record.status,
            "valid_from_us": _us(record.valid_from),
            "valid_until_us": _us(record.valid_until),
            "rotated_at_us": _us(record.rotated_at),
            "rotated_to_key_id": record.rotated_to_key_id,
            "revoked_at_us": _us(record.revoked_at),
            "source": source,
        }
        keys = {"node_id": record.node_id, "key_id": record.key_id}
        result = self._c.execute(
            update(peer_keys)
            .where(peer_keys.c.node_id == record.node_id, peer_keys.c.key_id == record.key_id)
            .values(**values)
        )
        if not result.rowcount:
            self._c.execute(insert(peer_keys), {**keys, **values, "created_us": now_us})

    def delete_unrevoked(self, node_id: str) -> None:
        self._c.execute(
            delete(peer_keys).where(peer_keys.c.node_id == node_id, peer_keys.c.status != "revoked")
        )

    def knows(self, node_id: str) -> bool:
        found = self._c.execute(
            select(peer_keys.c.key_id).where(peer_keys.c.node_id == node_id).limit(1)
        ).first()
        return found is not None


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def _dt(micros: int | None) -> datetime | None:
    return None if micros is None else from_us(int(micros))


def _key_record(row: Row[Any]) -> KeyRecord:
    m = row._mapping
    status: KeyStatus = m["status"]
    return KeyRecord(
        node_id=m["node_id"],
        key_id=m["key_id"],
        public_key=bytes.fromhex(m["public_key"]),
        status=status,
        valid_from=_dt(m["valid_from_us"]),
        valid_until=_dt(m["valid_until_us"]),
        revoked_at=_dt(m["revoked_at_us"]),
        rotated_at=_dt(m["rotated_at_us"]),
        rotated_to_key_id=m["rotated_to_key_id"],
    )


# -- peers -----------------------------------------------------------------------------------------
class SqlPeerStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, node_id: str, *, for_update: bool = False) -> PeerRow | None:
        statement = select(peers).where(peers.c.node_id == node_id)
        if for_update:
            statement = statement.with_for_update()
        row = self._c.execute(statement).first()
        return None if row is None else _peer(row)

    def all(self, status: str | None = None) -> list[PeerRow]:
        statement = select(peers).order_by(peers.c.node_id)
        if status is not None:
            statement = statement.where(peers.c.status == status)
        return [_peer(r) for r in self._c.execute(statement)]

    def put(self, row: PeerRow) -> None:
        values = {
            "name": row.name,
            "endpoint": row.endpoint,
            "status": row.status,
            "lat": row.lat,
            "lon": row.lon,
            "capabilities": _json(list(row.capabilities)),
            "tls_fingerprint": row.tls_fingerprint,
            "tls_cert_pem": row.tls_cert_pem,
            "pending_key_id": row.pending_key_id,
            "pending_public_key": (
                row.pending_public_key.hex() if row.pending_public_key is not None else None
            ),
            "last_seen_us": row.last_seen_us,
            "approved_us": row.approved_us,
            "created_us": row.created_us,
            "updated_us": row.updated_us,
        }
        _replace(self._c, peers, {"node_id": row.node_id}, values)

    def delete(self, node_id: str) -> bool:
        result = self._c.execute(delete(peers).where(peers.c.node_id == node_id))
        return bool(result.rowcount)


def _peer(row: Row[Any]) -> PeerRow:
    m = row._mapping
    pending = m["pending_public_key"]
    return PeerRow(
        node_id=m["node_id"],
        name=m["name"],
        endpoint=m["endpoint"],
        status=m["status"],
        capabilities=tuple(orjson.loads(m["capabilities"])),
        created_us=int(m["created_us"]),
        updated_us=int(m["updated_us"]),
        lat=m["lat"],
        lon=m["lon"],
        tls_fingerprint=m["tls_fingerprint"],
        tls_cert_pem=m["tls_cert_pem"],
        pending_key_id=m["pending_key_id"],
        pending_public_key=bytes.fromhex(pending) if pending else None,
        last_seen_us=m["last_seen_us"],
        approved_us=m["approved_us"],
    )


# -- inbound ---------------------------------------------------------------------------------------
class SqlAnnouncementStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def receipt(self, dedupe_key: str) -> AnnouncementReceipt | None:
        row = self._c.execute(
            select(announcements).where(announcements.c.dedupe_key == dedupe_key)
        ).first()
        if row is None:
            return None
        m = row._mapping
        return AnnouncementReceipt(
            dedupe_key=m["dedupe_key"],
            origin=m["origin"],
            material=m["material"],
            announcement_id=m["announcement_id"],
            received_from=m["received_from"],
            event_id=int(m["event_id"]),
            received_us=int(m["received_us"]),
            expires_us=int(m["expires_us"]),
        )

    def add_receipt(self, receipt: AnnouncementReceipt) -> bool:
        values = {
            "dedupe_key": receipt.dedupe_key,
            "origin": receipt.origin,
            "material": receipt.material,
            "announcement_id": receipt.announcement_id,
            "received_from": receipt.received_from,
            "event_id": receipt.event_id,
            "received_us": receipt.received_us,
            "expires_us": receipt.expires_us,
        }
        return insert_unless_present(self._c, insert(announcements), values)

    def set_receipt_event(self, dedupe_key: str, event_id: int) -> None:
        self._c.execute(
            update(announcements)
            .where(announcements.c.dedupe_key == dedupe_key)
            .values(event_id=event_id)
        )

    def remote(self, origin: str, material: str) -> RemoteMaterialRow | None:
        row = self._c.execute(
            select(remote_materials).where(
                remote_materials.c.origin == origin, remote_materials.c.material == material
            )
        ).first()
        return None if row is None else _remote(row)

    def put_remote(self, row: RemoteMaterialRow) -> None:
        values = {
            "received_from": row.received_from,
            "available": row.available,
            "category": row.category,
            "announcement_id": row.announcement_id,
            "origin_verified": row.origin_verified,
            "origin_signature": row.origin_signature,
            "hop_count": row.hop_count,
            "document": _json(row.document),
            "received_us": row.received_us,
            "updated_us": row.updated_us,
        }
        _replace(
            self._c, remote_materials, {"origin": row.origin, "material": row.material}, values
        )

    def remote_page(
        self, after: tuple[int, str, str] | None, limit: int, origin: str | None = None
    ) -> list[RemoteMaterialRow]:
        c = remote_materials.c
        statement = select(remote_materials).order_by(c.updated_us, c.material, c.origin)
        if after is not None:
            statement = statement.where(tuple_(c.updated_us, c.material, c.origin) > tuple_(*after))
        if origin is not None:
            statement = statement.where(c.origin == origin)
        return [_remote(r) for r in self._c.execute(statement.limit(limit))]

    def unverified(self, origin: str) -> list[RemoteMaterialRow]:
        c = remote_materials.c
        statement = (
            select(remote_materials)
            .where(c.origin == origin, c.origin_verified.is_(False))
            .order_by(c.material)
            .with_for_update()
        )
        return [_remote(r) for r in self._c.execute(statement)]

    def delete_remote(self, origin: str, material: str) -> None:
        c = remote_materials.c
        self._c.execute(delete(remote_materials).where(c.origin == origin, c.material == material))

    def prune(self, now_us: int) -> int:
        result = self._c.execute(delete(announcements).where(announcements.c.expires_us < now_us))
        return int(result.rowcount or 0)


def _remote(row: Row[Any]) -> RemoteMaterialRow:
    m = row._mapping
    return RemoteMaterialRow(
        origin=m["origin"],
        material=m["material"],
        received_from=m["received_from"],
        available=bool(m["available"]),
        category=m["category"],
        announcement_id=m["announcement_id"],
        origin_verified=bool(m["origin_verified"]),
        hop_count=int(m["hop_count"]),
        document=orjson.loads(m["document"]),
        received_us=int(m["received_us"]),
        updated_us=int(m["updated_us"]),
        origin_signature=m["origin_signature"],
    )


class SqlBidStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, row: BidRow) -> BidRow:
        values = {
            "material_id": row.material_id,
            "bidder_node": row.bidder_node,
            "document": _json(row.document),
            "doc_hash": row.doc_hash,
            "valid_until_us": row.valid_until_us,
            "status": row.status,
            "event_id": row.event_id,
            "match_id": row.match_id,
            "received_us": row.received_us,
            "updated_us": row.updated_us,
        }
        insert_unless_present(self._c, insert(bids), values)
        found = self._c.execute(
            select(bids).where(
                bids.c.bidder_node == row.bidder_node, bids.c.doc_hash == row.doc_hash
            )
        ).one()
        return _bid(found)

    def get(self, bid_id: int, *, for_update: bool = False) -> BidRow | None:
        statement = select(bids).where(bids.c.id == bid_id)
        if for_update:
            statement = statement.with_for_update()
        row = self._c.execute(statement).first()
        return None if row is None else _bid(row)

    def page(self, after_id: int, limit: int, status: str | None) -> list[BidRow]:
        statement = select(bids).where(bids.c.id > after_id).order_by(bids.c.id).limit(limit)
        if status is not None:
            statement = statement.where(bids.c.status == status)
        return [_bid(r) for r in self._c.execute(statement)]

    def update(self, row: BidRow) -> None:
        self._c.execute(
            update(bids)
            .where(bids.c.id == row.id)
            .values(
                status=row.status,
                match_id=row.match_id,
                event_id=row.event_id,
                updated_us=row.updated_us,
            )
        )


def _bid(row: Row[Any]) -> BidRow:
    m = row._mapping
    return BidRow(
        id=int(m["id"]),
        material_id=m["material_id"],
        bidder_node=m["bidder_node"],
        document=orjson.loads(m["document"]),
        doc_hash=m["doc_hash"],
        valid_until_us=int(m["valid_until_us"]),
        status=m["status"],
        event_id=int(m["event_id"]),
        received_us=int(m["received_us"]),
        updated_us=int(m["updated_us"]),
        match_id=m["match_id"],
    )


# -- outbound --------------------------------------------------------------------------------------
class SqlRelayStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def lock_watermark(self) -> int:
        row = self._c.execute(
            select(relay_state.c.cursor_us).where(relay_state.c.id == 1).with_for_update()
        ).one()
        return int(row[0])

    def set_watermark(self, watermark_us: int) -> None:
        self._c.execute(
            update(relay_state).where(relay_state.c.id == 1).values(cursor_us=watermark_us)
        )

    def unannounced(self, node_id: str, since_us: int, limit: int) -> list[LocalMaterial]:
        r = records.c
        version = _version()
        statement = (
            select(r.id, r.document, r.availability, r.updated_us, version.label("version"))
            .select_from(records.outerjoin(announced, announced.c.material_id == r.id))
            .where(*_unannounced(node_id, version), r.updated_us >= since_us)
            .order_by(r.updated_us, r.id)
            .limit(limit)
        )
        return [
            LocalMaterial(
                id=row.id,
                version=row.version,
                available=row.availability == "available",
                document=orjson.loads(row.document),
                updated_us=int(row.updated_us),
            )
            for row in self._c.execute(statement)
        ]

    def unannounced_versions(self, node_id: str, material_ids: list[str]) -> dict[str, str]:
        found = self._c.execute(_VERSIONS_BY_IDS, {"ids": material_ids})
        return {
            row.id: row.version
            for row in found
            if row.kind == "material"
            and row.source_node == node_id
            and row.announced_version != row.version
        }

    def set_announced(self, versions: Sequence[tuple[str, str, str]], now_us: int) -> None:
        rows = [(m, v, a, now_us) for m, v, a in versions]
        insert_rows(self._c, "fed_announced", _ANNOUNCED, rows, on_conflict=_REANNOUNCED)


_ANNOUNCED = ("material_id", "version", "announcement_id", "announced_us")
_REANNOUNCED = "(material_id) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in _ANNOUNCED[1:]
)


def _version() -> Any:
    """What an announcement stands for: the record's content and its availability."""
    return records.c.record_hash + ":" + records.c.availability


# By id alone, the rest checked in Python: given `kind = ? AND id IN (…)`, SQLite (which keeps no
# planner statistics) walks an index on `kind`, every stored material, instead of the primary
# key (tests/integration/storage/test_sqlite_query_plans.py).
_VERSIONS_BY_IDS = (
    select(
        records.c.id,
        records.c.kind,
        records.c.source_node,
        _version().label("version"),
        announced.c.version.label("announced_version"),
    )
    .select_from(records.outerjoin(announced, announced.c.material_id == records.c.id))
    .where(records.c.id.in_(bindparam("ids", expanding=True)))
)


def _unannounced(node_id: str, version: Any) -> tuple[Any, ...]:
    return (
        records.c.kind == "material",
        records.c.source_node == node_id,
        or_(announced.c.material_id.is_(None), announced.c.version != version),
    )
