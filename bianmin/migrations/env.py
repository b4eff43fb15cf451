"""Alembic environment: runs on the connection bianmin hands it (``config.attributes["connection"]``).

bianmin always calls Alembic through :func:`bianmin.db.upgrade_schema` (or ``bianmin db ...``), which opens an
async engine (aiosqlite / asyncpg) and runs the migration through ``connection.run_sync``; so this env never
builds its own engine. SQLite gets ``render_as_batch`` so ALTERs become copy-and-move table rebuilds.
"""
from __future__ import annotations

from alembic import context

from bianmin.db import import_models, metadata

import_models()
connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the plain `alembic` command
    raise RuntimeError("run migrations with `bianmin db upgrade`, which supplies the database connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
