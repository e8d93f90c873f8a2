"""The one place for database engines and transactions.

Engines live in the process's registry (`worker.resources`), one per URL and statement
limit; Celery's `worker_process_init` runs its `after_fork`, so a prefork child never
reuses its parent's connections. An engine never changes the schema: the entry points that
run on SQLite migrate it (`worker.storage.migrate.upgrade_embedded`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from worker.resources import Kind, resources
from worker.settings import Settings, get_settings

# The server ended the session: idle in a transaction too long (25P03), idle too long
# (57P05). Its transaction is gone with its locks; a retry on a new connection is safe.
SESSION_ENDED_SQLSTATES = frozenset({"25P03", "57P05"})

# dispose(close=False) in a forked child: a new pool, the parent's sockets left open for it.
ENGINES: Kind[Engine] = Kind(
    "engine", close=Engine.dispose, after_fork=lambda engine: engine.dispose(close=False)
)


@dataclass(slots=True)
class EngineDefaults:
    """What this process's engines are made with beyond the settings: the HTTP API gives
    its Postgres statements a time limit (`use_statement_timeout`)."""

    statement_timeout_s: float = 0.0


# Held by the registry, not a module global: closing the registry forgets it with the
# engines made with it. Survives a fork (the child of an API process is still the API).
ENGINE_DEFAULTS: Kind[EngineDefaults] = Kind(
    "engine defaults", close=lambda _: None, after_fork=lambda _: None
)


def _defaults() -> EngineDefaults:
    return resources.get(ENGINE_DEFAULTS, None, EngineDefaults)


def get_engine(url: str | None = None) -> Engine:
    """This process's engine for `url` (default: the configured database)."""
    url = url or get_settings().database_url
    timeout_s = _defaults().statement_timeout_s
    return resources.get(ENGINES, (url, timeout_s), lambda: _create_engine(url))


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # Never created: a mistyped path must not silently become a new, empty store.
            directory = os.path.dirname(os.path.abspath(parsed.database))
            if not os.path.isdir(directory):
                raise ArgumentError(f"no directory {directory} for the SQLite database {url}")
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_on_connect)
        # Every transaction takes the write lock up front, so the dedup lookups and the
        # inserts that follow them see one consistent database (no lost races).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # connect_timeout and TCP keepalives: a database that drops packets (rather than
    # refusing) fails fast and is retried, instead of hanging a batch until its time limit.
    connect_args: dict[str, object] = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    options = " ".join(
        part
        for part in (parsed.query.get("options"), postgres_options(get_settings()))
        if isinstance(part, str) and part
    )
    if options:
        connect_args["options"] = options
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )
    event.listen(engine, "handle_error", _session_ended_is_transient)
    return engine


def postgres_options(settings: Settings) -> str:
    """Startup options of every Postgres session: lock and idle-in-transaction timeouts,
    so one frozen lock holder (a paused VM, a SIGSTOPped worker, a network split) is cut
    off and the others go on, and a statement timeout in the API."""
    timeouts = {
        "lock_timeout": settings.db_lock_timeout_s,
        "idle_in_transaction_session_timeout": settings.db_idle_in_transaction_timeout_s,
        "statement_timeout": _defaults().statement_timeout_s,
    }
    return " ".join(
        f"-c {name}={round(seconds * 1000)}" for name, seconds in timeouts.items() if seconds > 0
    )


def use_statement_timeout(seconds: float) -> None:
    """Give every Postgres statement of this process (the HTTP API) a time limit; engines
    made before are closed, so new connections start with it."""
    defaults = _defaults()
    if seconds != defaults.statement_timeout_s:
        defaults.statement_timeout_s = seconds
        resources.close(ENGINES)


def _session_ended_is_transient(context: ExceptionContext) -> OperationalError | None:
    """A session the server ended for idling in a transaction raises psycopg's
    InternalError; make it the OperationalError (a transient fault, retried) it is for us,
    and drop the dead connection from the pool."""
    sqlstate = getattr(context.original_exception, "sqlstate", None)
    if sqlstate not in SESSION_ENDED_SQLSTATES:
        return None
    context.is_disconnect = True
    return OperationalError(
        context.statement,
        context.parameters,
        context.original_exception,
        connection_invalidated=True,
    )


def _sqlite_on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # let the "begin" hook emit BEGIN IMMEDIATE
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def engine_for_migration(url: str | None = None) -> Engine:
    """A new engine of its own for `news-ingest db upgrade`: not cached and never
    self-upgraded (the migration is what it is for); the caller disposes of it."""
    return _create_engine(url or get_settings().database_url)
