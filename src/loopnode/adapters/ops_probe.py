"""What `/ready` and `/metrics` read from the database: reachability, schema version, queues.

Read-only SQL over the tables other features own, written so that a table that does not exist
(yet, or any more after a refactoring) is simply skipped: `OUTBOXES` names each durable outbox
with the statuses that mean "waiting" and "given up".
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from loopnode.adapters.storage.migrate import alembic_config
from loopnode.services.ops import QueueFacts


@dataclass(frozen=True, slots=True)
class Outbox:
    table: str
    waiting: str
    dead: str


OUTBOXES = (
    Outbox("fed_outbox", "pending", "dead"),
    Outbox("coredp_outbox", "pending", "failed"),
)


class OpsProbe:
    """Database facts for health checks and gauges (each call is one short read transaction)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tables: set[str] | None = None
        self._heads = frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())

    def _present(self) -> set[str]:
        if self._tables is None:
            self._tables = set(inspect(self._engine).get_table_names())
        return self._tables

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def missing_migrations(self) -> list[str]:
        """Revisions the code has but the database lacks (empty when current)."""
        with self._engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        return sorted(self._heads - current)

    def evidence_length(self) -> int:
        with self._engine.connect() as connection:
            found = connection.execute(text("SELECT sequence FROM evidence_head")).scalar()
        return int(found or 0)

    def outboxes(self) -> dict[str, QueueFacts]:
        states: dict[str, QueueFacts] = {}
        present = self._present()
        with self._engine.connect() as connection:
            for box in OUTBOXES:
                if box.table not in present:
                    continue
                row = connection.execute(
                    text(
                        f"SELECT SUM(CASE WHEN status = :waiting THEN 1 ELSE 0 END), "
                        f"SUM(CASE WHEN status = :dead THEN 1 ELSE 0 END), "
                        f"MIN(CASE WHEN status = :waiting THEN next_attempt_us END) "
                        f"FROM {box.table}"
                    ),
                    {"waiting": box.waiting, "dead": box.dead},
                ).one()
                states[box.table] = QueueFacts(int(row[0] or 0), int(row[1] or 0), row[2])
        return states
