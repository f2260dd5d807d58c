"""Record binding: the state hash of each stored record an evidence entry is about (issue 15).

Every entry about a passport, offer, match, transfer or transaction carries `record_hash`, the
hash of that row's state right after the change (computed when the entry is appended, in the same
transaction). `loopnode evidence verify` recomputes the hash of every row and compares it with
the latest entry about it: a row changed, added or deleted in the database without an entry is
named. The state covers every column but `dna_records.offered_micro`, which offers move under
their own entries (and which the offers' own states account for). A settlement is stored in its
transaction's row, so entries about a settlement bind that row too (`ALIASES`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import orjson
from sqlalchemy import Column, ColumnElement, Table, and_, bindparam, func, select
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.tables.core import evidence, records
from loopnode.adapters.storage.tables.lifecycle import matches, offers, transactions, transfers

__all__ = [
    "ALIASES",
    "BOUND_SUBJECTS",
    "bound_states",
    "current_states",
    "state_hash",
    "states_of",
    "subjects_with_entries",
]

# subject type -> (table, extra condition, columns of its state)
_UNBOUND_COLUMNS: Final = frozenset({"offered_micro"})


def _columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if c.name not in _UNBOUND_COLUMNS]


BOUND_SUBJECTS: Final[Mapping[str, tuple[Table, ColumnElement[bool] | None]]] = {
    "material": (records, records.c.kind == "material"),
    "product": (records, records.c.kind == "product"),
    "offer": (offers, None),
    "match": (matches, None),
    "transfer": (transfers, None),
    "transaction": (transactions, None),
}
# Entries about these subject types bind the row of another (same id).
ALIASES: Final[Mapping[str, str]] = {"settlement": "transaction"}


def state_hash(values: Sequence[Any]) -> str:
    """sha256 of the row's values in column order (strings, integers, floats, nulls)."""
    return hashlib.sha256(orjson.dumps(list(values))).hexdigest()


def _select(subject_type: str) -> tuple[Table, Any]:
    table, condition = BOUND_SUBJECTS[subject_type]
    statement = select(*_columns(table))
    if condition is not None:
        statement = statement.where(condition)
    return table, statement


# Built once: building a Core statement costs about as much as running it on SQLite, and this
# one runs on every evidence append (docs/performance.md). By id alone, with the kind checked
# here: given `kind = ? AND id IN (?, ?)` SQLite (which keeps no statistics) walks the covering
# kind index, every stored material, instead of the primary key: 77 % of a registration's time
# with 100,000 materials.
_BY_IDS: Final = {
    subject_type: select(*_columns(BOUND_SUBJECTS[subject_type][0])).where(
        BOUND_SUBJECTS[subject_type][0].c.id.in_(bindparam("ids", expanding=True))
    )
    for subject_type in BOUND_SUBJECTS
}
# subject type -> the `kind` its rows must hold, for the types that share a table
_KINDS: Final = {"material": "material", "product": "product"}


def states_of(
    connection: Connection, subjects: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The current state hash of each bound (subject type, id) that has a row here."""
    asked = {(t, i) for t, i in subjects if ALIASES.get(t, t) in BOUND_SUBJECTS}
    wanted: dict[str, set[str]] = {}
    for subject_type, subject_id in asked:
        wanted.setdefault(ALIASES.get(subject_type, subject_type), set()).add(subject_id)
    rows: dict[tuple[str, str], str] = {}
    for subject_type, ids in wanted.items():
        kind = _KINDS.get(subject_type)
        for row in connection.execute(_BY_IDS[subject_type], {"ids": sorted(ids)}):
            if kind is None or row.kind == kind:
                rows[(subject_type, row.id)] = state_hash(tuple(row))
    return {
        (t, i): rows[(ALIASES.get(t, t), i)] for t, i in asked if (ALIASES.get(t, t), i) in rows
    }


def current_states(connection: Connection, subject_type: str) -> Iterator[tuple[str, str]]:
    """(id, state hash) of every stored row of one bound subject type."""
    _table, statement = _select(subject_type)
    for row in connection.execute(statement.execution_options(yield_per=1000)):
        yield row.id, state_hash(tuple(row))


def bound_states(connection: Connection) -> dict[tuple[str, str], tuple[int, str]]:
    """(subject type, id) -> (sequence, record hash) of the latest binding entry per stored row
    (aliases folded into the type whose row they bind)."""
    latest = (
        select(
            evidence.c.subject_type,
            evidence.c.subject_id,
            func.max(evidence.c.sequence).label("last"),
        )
        .where(
            evidence.c.record_hash.is_not(None),
            evidence.c.subject_type.in_([*BOUND_SUBJECTS, *ALIASES]),
        )
        .group_by(evidence.c.subject_type, evidence.c.subject_id)
        .subquery()
    )
    statement = select(
        evidence.c.subject_type, evidence.c.subject_id, evidence.c.sequence, evidence.c.record_hash
    ).join(latest, and_(evidence.c.sequence == latest.c.last))
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for row in connection.execute(statement):
        key = (ALIASES.get(row.subject_type, row.subject_type), str(row.subject_id))
        binding = (int(row.sequence), str(row.record_hash))
        if key not in found or found[key][0] < binding[0]:
            found[key] = binding
    return found


def subjects_with_entries(connection: Connection, subject_type: str) -> set[str]:
    """Ids of one bound type that any entry (bound or from before binding) is about."""
    types = [subject_type, *(alias for alias, target in ALIASES.items() if target == subject_type)]
    statement = select(evidence.c.subject_id).where(evidence.c.subject_type.in_(types)).distinct()
    return {str(r[0]) for r in connection.execute(statement)}
