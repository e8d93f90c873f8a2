"""Alembic environment: the engine comes from `worker.storage.migrate`, not from an ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from worker.settings import get_settings
from worker.storage.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: use the configured DATABASE_URL
    from worker.storage.session import engine_for_migration

    engine = engine_for_migration(get_settings().database_url)

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Two `migrate` containers started at once must not both run the DDL.
        connection.execute(text("SELECT pg_advisory_lock(7366001)"))
        # DDL waits at most this long for a table lock, then fails (`db upgrade` retries):
        # queued behind a long transaction, an ALTER TABLE would block every query after it.
        lock_timeout_ms = round(get_settings().migration_lock_timeout_s * 1000)
        connection.execute(text(f"SET lock_timeout = {lock_timeout_ms}"))
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_unlock(7366001)"))
        connection.execute(text("RESET lock_timeout"))
        connection.commit()
