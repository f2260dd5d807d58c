"""Record binding: the state hash of each stored record an evidence entry is about (issue 15).

Every entry about a passport, offer, match, transfer, transaction, LoopCoin journal entry
(`ledger`) or clearing round (`clearing_round`) carries `record_hash`, the hash of that row's
state right after the change (computed when the entry is appended, in the same transaction).
`loopnode evidence verify` recomputes the hash of every row and compares it with the latest entry
about it: a row changed, added or deleted in the database without an entry is named. The state
covers every column but `dna_records.offered_micro`, which offers move under their own entries
(and which the offers' own states account for). A settlement is stored in its transaction's row,
so entries about a settlement bind that row too (`ALIASES`). A journal entry's postings are
immutable children of it: its state folds them in (`CHILDREN`), so a changed, added or deleted
posting names its entry. Account balances are not bound to entries (every entry moves them);
`account_problems` checks them against the postings and lots they are derived from instead.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any, Final

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.engine import Connection

from loopnode.adapters.storage.sql.driver import Prebuilt
from loopnode.adapters.storage.tables.core import evidence, records
from loopnode.adapters.storage.tables.ledger import (
    ledger_accounts,
    ledger_clearing_rounds,
    ledger_entries,
    ledger_lots,
    ledger_postings,
    ledger_totals,
)
from loopnode.adapters.storage.tables.lifecycle import matches, offers, transactions, transfers
from loopnode.domain.money import Money

__all__ = [
    "ALIASES",
    "BOUND_SUBJECTS",
    "CHILDREN",
    "LEGACY_SUBJECTS",
    "account_problems",
    "bound_states",
    "current_states",
    "state_hash",
    "states_of",
    "subjects_with_entries",
    "totals_problems",
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
    "ledger": (ledger_entries, None),
    "clearing_round": (ledger_clearing_rounds, None),
}
# Entries about these subject types bind the row of another (same id).
ALIASES: Final[Mapping[str, str]] = {"settlement": "transaction"}
# Child rows folded into their parent's state: subject type -> (child table, its column naming
# the parent, the child columns of the state). A posting never changes after its entry is
# written, so the entry's binding covers it; (entry id, account) is unique, so sorting the
# children by these columns orders them the same way on every database.
CHILDREN: Final[Mapping[str, tuple[Table, Column[Any], tuple[Column[Any], ...]]]] = {
    "ledger": (
        ledger_postings,
        ledger_postings.c.entry_id,
        (ledger_postings.c.account_id, ledger_postings.c.cents, ledger_postings.c.created_us),
    ),
}
# (subject type, event type) of entries filed under another subject type before the bound type
# had one of its own: `clearing.applied` entries were about subject type `ledger` until clearing
# rounds were bound. They carry no record hash; verify counts them as entries about the round
# (so its row is not "without an entry"), never as entries about a journal entry.
LEGACY_SUBJECTS: Final[Mapping[str, tuple[str, str]]] = {
    "clearing_round": ("ledger", "clearing.applied"),
}


def state_hash(values: Sequence[Any]) -> str:
    """sha256 of the row's values in column order (strings, integers, floats, nulls)."""
    return hashlib.sha256(orjson.dumps(list(values))).hexdigest()


def _select(subject_type: str, *, filtered: bool = True) -> tuple[Table, Any]:
    """The rows of one subject type (`filtered`: only those of its kind, where types share a
    table); with children, one row per child (outer join), ordered by the parent's id so that
    each parent's rows arrive together (`_states`)."""
    table, condition = BOUND_SUBJECTS[subject_type]
    statement = select(*_columns(table))
    if subject_type in CHILDREN:
        child, parent, child_columns = CHILDREN[subject_type]
        # Labelled: a child column may share its name with a parent column (`created_us`).
        labelled = [column.label(f"child_{n}") for n, column in enumerate(child_columns)]
        statement = (
            select(*_columns(table), *labelled)
            .select_from(table.outerjoin(child, parent == table.c.id))
            .order_by(table.c.id)
        )
    if condition is not None and filtered:
        statement = statement.where(condition)
    return table, statement


def _states(subject_type: str, rows: Iterable[Sequence[Any]]) -> Iterator[tuple[str, str]]:
    """(id, state hash) of each row (a Row or a plain tuple, in `_select`'s column order); a
    parent's children (consecutive rows) folded in, sorted."""
    at = _ID_AT[subject_type]
    if subject_type not in CHILDREN:
        for row in rows:
            yield row[at], state_hash(tuple(row))
        return
    width = len(_columns(BOUND_SUBJECTS[subject_type][0]))
    for record_id, group in groupby(rows, key=lambda row: row[at]):
        found = list(group)
        children = sorted(tuple(row[width:]) for row in found if row[width] is not None)
        yield record_id, state_hash((*found[0][:width], [list(c) for c in children]))


# Where the id and the kind are among a subject row's columns.
_ID_AT: Final = {
    subject_type: [c.name for c in _columns(table)].index("id")
    for subject_type, (table, _condition) in BOUND_SUBJECTS.items()
}
_KIND_AT: Final = [c.name for c in _columns(records)].index("kind")
# Up to this many ids the read is a statement of its own per count, run at the driver
# (sql/driver.Prebuilt); past it, SQLAlchemy's expanding IN.
_PREBUILT_IDS: Final = 64


# Built once: building a Core statement costs about as much as running it on SQLite, and this
# one runs on every evidence append (docs/performance.md). By id alone, with the kind checked
# here: given `kind = ? AND id IN (?, ?)` SQLite (which keeps no statistics) walks the covering
# kind index, every stored material, instead of the primary key: 77 % of a registration's time
# with 100,000 materials.
_BY_IDS: Final = {
    subject_type: _select(subject_type, filtered=False)[1].where(
        BOUND_SUBJECTS[subject_type][0].c.id.in_(bindparam("ids", expanding=True))
    )
    for subject_type in BOUND_SUBJECTS
}


