"""Worker metrics: task and feed-fetch durations, exposed by each worker on
NEWS_INGEST_METRICS_PORT (off when unset).

Why Prometheus multiprocess mode rather than a port per pool process: a prefork worker runs
its tasks in child processes that come and go (`worker_max_memory_per_child` recycles them),
so per-child ports would be a moving set of scrape targets. Instead each child writes its
samples to memory-mapped files in PROMETHEUS_MULTIPROC_DIR, and the worker's main process
serves them all, merged, on one port: one scrape target per worker container, counts that
survive a child's recycling. The directory must be set in the environment before the worker
starts (prometheus-client decides at import time); it is emptied when the worker starts.
Without it (solo or threads pool) the port serves this process's own registry.

Counts of articles, jobs, feeds and the queue are not here: the API's /metrics reads them
from the database and Redis, where they are correct across every process.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import structlog
from celery.signals import (
    celeryd_init,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_ready,
)

from worker.settings import get_settings

log = structlog.get_logger(__name__)

try:  # the `api` extra; without it workers simply record nothing
    import prometheus_client
    from prometheus_client import multiprocess
except ImportError:  # pragma: no cover -- exercised only in images built without the extra
    prometheus_client = None  # type: ignore[assignment]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

if prometheus_client is not None:
    TASK_DURATION = prometheus_client.Histogram(
        "news_ingest_task_duration_seconds",
        "Celery task run time, by task and final state.",
        ["task", "state"],
        buckets=_DURATION_BUCKETS,
    )
    FEED_FETCHES = prometheus_client.Counter(
        "news_ingest_feed_fetches",
        "Feed fetches by result: an HTTP status (200, 304, ...) "
        "or an error kind (timeout, connect, blocked_address, too_large, parse, ...).",
        ["result"],
    )
    FEED_FETCH_DURATION = prometheus_client.Histogram(
        "news_ingest_feed_fetch_duration_seconds",
        "Feed fetch time, by result.",
        ["result"],
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    )

    FEED_GAPS = prometheus_client.Counter(
        "news_ingest_feed_gaps",
        "Feed fetches that saw none of the entries already seen: the feed's window moved "
        "past the last fetch and entries may have been missed (its interval is halved).",
        # A label even with one value: an unlabelled metric opens its multiprocess file at
        # import, before the worker has (re)created PROMETHEUS_MULTIPROC_DIR.
        ["reason"],
    )

_started: dict[str, float] = {}
_started_lock = threading.Lock()


def observe_feed_fetch(*, result: str, seconds: float) -> None:
    """Record one feed fetch; call it where the fetch happens (`result`: "200", "304",
    "timeout", ... -- keep it a small fixed set, it is a label)."""
    if prometheus_client is not None:
        FEED_FETCHES.labels(result=result).inc()
        FEED_FETCH_DURATION.labels(result=result).observe(seconds)


def observe_feed_gap() -> None:
    """Record one fetch that found a gap (see services.feeds._is_gap)."""
    if prometheus_client is not None:
        FEED_GAPS.labels(reason="window_moved").inc()


@celeryd_init.connect
def _empty_multiprocess_dir(**_: Any) -> None:
    """Worker start, before the pool forks: samples of an earlier run must not add up."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not get_settings().metrics_port or not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    port = get_settings().metrics_port
    if not port:
        return
    if prometheus_client is None:
        log.error(
            "NEWS_INGEST_METRICS_PORT is set but prometheus-client is not installed: "
            "pip install 'news-ingest[api]'"
        )
        return
    registry = prometheus_client.REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        log.warning(
            f"{MULTIPROC_ENV} is not set: worker metrics cover the main process only "
            "(fine for the solo and threads pools, not for prefork)"
        )
    prometheus_client.start_http_server(port, registry=registry)
    log.info("worker metrics served", port=port, multiprocess=bool(os.environ.get(MULTIPROC_ENV)))


@task_prerun.connect
def _task_started(task_id: str, **_: Any) -> None:
    with _started_lock:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(
    task_id: str,
    task: Any,
    state: str | None = None,
    kwargs: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    with _started_lock:
        started = _started.pop(task_id, None)
    if started is None:
        return
    seconds = time.perf_counter() - started
    state = state or "UNKNOWN"
    if prometheus_client is not None:
        TASK_DURATION.labels(task=task.name, state=state).observe(seconds)
    # One line per task, carrying the task's bound context (task id, job id, source).
    kwargs = kwargs or {}
    log.info(
        "task finished",
        task_id=task_id,
        task_name=task.name,
        job_id=kwargs.get("job_id"),
        part_no=kwargs.get("part_no"),
        state=state,
        duration_s=round(seconds, 3),
    )


@worker_process_shutdown.connect
def _forget_dead_process(pid: int | None = None, **_: Any) -> None:
    if prometheus_client is not None and os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
