"""Alembic, driven from code: `news-ingest db upgrade` and the SQLite self-upgrade."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

MIGRATIONS = Path(__file__).with_name("migrations")

# Worth waiting for: the server is starting or shutting down (57P03, 57P01), another
# migration holds the lock or a table is busy (55P03); no SQLSTATE at all means the
# connection itself failed (refused, unreachable, closed). Bad credentials, a missing
# database or a failing migration are not waited out.
_RETRY_SQLSTATES = frozenset({"57P01", "57P03", "55P03"})
_TRANSIENT_FATALS = ("starting up", "shutting down", "not yet accepting", "too many clients")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def upgrade_embedded(engine: Engine) -> Engine:
    """Migrate a SQLite database to the newest schema unless it is there; returns `engine`.

    The embedded default migrates itself, called by the entry points that run on it (the
    CLI's commands, `serve`, a worker starting): `news-ingest run seeds/` on a fresh file just
    works. Postgres is left alone, never touched here: it is migrated once by
    `news-ingest db upgrade` (the compose `migrate` service), never by every worker."""
    if engine.dialect.name == "sqlite" and not is_current(engine):
        upgrade(engine)
    return engine


def is_worth_waiting_for(error: DBAPIError) -> bool:
    """Whether `db upgrade --wait` should try again after `error`."""
    if not isinstance(error, OperationalError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is None:
        # A failed connection attempt carries no SQLSTATE. Refused or unreachable is worth
        # waiting for; a FATAL reply (a wrong password, a missing role or database) is not,
        # unless it says the server is still starting or is busy.
        message = str(error.orig)
        return "FATAL:" not in message or any(hint in message for hint in _TRANSIENT_FATALS)
    return sqlstate.startswith("08") or sqlstate in _RETRY_SQLSTATES


def upgrade_when_ready(
    engine: Engine,
    *,
    wait_s: float,
    on_retry: Callable[[OperationalError, float], None] | None = None,
    revision: str = "head",
) -> int:
    """Upgrade, retrying for up to `wait_s` seconds while the database is not reachable yet
    (a container that is still starting) or its locks are taken. A failed attempt left no
    change: each migration runs in its own transaction on Postgres. Returns the attempts."""
    deadline = time.monotonic() + wait_s
    delay = 0.5
    attempts = 0
    while True:
        attempts += 1
        try:
            upgrade(engine, revision)
            return attempts
        except OperationalError as error:
            left = deadline - time.monotonic()
            if not is_worth_waiting_for(error) or left <= 0:
                raise
            delay = min(delay * 2, 5.0, left)
            if on_retry is not None:
                on_retry(error, delay)
            engine.dispose()  # start again on a fresh connection
            time.sleep(delay)
