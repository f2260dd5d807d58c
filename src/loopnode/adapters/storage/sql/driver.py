"""INSERT statements sent to the driver as text, for the hottest writes.

SQLAlchemy Core builds an insert's parameters per call (`construct_params`): for the evidence
of a batch and a passport's row that was a measurable share of a write (docs/performance.md,
"Session 4"). The text depends only on the table, its columns, the row count and the driver's
placeholder (`?` for sqlite3, `%s` for psycopg), so it is built once per shape. Values go to the
driver as they are: only str, int, float and None, which both drivers take unconverted.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["insert_rows"]

CHUNK = 500  # rows per statement: at most 12,000 parameters for the widest table, below limits


@cache
def _text(table: str, columns: tuple[str, ...], paramstyle: str, rows: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows)


def insert_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (values in `columns` order), one multi-row statement per CHUNK rows."""
    paramstyle = connection.dialect.paramstyle
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        flat = tuple(value for row in chunk for value in row)
        connection.exec_driver_sql(_text(table, columns, paramstyle, len(chunk)), flat)
