"""The one place for database engines and transactions.

Engines are cached per URL and per process; `dispose_after_fork` is called by Celery's
`worker_process_init` so a prefork child never reuses its parent's connections.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from worker.settings import get_settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_upgraded: set[str] = set()


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
    if engine.dialect.name == "sqlite" and url not in _upgraded:
        # The embedded default migrates itself on first use; Postgres is migrated once by
        # `news-ingest db upgrade` (the compose `migrate` service), never by every worker.
        from worker.storage.migrate import is_current, upgrade

        if not is_current(engine):
            upgrade(engine)
        _upgraded.add(url)
    return engine


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
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    )


def _sqlite_on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # let the "begin" hook emit BEGIN IMMEDIATE
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def dispose_after_fork() -> None:
    """Drop inherited pooled connections without closing the parent's sockets."""
    for engine in _engines.values():
        engine.dispose(close=False)


def reset_engines() -> None:
    """Close every engine (tests, and the CLI when it switches databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _upgraded.clear()
