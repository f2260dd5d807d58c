"""Alembic environment: always run on the connection `loopnode` hands in."""

from __future__ import annotations

from alembic import context

from loopnode.adapters.storage.tables.core import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic entry point is supported
    raise RuntimeError("run migrations through `loopnode.adapters.storage.migrate`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
