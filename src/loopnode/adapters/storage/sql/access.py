"""API keys at rest (hashed secrets, roles, expiry, revocation) and which organisation registered
a record (a registrar changes only its own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Row,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.tables.auth import record_organisations
from loopnode.adapters.storage.tables.core import api_keys
from loopnode.services.ports import (
    ApiKeyRow,
)

_KEY_BY_SECRET_HASH = select(api_keys).where(api_keys.c.secret_hash == bindparam("wanted_hash"))


class SqlApiKeyStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: ApiKeyRow) -> None:
        self._c.execute(
            insert(api_keys),
            {
                "key_id": row.key_id,
                "name": row.name,
                "secret_hash": row.secret_hash,
                "roles": ",".join(row.roles),
                "created_us": row.created_us,
                "expires_us": row.expires_us,
                "revoked_us": row.revoked_us,
            },
        )

    def by_secret_hash(self, secret_hash: str) -> ApiKeyRow | None:
        row = self._c.execute(_KEY_BY_SECRET_HASH, {"wanted_hash": secret_hash}).first()
        return None if row is None else _api_key(row)

    def all(self) -> list[ApiKeyRow]:
        return [_api_key(r) for r in self._c.execute(select(api_keys).order_by(api_keys.c.name))]

    def revoke(self, key_id: str, now_us: int) -> bool:
        result = self._c.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_us.is_(None))
            .values(revoked_us=now_us)
        )
        return bool(result.rowcount)

    def count_valid(self, now_us: int) -> int:
        statement = (
            select(func.count())
            .select_from(api_keys)
            .where(api_keys.c.revoked_us.is_(None), api_keys.c.expires_us > now_us)
        )
        return int(self._c.execute(statement).scalar_one())


def _api_key(row: Row[Any]) -> ApiKeyRow:
    m = row._mapping
    return ApiKeyRow(
        key_id=m["key_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        roles=tuple(r for r in str(m["roles"]).split(",") if r),
        created_us=int(m["created_us"]),
        expires_us=int(m["expires_us"]),
        revoked_us=m["revoked_us"],
    )


class SqlOrganisationStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def set(self, kind: str, record_id: str, organisation: str) -> None:
        self._c.execute(
            record_organisations.insert().values(
                kind=kind, record_id=record_id, organisation=organisation
            )
        )

    def get(self, kind: str, record_id: str) -> str | None:
        query = select(record_organisations.c.organisation).where(
            record_organisations.c.kind == kind, record_organisations.c.record_id == record_id
        )
        found = self._c.execute(query).scalar_one_or_none()
        return None if found is None else str(found)
