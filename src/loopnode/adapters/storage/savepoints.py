"""Inserts that may hit a unique key, without aborting the surrounding transaction.

On PostgreSQL a failed statement aborts the whole transaction; running the insert inside a
savepoint (a nested transaction) undoes only the insert. Used by every feature's stores.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

__all__ = ["insert_returning_id", "insert_unless_present"]


def insert_unless_present(c: Connection, statement: Any, values: dict[str, Any]) -> bool:
    """Run the insert; False when a primary or unique key was already taken."""
    return _insert(c, statement, values, returning=False) is not None


def insert_returning_id(c: Connection, statement: Any, values: dict[str, Any]) -> int | None:
    """Run an insert `RETURNING id`; the new id, or None when a unique key was taken."""
    return _insert(c, statement, values, returning=True)


def _insert(
    c: Connection, statement: Any, values: dict[str, Any], *, returning: bool
) -> int | None:
    savepoint = c.begin_nested()
    try:
        result = c.execute(statement, values)
        row_id = int(result.scalar_one()) if returning else 0
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return row_id
