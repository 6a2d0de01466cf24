"""Alembic environment: the engine comes from the caller (``central.db.migrate``), never from a global."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from central.db.schema import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through central.db.migrate.upgrade(engine) or `retail-central db upgrade`")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