@functools.lru_cache(maxsize=len(BOUND_SUBJECTS) * _PREBUILT_IDS)
def _by_count(subject_type: str, count: int) -> Prebuilt:
    """The read of `count` ids of one subject type, with a placeholder per id."""
    table = BOUND_SUBJECTS[subject_type][0]
    wanted: list[Any] = [bindparam(f"id_{n}") for n in range(count)]
    return Prebuilt(_select(subject_type, filtered=False)[1].where(table.c.id.in_(wanted)))


def _rows_by_ids(
    connection: Connection, subject_type: str, ids: list[str]
) -> Iterable[Sequence[Any]]:
    if len(ids) > _PREBUILT_IDS:
        return connection.execute(_BY_IDS[subject_type], {"ids": ids})
    read = _by_count(subject_type, len(ids))
    return read.all(connection, {f"id_{n}": value for n, value in enumerate(ids)})


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
        # Passports share one table; their subject type is their `kind`.
        kind = subject_type if BOUND_SUBJECTS[subject_type][0] is records else None
        found = _rows_by_ids(connection, subject_type, sorted(ids))
        matching = (row for row in found if kind is None or row[_KIND_AT] == kind)
        for record_id, state in _states(subject_type, matching):
            rows[(subject_type, record_id)] = state
    return {
        (t, i): rows[(ALIASES.get(t, t), i)] for t, i in asked if (ALIASES.get(t, t), i) in rows
    }


def current_states(connection: Connection, subject_type: str) -> Iterator[tuple[str, str]]:
    """(id, state hash) of every stored row of one bound subject type."""
    _table, statement = _select(subject_type)
    yield from _states(
        subject_type, connection.execute(statement.execution_options(yield_per=1000))
    )


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
    about: ColumnElement[bool] = evidence.c.subject_type.in_(types)
    if subject_type in LEGACY_SUBJECTS:
        about = or_(about, _legacy(*LEGACY_SUBJECTS[subject_type]))
    for filed_under, event_type in LEGACY_SUBJECTS.values():
        if filed_under == subject_type:  # those entries are about another type's rows
            about = and_(about, not_(_legacy(filed_under, event_type)))
    statement = select(evidence.c.subject_id).where(about).distinct()
    return {str(r[0]) for r in connection.execute(statement)}


def _legacy(subject_type: str, event_type: str) -> ColumnElement[bool]:
    return and_(evidence.c.subject_type == subject_type, evidence.c.event_type == event_type)


def account_problems(connection: Connection) -> list[tuple[str, str, str]]:
    """("account", id, problem) for each LoopCoin account whose stored balance is not the sum of
    its postings or not the sum of its lots.

    Accounts are not bound to entries: every journal entry and every decay changes them, and
    binding them would take an entry per account touched. Their balance needs no entry of its
    own, though: the ledger only ever changes a balance by writing postings for the change in the
    same transaction (services/ledger/book.py: decay residues as a `decay` entry, every other
    move as its entry's net postings), and the balance is the sum of the account's lots. The
    postings are bound through their entries, so a balance or lot total changed in the database
    shows up here.
    """
    posted = _sums(connection, ledger_postings)
    held = _sums(connection, ledger_lots)
    problems: list[tuple[str, str, str]] = []
    statement = select(ledger_accounts.c.id, ledger_accounts.c.balance_cents)
    for row in connection.execute(statement.execution_options(yield_per=1000)):
        balance = Money(int(row.balance_cents))
        postings, lots = Money(posted.get(row.id, 0)), Money(held.get(row.id, 0))
        if balance != postings:
            problems.append(
                (
                    "account",
                    row.id,
                    f"its balance {balance} is not the sum of its postings {postings}",
                )
            )
        elif balance != lots:
            problems.append(
                ("account", row.id, f"its balance {balance} is not the sum of its lots {lots}")
            )
    return problems


def totals_problems(connection: Connection) -> list[tuple[str, str, str]]:
    """("ledger_totals", field, problem) where the node's issued or redeemed total is not what its
    journal entries minted or burnt: an issue entry mints its amount and a redeem entry burns it
    (`minted_cents` + and −; every other kind moves coins without minting), always in the
    transaction that moves the total (services/ledger/service.py)."""
    row = connection.execute(
        select(ledger_totals.c.issued_cents, ledger_totals.c.redeemed_cents)
    ).first()
    if row is None:
        return []
    statement = (
        select(ledger_entries.c.kind, func.sum(ledger_entries.c.minted_cents))
        .where(ledger_entries.c.kind.in_(("issue", "redeem")))
        .group_by(ledger_entries.c.kind)
    )
    minted = {str(r[0]): int(r[1]) for r in connection.execute(statement)}
    expected = {"issued": minted.get("issue", 0), "redeemed": -minted.get("redeem", 0)}
    stored = {"issued": int(row.issued_cents), "redeemed": int(row.redeemed_cents)}
    return [
        (
            "ledger_totals",
            field,
            f"{field} {Money(stored[field])} is not what the {kind} entries moved "
            f"{Money(expected[field])}",
        )
        for field, kind in (("issued", "issue"), ("redeemed", "redeem"))
        if stored[field] != expected[field]
    ]


def _sums(connection: Connection, table: Table) -> dict[str, int]:
    statement = select(table.c.account_id, func.sum(table.c.cents)).group_by(table.c.account_id)
    # int(): PostgreSQL sums BIGINT as NUMERIC (a Decimal here).
    return {str(r[0]): int(r[1]) for r in connection.execute(statement)}
