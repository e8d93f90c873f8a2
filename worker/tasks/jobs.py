"""Job upkeep: `jobs.resume` re-enqueues parts whose messages were lost (beat, every minute)."""

from __future__ import annotations

from worker.app import app
from worker.services import jobs as job_service
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS


def send_part(job_id: str, part_no: int, kind: str) -> None:
    """Queue one part of a job; call it only after the part's row is committed."""
    task = {"seeds": "ingest.seeds", "articles": "ingest.articles"}[kind]
    app.send_task(task, kwargs={"job_id": job_id, "part_no": part_no})


@app.task(name="jobs.resume", **TASK_OPTIONS)
def resume_jobs(job_id: str | None = None) -> int:
    return job_service.resume_stalled(engine=get_engine(), send_part=send_part, job_id=job_id)
