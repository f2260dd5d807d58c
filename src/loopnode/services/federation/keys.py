"""This node's keys: the signing key, its history, rotation and revocation (DECISIONS 18-19).

The private key is a file (`PrivateKeyFile`); its history is the `fed_node_keys` table, where
exactly the current key is `active`. Rotation and revocation change the table, append the
`key.rotated` / `key.revoked` (and `key.created`) evidence entries and queue key notices for
every approved peer in one transaction; the new private key is staged beside the current file
first and moved into place after the commit, and `ensure_current` finishes that move if the
process died in between. Key ids are `protocol.keys.key_id(public key, node id)`, so peers
compute the same id from a PEM alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.domain.errors import InvalidRequest, LoopError, NotFound
from loopnode.domain.times import from_us, to_us
from loopnode.protocol import keys
from loopnode.protocol.canonical import sha256_hex
from loopnode.protocol.trust import KeyRecord, TrustStore
from loopnode.services.federation import notices
from loopnode.services.federation.outbox import KEYS_PATH, approved_peer_ids, dumps, enqueue
from loopnode.services.federation.ports import (
    FederationUnitOfWork,
    FederationUowFactory,
    NodeKeyRow,
    PrivateKeyFile,
)
from loopnode.services.ports import Clock, EvidenceDraft

FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


class KeyUnavailable(LoopError):
    """The node has no private key (run `loopnode init`)."""


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What a rotation or revocation did: the key retired, its successor, the peers told."""

    retired_key_id: str
    active_key_id: str
    peers_notified: int


