"""Evidence hash version 3, redaction tombstones, witnessed checkpoints (issue 15, audit).

Revision ID: 0014_evidence
Revises: 0001
Create Date: 2026-12-06

A branch of its own from 0001; `upgrade heads` runs all branches.

Existing chains stay valid: every row present before this revision gets `hash_version` 2 (the
server default), and version-2 entries are verified with the version-2 hash, unchanged; new
entries are written with version 3 (content commitment and record binding, domain/evidence.py).
The update guard is replaced by one that lets exactly one change through: turning a version-3
entry into its tombstone (actor, summary and salt dropped, every hashed column kept, the
redacting entry and the reason set, once). Deletes stay refused. The witnessed checkpoints and
the findings about them are append-only as well.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_evidence"
down_revision = "0001"
branch_labels = None
depends_on = None

REDACTED_ACTOR = "[redacted]"
KEPT = (
    "sequence",
    "event_id",
    "node_id",
    "event_type",
    "subject_type",
    "subject_id",
    "payload_hash",
    "prev_hash",
    "entry_hash",
    "recorded_us",
    "hash_version",
    "content_hash",
    "record_hash",
)
# The one update allowed: a first redaction of a version-3 entry that keeps every hashed column.
TOMBSTONE = " AND ".join(
    [
        "OLD.hash_version >= 3",
        "OLD.redacted_by IS NULL",
        "NEW.redacted_by IS NOT NULL",
        "NEW.redaction_reason IS NOT NULL",
        f"NEW.actor = '{REDACTED_ACTOR}'",
        "NEW.summary IS NULL",
        "NEW.content_salt IS NULL",
    ]
    + [f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in KEPT]
)
SQLITE_TOMBSTONE = TOMBSTONE.replace("IS NOT DISTINCT FROM", "IS")

SQLITE_GUARD = [
    "DROP TRIGGER evidence_no_update",
    "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
    f"WHEN NOT ({SQLITE_TOMBSTONE}) "
    "BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END",
]
POSTGRES_GUARD = [
    "CREATE FUNCTION loopnode_evidence_guard() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN IF TG_OP = 'UPDATE' AND {TOMBSTONE} THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'evidence is append-only'; END $$",
    "DROP TRIGGER evidence_no_update ON evidence",
    "CREATE TRIGGER evidence_no_update BEFORE UPDATE OR DELETE ON evidence "
    "FOR EACH ROW EXECUTE FUNCTION loopnode_evidence_guard()",
]
APPEND_ONLY_TABLES = ("evidence_witnessed", "evidence_witness_findings")


def _append_only(table: str, sqlite: bool) -> list[str]:
    if sqlite:
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'witnessed checkpoints are append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'witnessed checkpoints are append-only'); END",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION loopnode_append_only()",
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Plain ADD COLUMNs (no batch mode): SQLite keeps the table, its triggers and its rows.
    op.add_column(
        "evidence", sa.Column("hash_version", sa.Integer, nullable=False, server_default="2")
    )
    op.add_column("evidence", sa.Column("content_salt", sa.String(32)))
    op.add_column("evidence", sa.Column("content_hash", sa.String(64)))
    op.add_column("evidence", sa.Column("record_hash", sa.String(64)))
    op.add_column("evidence", sa.Column("redacted_by", sa.BigInteger))
    op.add_column("evidence", sa.Column("redaction_reason", sa.Text))
    for statement in SQLITE_GUARD if sqlite else POSTGRES_GUARD:
        op.execute(statement)

    op.create_table(
        "evidence_witnessed",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("peer_node_id", sa.String(128), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("issued_us", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(160), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_witnessed"),
    )
    op.create_index(
        "ix_evidence_witnessed_peer_node_id_sequence",
        "evidence_witnessed",
        ["peer_node_id", "sequence"],
    )
    op.create_table(
        "evidence_witness_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("peer_node_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("held_hash", sa.String(64), nullable=False),
        sa.Column("answered_hash", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("found_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_witness_findings"),
        sa.CheckConstraint(
            "kind IN ('equivocation', 'rewritten', 'rolled_back')",
            name="ck_evidence_witness_findings_kind",
        ),
    )
    for table in APPEND_ONLY_TABLES:
        for statement in _append_only(table, sqlite):
            op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY_TABLES:
        op.drop_table(table)  # its triggers go with it
    if sqlite:
        op.execute("DROP TRIGGER evidence_no_update")
        op.execute(
            "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
            "BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END"
        )
    else:
        op.execute("DROP TRIGGER evidence_no_update ON evidence")
        op.execute("DROP FUNCTION loopnode_evidence_guard()")
        op.execute(
            "CREATE TRIGGER evidence_no_update BEFORE UPDATE OR DELETE ON evidence "
            "FOR EACH ROW EXECUTE FUNCTION loopnode_append_only()"
        )
    for column in (
        "redaction_reason",
        "redacted_by",
        "record_hash",
        "content_hash",
        "content_salt",
        "hash_version",
    ):
        # SQLite (3.35+) drops a column in place unless something refers to it; the guard above
        # no longer does.
        op.drop_column("evidence", column)
