"""Job upkeep: `jobs.resume` re-enqueues parts whose messages were lost (beat, every minute)."""

from __future__ import annotations

import time

import structlog
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from worker.app import app
from worker.services import jobs as job_service
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS

log = structlog.get_logger(__name__)

# After a failed send, parts are not offered to the broker for this long: a producer with
# thousands of parts must not wait out the publish retries once per part.
BROKER_DOWN_SKIP_S = 5.0
_broker_down_until = 0.0


def send_part(job_id: str, part_no: int, kind: str) -> None:
    """Queue one part of a job; call it only after the part's row is committed.

    Returns without raising when the broker is unreachable: the part stays
    committed and unqueued, and `jobs.resume` queues it once the broker is back. Raising
    here would stop the producer mid-scan and leave the job sealed without its later parts.
    """
    global _broker_down_until
    task = {
        "seeds": "ingest.seeds",
        "articles": "ingest.articles",
        "feed": "feeds.fetch",
        "full_text": "feeds.full_text",
    }[kind]
    if time.monotonic() < _broker_down_until:
        return
    try:
        app.send_task(task, kwargs={"job_id": job_id, "part_no": part_no})
    except (KombuOperationalError, RedisError, OSError) as error:
        _broker_down_until = time.monotonic() + BROKER_DOWN_SKIP_S
        log.warning(
            "broker unavailable: jobs.resume will queue the job's parts",
            job_id=job_id,
            part_no=part_no,
            error=f"{type(error).__name__}: {error}",
        )


@app.task(name="jobs.resume", **TASK_OPTIONS)
def resume_jobs(job_id: str | None = None) -> int:
    return job_service.resume_stalled(engine=get_engine(), send_part=send_part, job_id=job_id)
