"""Celery tasks by domain: thin wrappers that call the services with one batch each."""

from __future__ import annotations

from celery import Task
from celery.signals import task_postrun, task_prerun, worker_process_init
import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from kombu.exceptions import OperationalError as KombuOperationalError

from worker.app import RETRY_BACKOFF_MAX_S
from worker.storage.session import dispose_after_fork

# Faults that go away by themselves (database or broker restarting): retried with
# exponential backoff and jitter. Bad input is never raised as one of these.
TRANSIENT_FAULTS = (OperationalError, DBAPIError, RedisConnectionError, KombuOperationalError,
                    ConnectionError, TimeoutError)

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": TRANSIENT_FAULTS,
    "retry_backoff": 2,
    "retry_backoff_max": RETRY_BACKOFF_MAX_S,
    "retry_jitter": True,
    "max_retries": 20,
}


@worker_process_init.connect
def _dispose_inherited_connections(**_: object) -> None:
    dispose_after_fork()


@task_prerun.connect
def _bind_task_context(task_id: str, task: Task, kwargs: dict | None = None, **_: object) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        task_id=task_id, task_name=task.name, job_id=(kwargs or {}).get("job_id")
    )


@task_postrun.connect
def _clear_task_context(**_: object) -> None:
    structlog.contextvars.clear_contextvars()
