"""Shared fixtures: real Postgres, real SQLite, real Redis, a real Celery worker.

Postgres: one scratch database per test session, migrated once with Alembic; tables are
truncated after each test that used it. Redis: database 15 of the local server, flushed
per test that uses it. Nothing here mocks our database or our queue.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Before anything imports worker.app: the test broker and the private-network opt-in (the
# local HTTP server is on 127.0.0.1).
os.environ["BROKER_URL"] = TEST_REDIS_URL
os.environ["NEWS_INGEST_ALLOW_PRIVATE_NETWORKS"] = "1"
os.environ.setdefault("NEWS_INGEST_LOG_FORMAT", "console")
# Feed tests link entries to hosts that do not exist: no article page is fetched unless a
# test asks (tests/test_full_text.py sets the mode it tests).
os.environ.setdefault("NEWS_INGEST_FULL_TEXT", "never")


@pytest.fixture(autouse=True, scope="session")
def _logs_to_stderr() -> None:
    """Log as the CLI does (to stderr), so log lines never mix with a command's stdout."""
    from worker.logs import configure_logging

    configure_logging()


SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A freshly created and migrated Postgres database for this test session."""
    from sqlalchemy import create_engine, text

    from worker.storage.migrate import upgrade

    name = f"news_ingest_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    from worker.resources import resources

    resources.close()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    from sqlalchemy import create_engine, text

    from worker.storage.models import Base

    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def postgres_db(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL pointing at the session's Postgres database, emptied after the test."""
    from worker.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield pg_url
    get_settings.cache_clear()
    _truncate(pg_url)


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL pointing at a new, migrated SQLite file."""
    from worker.settings import get_settings
    from worker.storage.migrate import upgrade_embedded
    from worker.storage.session import get_engine

    url = f"sqlite:///{tmp_path / 'news.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade_embedded(get_engine(url))  # as every entry point on SQLite does
    yield url
    get_settings.cache_clear()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on Postgres."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def engine(database: str):  # type: ignore[no-untyped-def]
    from worker.storage.session import get_engine

    return get_engine(database)


@pytest.fixture
def redis_client() -> Iterator[object]:
    """The test Redis database, flushed before and after."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def celery_worker(postgres_db: str, redis_client: object) -> Iterator[object]:
    """A real Celery worker (threads pool, 2 slots) consuming from the test Redis."""
    from celery.contrib.testing.worker import start_worker

    from worker.app import app

    app.conf.broker_url = TEST_REDIS_URL
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        shutdown_timeout=30.0,
        loglevel="WARNING",
    ) as worker:
        yield worker


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A directory with a copy of the sample seeds."""
    target = tmp_path / "seeds"
    target.mkdir()
    for path in SEEDS.glob("*.txt"):
        (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture(autouse=True)
def _fresh_resources() -> Iterator[None]:
    """Every test starts a fresh process as far as resources go: the registry (engines, the
    API's statement timeout, HTTP clients, host gates) is closed after it, and 127.0.0.1 is
    a host nobody asked yet (the gates' Redis keys of earlier tests would hold its
    requests)."""
    yield
    import redis

    from worker.resources import resources

    resources.close()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        keys = list(client.scan_iter("news-ingest:host:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # tests without Redis
    finally:
        client.close()
