"""Peer keys and their lifecycle: which key may sign a message created at a given time.

Theory of operation (SPEC-DIGEST §1.14 "Trust store", §4.1 "Key rotation and revocation",
§4.5; DECISIONS 19-20, SPEC-DIGEST §7 item 19): a receiver owns a trust store of peer keys,
each bound to one node id and one key id. "Cryptographic validity is not trust by itself": a
signature counts only if its key is in the store and usable for the message's creation time:

1. a `revoked` key is always rejected, whatever its `revoked_at` says;
2. the creation time must lie in `[valid_from, valid_until)` (inclusive, exclusive);
3. a `rotated` key is accepted only for messages created before the rotation point, which is
   `rotated_at` when known and otherwise `valid_until` (the core-dp store records rotation by
   closing the old key's window at the rotation instant).

The same records serve core-dp envelopes and signed HTTP requests; the messages' creation time
is the envelope `created_at` or the request `X-Timestamp`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from loopnode.domain.errors import ConfigurationError
from loopnode.domain.times import format_utc, timestamp_or_none
from loopnode.protocol.coredp.schemas import format_issues, schema
from loopnode.protocol.keys import KeyFormatError, load_public_jwk, public_jwk, public_raw

__all__ = [
    "KeyProblem",
    "KeyRecord",
    "KeyStatus",
    "TrustStore",
    "TrustStoreError",
    "key_problem",
    "load_trust_store",
    "parse_trust_store",
]

KeyStatus = Literal["active", "rotated", "revoked"]
_STATUSES: frozenset[str] = frozenset({"active", "rotated", "revoked"})


class TrustStoreError(ConfigurationError):
    """A trust-store document cannot be used (unreadable, schema-invalid, bad key)."""


class KeyProblem(StrEnum):
    """Why a known key may not sign a message created at a given time."""

    REVOKED = "revoked"
    OUTSIDE_VALIDITY = "outside_validity"
    ROTATED = "rotated"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One trusted peer key. Times are aware datetimes; `None` means unbounded / unknown."""

    node_id: str
    key_id: str
    public_key: bytes
    status: KeyStatus = "active"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None
    rotated_to_key_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("public_key must be the 32 raw bytes of an Ed25519 key")
        if self.status not in _STATUSES:
            raise ValueError(f"unknown key status {self.status!r}")

    @property
    def rotation_point(self) -> datetime | None:
        return self.rotated_at or self.valid_until

    def to_document(self) -> dict[str, Any]:
        """The trust-store (`keys[]`) form of this record."""
        doc: dict[str, Any] = {
            "node_id": self.node_id,
            "key_id": self.key_id,
            "public_key_jwk": public_jwk(self.public_key),
            "lifecycle_status": self.status,
        }
        for name in ("valid_from", "valid_until", "revoked_at"):
            moment = getattr(self, name)
            if moment is not None:
                doc[name] = format_utc(moment)
        if self.rotated_to_key_id is not None:
            doc["rotated_to_key_id"] = self.rotated_to_key_id
        return doc


def key_problem(record: KeyRecord, created_at: datetime) -> KeyProblem | None:
    """None if `record` may sign a message created at `created_at`; else the first problem.

    The order is the upstream harness's: revocation, then the validity window, then rotation.
    """
    if record.status == "revoked":
        return KeyProblem.REVOKED
    if record.valid_from is not None and created_at < record.valid_from:
        return KeyProblem.OUTSIDE_VALIDITY
    if record.valid_until is not None and created_at >= record.valid_until:
        return KeyProblem.OUTSIDE_VALIDITY
    rotation = record.rotation_point
    if record.status == "rotated" and (rotation is None or created_at >= rotation):
        return KeyProblem.ROTATED
    return None


@dataclass(frozen=True)
class TrustStore:
    """An immutable set of key records, looked up by (node id, key id); first entry wins."""

    records: tuple[KeyRecord, ...]
    version: str | None = None
    updated_at: datetime | None = None
    _index: dict[tuple[str, str], KeyRecord] = field(init=False, repr=False, compare=False)
    _nodes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], KeyRecord] = {}
        for record in self.records:
            index.setdefault((record.node_id, record.key_id), record)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_nodes", frozenset(r.node_id for r in self.records))

    @classmethod
    def of(cls, records: Iterable[KeyRecord]) -> TrustStore:
        return cls(tuple(records))

    def lookup(self, node_id: str, key_id: str) -> KeyRecord | None:
        return self._index.get((node_id, key_id))

    def knows_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def to_document(self, *, version: str = "1.0.0", updated_at: datetime) -> dict[str, Any]:
        """A document valid against the core-dp `trust-store.schema.json`."""
        return {
            "version": version,
            "updated_at": format_utc(updated_at),
            "keys": [record.to_document() for record in self.records],
        }


def load_trust_store(path: Path) -> TrustStore:
    """Read and parse a core-dp trust-store file; every failure is a `TrustStoreError`."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrustStoreError(f"{path}: cannot read trust store: {exc}") from exc
    return parse_trust_store(document)


def parse_trust_store(document: object) -> TrustStore:
    """Validate `document` against the core-dp trust-store schema and build the store."""
    issues = schema("trust-store.schema.json").issues(document)
    if issues:
        raise TrustStoreError("trust store is invalid:\n" + format_issues(issues))
    assert isinstance(document, Mapping)
    records = tuple(_record(entry) for entry in document["keys"])
    return TrustStore(records, str(document["version"]), timestamp_or_none(document["updated_at"]))


def _record(entry: Mapping[str, Any]) -> KeyRecord:
    try:
        raw = public_raw(load_public_jwk(entry["public_key_jwk"]))
    except KeyFormatError as exc:
        raise TrustStoreError(f"key {entry.get('key_id')}: {exc}") from exc
    times = {name: _time(entry, name) for name in ("valid_from", "valid_until", "revoked_at")}
    return KeyRecord(
        node_id=entry["node_id"],
        key_id=entry["key_id"],
        public_key=raw,
        status=entry["lifecycle_status"],
        rotated_to_key_id=entry.get("rotated_to_key_id"),
        **times,
    )


def _time(entry: Mapping[str, Any], name: str) -> datetime | None:
    if name not in entry:
        return None
    moment = timestamp_or_none(entry[name])
    if moment is None:
        raise TrustStoreError(f"key {entry.get('key_id')}: {name} is not a usable timestamp")
    return moment
