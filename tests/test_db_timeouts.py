"""One stuck lock holder must not stop all ingestion (issue 20, item 6), on real Postgres.

A separate connection takes the dedup advisory lock and freezes (stays idle inside its
transaction, as a SIGSTOPped or partitioned worker would) while batches are ingested with
short timeouts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

from tests.factories import distinct_article
from tests.polling import wait_for
from worker.resources import resources
from worker.services import jobs as job_service
from worker.services import parts as part_service
from worker.settings import get_settings
from worker.storage.index import DEDUP_LOCK_KEY
from worker.storage.migrate import upgrade_when_ready
from worker.storage.models import IngestJob
from worker.storage.session import ENGINES, get_engine, use_statement_timeout
from worker.tasks import TRANSIENT_FAULTS


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def timeouts(postgres_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Short lock and idle-in-transaction timeouts for the engines made in this test."""
    monkeypatch.setenv("NEWS_INGEST_DB_LOCK_TIMEOUT_S", "0.5")
    monkeypatch.setenv("NEWS_INGEST_DB_IDLE_IN_TRANSACTION_TIMEOUT_S", "300")
    get_settings.cache_clear()
    resources.close(ENGINES)
    yield monkeypatch
    get_settings.cache_clear()
    resources.close(ENGINES)


@pytest.fixture
def frozen_holder(postgres_db: str) -> Iterator[psycopg.Connection]:
    """Another session holding the dedup lock inside an open transaction, doing nothing."""
    holder = psycopg.connect(_psycopg_url(postgres_db))
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (DEDUP_LOCK_KEY,))
    yield holder
    holder.close()


def _articles_job(engine: Engine, count: int) -> tuple[str, int]:
    job_id = job_service.create_job(engine=engine, request={"test": "lock timeout"})
    documents = [{"body": distinct_article(n), "source": "lock-test"} for n in range(count)]
    (part_no,) = job_service.add_article_parts(
        engine=engine, job_id=job_id, documents=documents, batch_size=count
    )
    job_service.seal_job(engine=engine, job_id=job_id)
    return job_id, part_no


def _job_status(engine: Engine, job_id: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(select(IngestJob.status).where(IngestJob.id == job_id)).scalar_one()
        )


class TestStuckDedupLockHolder:
    def test_ingest_times_out_transiently_then_succeeds_after_release(
        self, timeouts: pytest.MonkeyPatch, frozen_holder: psycopg.Connection
    ) -> None:
        """While another session holds the dedup lock, a batch fails with a lock timeout
        (SQLSTATE 55P03) that the tasks retry as a transient fault; once the holder lets go,
        the same part is stored in full."""
        engine = get_engine()
        job_id, part_no = _articles_job(engine, 5)
        with pytest.raises(OperationalError) as raised:
            part_service.run_part(engine=engine, job_id=job_id, part_no=part_no)
        assert getattr(raised.value.orig, "sqlstate", None) == "55P03"
        assert isinstance(raised.value, TRANSIENT_FAULTS)
        assert _job_status(engine, job_id) != "done"

        frozen_holder.rollback()
        summary = part_service.run_part(
            engine=engine, job_id=job_id, part_no=part_no, count_delivery=False
        )
        assert summary is not None
        assert (summary.received, summary.new) == (5, 5)
        assert _job_status(engine, job_id) == "done"

    def test_celery_task_retries_until_the_holder_releases(
        self, timeouts: pytest.MonkeyPatch, frozen_holder: psycopg.Connection, celery_worker
    ) -> None:
        """A queued part whose lock wait times out is retried by the worker (seen as two
        separate waits on the lock) and finishes once the holder releases it."""
        from worker.tasks.jobs import send_part

        engine = get_engine()
        job_id, part_no = _articles_job(engine, 3)
        send_part(job_id, part_no, "articles")
        watcher = psycopg.connect(_psycopg_url(get_settings().database_url), autocommit=True)
        waits: set[object] = set()

        def waited_twice() -> bool:
            rows = watcher.execute(
                "SELECT query_start FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%%pg_advisory_xact_lock%%' AND pid <> pg_backend_pid()"
            ).fetchall()
            waits.update(row[0] for row in rows)
            return len(waits) >= 2

        try:
            wait_for(waited_twice, timeout=60, interval=0.05, what="two lock waits")
            assert _job_status(engine, job_id) != "done"
            frozen_holder.rollback()
            wait_for(lambda: _job_status(engine, job_id) == "done", timeout=60, what="job done")
        finally:
            watcher.close()

    def test_frozen_holder_in_a_worker_session_is_cut_off(
        self, timeouts: pytest.MonkeyPatch, postgres_db: str
    ) -> None:
        """A worker session that took the dedup lock and then froze inside its transaction
        is ended by the server after the idle-in-transaction timeout: its lock goes with it,
        other batches go on, and its own next statement raises a transient fault."""
        timeouts.setenv("NEWS_INGEST_DB_IDLE_IN_TRANSACTION_TIMEOUT_S", "0.5")
        timeouts.setenv("NEWS_INGEST_DB_LOCK_TIMEOUT_S", "30")
        get_settings.cache_clear()
        resources.close(ENGINES)
        engine = get_engine()
        job_id, part_no = _articles_job(engine, 4)
        with engine.connect() as frozen:
            transaction = frozen.begin()
            frozen.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DEDUP_LOCK_KEY})
            # ... and freezes here. Another batch still gets through.
            summary = part_service.run_part(engine=engine, job_id=job_id, part_no=part_no)
            assert summary is not None and summary.new == 4
            with pytest.raises(OperationalError) as raised:
                frozen.execute(text("SELECT 1"))
            assert isinstance(raised.value, TRANSIENT_FAULTS)
            assert raised.value.connection_invalidated
            transaction.rollback()
        with engine.connect() as connection:  # the pool dropped the dead connection
            assert connection.execute(text("SELECT 1")).scalar_one() == 1


