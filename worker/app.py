"""The Celery application (`celery -A worker.app worker|beat`): built here and nothing else.

Every option below answers one of the pitfalls in DESIGN.md; the reason is next to it.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import schedule

from worker.settings import get_settings

# The longest thing a message may wait for once a worker holds it: a batch (hard limit
# below) or a retry countdown (capped at RETRY_BACKOFF_MAX_S). Redis redelivers unacked
# messages after the visibility timeout, so it must exceed both, yet stay short enough that
# a killed worker's batches come back soon; jobs.resume covers lost messages sooner.
BATCH_TIME_LIMIT_S = 600
RETRY_BACKOFF_MAX_S = 300
VISIBILITY_TIMEOUT_S = 1200


def create_app() -> Celery:
    settings = get_settings()
    app = Celery(
        "news-ingest",
        include=[
            "worker.tasks.seeds",
            "worker.tasks.jobs",
            "worker.tasks.events",
            "worker.tasks.sources",
            "worker.tasks.feeds",
            "worker.tasks.retention",
        ],
    )
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        # JSON only: no pickle on the queue, so any producer can speak to us.
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Job status lives in ingest_jobs, not in a result backend.
        task_ignore_result=True,
        # Redelivery after a worker dies; tasks are idempotent (a part is stored once) and a
        # part delivered more than NEWS_INGEST_MAX_TASK_DELIVERIES times gives up.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One batch at a time per process: batches are long, prefetching starves others.
        worker_prefetch_multiplier=1,
        task_time_limit=BATCH_TIME_LIMIT_S,
        task_soft_time_limit=BATCH_TIME_LIMIT_S - 30,
        # On SIGTERM, let the running batch finish (compose gives stop_grace_period: 90s).
        worker_soft_shutdown_timeout=60.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_max_memory_per_child=400_000,  # KiB: recycle a process that grew past this
        worker_hijack_root_logger=False,
        task_default_queue=settings.queue,  # NEWS_INGEST_QUEUE
        task_routes=(
            {"feeds.full_text": {"queue": settings.full_text_queue}}
            if settings.full_text_queue
            else {}
        ),
        beat_schedule={
            "schedule-due-feeds": {
                "task": "feeds.schedule_due",
                "schedule": schedule(30.0),
                "options": {"expires": 60},
            },
            "resume-stalled-jobs": {
                "task": "jobs.resume",
                "schedule": schedule(60.0),
                "options": {"expires": 60},
            },
            # The outbox relay and webhooks; `expires` drops ticks that waited behind long
            # batches instead of letting them pile up (the next tick does the same work).
            "relay-events": {
                "task": "events.relay",
                "schedule": schedule(2.0),
                "options": {"expires": 10},
            },
            "deliver-webhooks": {
                "task": "events.deliver",
                "schedule": schedule(5.0),
                "options": {"expires": 30},
            },
            "scan-due-seed-dirs": {
                "task": "sources.scan_due",
                "schedule": schedule(30.0),
                "options": {"expires": 60},
            },
            "prune-events": {
                "task": "events.prune",
                "schedule": schedule(3600.0),
                "options": {"expires": 3600},
            },
            "prune-expired": {
                "task": "retention.prune",
                "schedule": schedule(3600.0),
                "options": {"expires": 3600},
            },
        },
    )
    return app


app = create_app()
