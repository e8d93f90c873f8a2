"""Celery tasks by domain: thin wrappers that call the services with one batch each."""

from __future__ import annotations

import structlog
from celery import Task
from celery.signals import (
    beat_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from worker import metrics as _metrics  # noqa: F401 -- connects the task-duration signals first
from worker.app import RETRY_BACKOFF_MAX_S
from worker.broker import guard_redis_envelopes
from worker.logs import configure_logging
from worker.redis_policy import EvictingRedisError, check_eviction_policies
from worker.resources import resources
from worker.runtime import prepare_for_batches
from worker.storage.session import get_engine

# Faults that go away by themselves (database or broker restarting): retried with
# exponential backoff and jitter. Bad input is never raised as one of these. IntegrityError:
# a unique constraint caught a race the dedup lock should have prevented; a retry re-reads.
# OperationalError includes a lock wait cut off by NEWS_INGEST_DB_LOCK_TIMEOUT_S (SQLSTATE
# 55P03: another holder of the dedup lock is stuck) and a session the server ended for
# idling in a transaction (25P03, turned into one by worker.storage.session).
TRANSIENT_FAULTS = (
    OperationalError,
    InterfaceError,
    IntegrityError,
    RedisConnectionError,
    KombuOperationalError,
    ConnectionError,
    TimeoutError,
)

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": TRANSIENT_FAULTS,
    "retry_backoff": 2,
    "retry_backoff_max": RETRY_BACKOFF_MAX_S,
    "retry_jitter": True,
    "max_retries": 20,
    # A message of the wrong shape is dropped with its reason instead of stopping the
    # worker (and, requeued, every worker after it).
    "Strategy": "worker.tasks.messages:checked_strategy",
}


@worker_init.connect
def _guard_the_queue(**_: object) -> None:
    # Before the consumer starts: a non-envelope queue item must not stop the worker.
    guard_redis_envelopes()


@worker_init.connect
def _migrate_embedded_database(**_: object) -> None:
    # A worker on SQLite migrates it, once, in the parent before the pool forks; on
    # Postgres nothing (`news-ingest db upgrade` does it).
    from worker.storage.migrate import upgrade_embedded  # noqa: PLC0415 -- see _warn_without_kernel

    upgrade_embedded(get_engine())


@worker_init.connect
def _prepare_for_batches(**_: object) -> None:
    # Sent in the parent once the tasks (and the pipeline) are imported, before the pool
    # forks: the children inherit the frozen objects and the collector's thresholds.
    prepare_for_batches()


@worker_init.connect
@beat_init.connect
def _refuse_evicting_redis(**_: object) -> None:
    # Both write to the broker and the event stream (the relay task runs on workers).
    try:
        check_eviction_policies()
    except EvictingRedisError as error:
        # SystemExit, not an exception: Celery logs and ignores what a signal handler raises.
        raise SystemExit(f"news-ingest: error: {error}") from error


@worker_init.connect
def _warn_without_kernel(**_: object) -> None:
    # Imported in the worker only: every producer that queues a part (`enqueue`, the API)
    # imports this package, and the kernel check (the pipeline, numpy, ftfy) and Alembic
    # cost it 0.17 s and 0.09 s at start (python -X importtime -c 'import worker.tasks.jobs').
    from worker.kernel_check import kernel_warning  # noqa: PLC0415

    warning = kernel_warning()
    if warning:
        structlog.get_logger(__name__).warning(warning)


@worker_process_init.connect
def _drop_inherited_connections(**_: object) -> None:
    resources.after_fork()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_resources(**_: object) -> None:
    # Each pool process, then the main process (the only one with a threads or solo pool).
    resources.close()


@setup_logging.connect
def _configure_worker_logging(loglevel: str | int | None = None, **_: object) -> None:
    # Connected, so Celery leaves logging to us: its own lines (and the prefork children,
    # which inherit this) use the structlog renderer, JSON in production.
    configure_logging(level=loglevel or None)


@task_prerun.connect
def _bind_task_context(
    task_id: str,
    task: Task,
    args: tuple[object, ...] | None = None,
    kwargs: dict[str, object] | None = None,
    **_: object,
) -> None:
    kwargs = kwargs or {}
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        task_id=task_id,
        task_name=task.name,
        job_id=kwargs.get("job_id"),
        source=_message_source(args or (), kwargs),
    )


def _message_source(args: tuple[object, ...], kwargs: dict[str, object]) -> str | None:
    """The source named in the message itself: a feed, or the producer of a bare
    `ingest.articles` batch. Parts of a job name theirs in their row (bound by the service)."""
    for key in ("source", "url", "feed_url", "feed_id"):
        if kwargs.get(key) is not None:
            return str(kwargs[key])
    articles = kwargs.get("articles", args[0] if args else None)
    if isinstance(articles, list):
        names = sorted(
            {
                str(a["source"])[
                    :200
                ]  # a hostile 8,000-character source stays out of every log line
                for a in articles[:1000]
                if isinstance(a, dict) and isinstance(a.get("source"), str)
            }
        )
        return ",".join(names[:3]) + (",..." if len(names) > 3 else "") if names else None
    return None


@task_postrun.connect
def _clear_task_context(**_: object) -> None:
    structlog.contextvars.clear_contextvars()