class TestSessionSettings:
    def test_worker_sessions_start_with_the_configured_timeouts(
        self, timeouts: pytest.MonkeyPatch
    ) -> None:
        """Every pooled Postgres session carries lock_timeout and
        idle_in_transaction_session_timeout from the settings, and no statement timeout."""
        with get_engine().connect() as connection:
            show = {
                name: connection.execute(text(f"SHOW {name}")).scalar_one()
                for name in (
                    "lock_timeout",
                    "idle_in_transaction_session_timeout",
                    "statement_timeout",
                )
            }
        assert show == {
            "lock_timeout": "500ms",
            "idle_in_transaction_session_timeout": "5min",
            "statement_timeout": "0",
        }

    def test_api_reads_have_a_statement_timeout(self, timeouts: pytest.MonkeyPatch) -> None:
        """After the API sets its statement timeout, a read that runs longer is cancelled
        (SQLSTATE 57014) instead of holding its connection."""
        use_statement_timeout(0.2)
        try:
            with get_engine().connect() as connection, pytest.raises(OperationalError) as raised:
                connection.execute(text("SELECT pg_sleep(5)"))
            assert getattr(raised.value.orig, "sqlstate", None) == "57014"
        finally:
            use_statement_timeout(0.0)

    def test_api_app_sets_the_statement_timeout(self, timeouts: pytest.MonkeyPatch) -> None:
        """`create_app` gives the API's sessions NEWS_INGEST_API_STATEMENT_TIMEOUT_S."""
        from worker.api.app import create_app

        timeouts.setenv("NEWS_INGEST_API_STATEMENT_TIMEOUT_S", "7")
        get_settings.cache_clear()
        try:
            create_app()
            with get_engine().connect() as connection:
                assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "7s"
        finally:
            use_statement_timeout(0.0)


class TestMigrationLocks:
    def test_upgrade_waits_for_the_migration_lock_within_its_bound(
        self, timeouts: pytest.MonkeyPatch, postgres_db: str
    ) -> None:
        """`db upgrade` gives up on another migration's lock after its wait (each attempt's
        lock wait cut off by lock_timeout) and migrates once the lock is free."""
        from worker.storage.session import _create_engine

        holder = psycopg.connect(_psycopg_url(postgres_db), autocommit=True)
        holder.execute("SELECT pg_advisory_lock(7366001)")
        engine = _create_engine(postgres_db)
        retries: list[str | None] = []
        try:
            with pytest.raises(OperationalError) as raised:
                upgrade_when_ready(
                    engine,
                    wait_s=1.5,
                    on_retry=lambda error, _delay: retries.append(
                        getattr(error.orig, "sqlstate", None)
                    ),
                )
            assert getattr(raised.value.orig, "sqlstate", None) == "55P03"
            assert retries and set(retries) == {"55P03"}
            holder.execute("SELECT pg_advisory_unlock(7366001)")
            assert upgrade_when_ready(engine, wait_s=5) == 1
        finally:
            holder.close()
            engine.dispose()

    def test_upgrade_does_not_wait_out_bad_credentials(self, postgres_db: str) -> None:
        """A database that refuses the login fails at once: only unreachable or busy
        databases are waited for."""
        from worker.storage.session import _create_engine

        url = postgres_db.replace("postgres@", f"nobody_{uuid.uuid4().hex[:6]}@", 1)
        engine = _create_engine(url)
        retries: list[object] = []
        try:
            with pytest.raises(OperationalError):
                upgrade_when_ready(
                    engine, wait_s=30, on_retry=lambda error, delay: retries.append(error)
                )
        finally:
            engine.dispose()
        assert retries == []