class NodeKeys:
    def __init__(
        self,
        uow: FederationUowFactory,
        clock: Clock,
        node_id: str,
        key_file: PrivateKeyFile,
        *,
        generate: Callable[[], Ed25519PrivateKey] = keys.generate_private_key,
        new_id: Callable[[], str],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._node_id = node_id
        self._file = key_file
        self._generate = generate
        self._new_id = new_id
        self._cached: tuple[Ed25519PrivateKey, str] | None = None

    @property
    def node_id(self) -> str:
        return self._node_id

    def signing_key(self) -> tuple[Ed25519PrivateKey, str]:
        """The current private key and its key id (re-read when the file changes)."""
        key = self._file.load()
        if key is None:
            raise KeyUnavailable("this node has no private key: run `loopnode init`")
        if self._cached is None or self._cached[0] is not key:
            self._cached = (key, keys.key_id(keys.public_raw(key), self._node_id))
        return self._cached

    def public_pem(self) -> str:
        return keys.public_pem(self.signing_key()[0].public_key())

    def ensure_current(self) -> NodeKeyRow | None:
        """Record the key file's key as the active one (with `key.created`) if it is not yet."""
        self._finish_staged_move()
        key = self._file.load()
        if key is None:
            return None
        raw = keys.public_raw(key)
        key_id = keys.key_id(raw, self._node_id)
        with self._uow(write=True) as uow:
            known = uow.federation.node_keys.get(key_id)
            if known is not None:
                return known
            now = self._clock.now()
            for row in uow.federation.node_keys.all():
                if row.status == "active":  # the file was replaced by hand: close the old one
                    retired = replace(
                        row, status="rotated", rotated_at_us=to_us(now), valid_until_us=to_us(now)
                    )
                    uow.federation.node_keys.put(replace(retired, rotated_to_key_id=key_id))
            return self._record_new(uow, raw, now, "system")

    def _finish_staged_move(self) -> None:
        staged = self._file.staged()
        if staged is None:
            return
        staged_id = keys.key_id(keys.public_raw(staged), self._node_id)
        with self._uow() as uow:
            row = uow.federation.node_keys.get(staged_id)
        if row is not None and row.status == "active":
            self._file.commit_staged()
        else:
            self._file.discard_staged()

    def _record_new(
        self, uow: FederationUnitOfWork, raw: bytes, now: datetime, actor: str
    ) -> NodeKeyRow:
        key_id = keys.key_id(raw, self._node_id)
        row = NodeKeyRow(key_id, raw, "active", to_us(now), to_us(now))
        uow.federation.node_keys.put(row)
        draft = EvidenceDraft("key.created", "key", key_id, actor, sha256_hex(keys.public_jwk(raw)))
        uow.evidence.append(draft, now)
        return row

    # -- rotation and revocation -----------------------------------------------------------------
    def rotate(self, actor: str = "operator") -> KeyChange:
        """Replace the current key; peers learn the successor from a notice signed by both."""
        old, old_id = self.signing_key()
        self.ensure_current()
        new = self._generate()
        now = self._clock.now()
        notice = notices.build(
            notice_id=self._notice_id(),
            node_id=self._node_id,
            action="rotated",
            key=keys.public_raw(old),
            effective_at=now,
            signer=old,
            new_key=new,
        )

        def change(row: NodeKeyRow) -> NodeKeyRow:
            return replace(
                row,
                status="rotated",
                rotated_at_us=to_us(now),
                valid_until_us=to_us(now),
                rotated_to_key_id=notice["new_key_id"],
            )

        return self._replace_key(old_id, new, notice, change, "key.rotated", actor)

    def revoke(self, key_id: str | None = None, actor: str = "operator") -> KeyChange:
        """Revoke a key. Revoking the current key also creates its replacement, which peers
        accept only after their operator approves it (a revoked key vouches for nothing)."""
        current, current_id = self.signing_key()
        self.ensure_current()
        target = key_id or current_id
        now = self._clock.now()
        with self._uow() as uow:
            row = uow.federation.node_keys.get(target)
        if row is None:
            raise NotFound(f"this node has no key {target}", {"searched_id": target})
        if row.status == "revoked":
            raise InvalidRequest(f"key {target} is already revoked")
        notice = notices.build(
            notice_id=self._notice_id(),
            node_id=self._node_id,
            action="revoked",
            key=row.public_key,
            effective_at=now,
            signer=current,
        )

        def change(row: NodeKeyRow) -> NodeKeyRow:
            return replace(
                row,
                status="revoked",
                revoked_at_us=to_us(now),
                valid_until_us=row.valid_until_us or to_us(now),
            )

        successor = self._generate() if target == current_id else None
        return self._replace_key(target, successor, notice, change, "key.revoked", actor)

    def _replace_key(
        self,
        target: str,
        successor: Ed25519PrivateKey | None,
        notice: dict[str, Any],
        change: Callable[[NodeKeyRow], NodeKeyRow],
        event: str,
        actor: str,
    ) -> KeyChange:
        now = self._clock.now()
        if successor is not None:
            self._file.stage(successor)
        try:
            with self._uow(write=True) as uow:
                row = uow.federation.node_keys.get(target)
                assert row is not None
                uow.federation.node_keys.put(change(row))
                uow.evidence.append(
                    EvidenceDraft(event, "key", target, actor, sha256_hex(notice)), now
                )
                if successor is not None:
                    active = self._record_new(uow, keys.public_raw(successor), now, actor).key_id
                else:
                    active = self.signing_key()[1]
                told = enqueue(
                    uow,
                    approved_peer_ids(uow),
                    kind="key-notice",
                    path=KEYS_PATH,
                    body=dumps(notice),
                    dedupe_key=notice["notice_id"],
                    now_us=to_us(now),
                )
        except BaseException:
            if successor is not None:
                self._file.discard_staged()
            raise
        if successor is not None:
            self._file.commit_staged()
        return KeyChange(target, active, told)

    def _notice_id(self) -> str:
        return f"kn_{self._new_id()}"

    # -- reading ---------------------------------------------------------------------------------
    def history(self) -> list[NodeKeyRow]:
        with self._uow() as uow:
            return uow.federation.node_keys.all()

    def trust_document(self) -> dict[str, Any]:
        """This node's key history as a core-dp trust-store document (open ends: year 9999)."""
        rows = self.history()
        records = [_record(self._node_id, row) for row in rows]
        if not records:
            raise NotFound("this node has no keys yet", {"searched_id": self._node_id})
        updated = max(from_us(max(r.created_us, r.revoked_at_us or 0)) for r in rows)
        return TrustStore.of(records).to_document(updated_at=updated)


def _record(node_id: str, row: NodeKeyRow) -> KeyRecord:
    until = from_us(row.valid_until_us) if row.valid_until_us is not None else FAR_FUTURE
    return KeyRecord(
        node_id=node_id,
        key_id=row.key_id,
        public_key=row.public_key,
        status=row.status,  # type: ignore[arg-type]
        valid_from=from_us(row.valid_from_us),
        valid_until=until,
        revoked_at=from_us(row.revoked_at_us) if row.revoked_at_us is not None else None,
        rotated_at=from_us(row.rotated_at_us) if row.rotated_at_us is not None else None,
        rotated_to_key_id=row.rotated_to_key_id,
    )
