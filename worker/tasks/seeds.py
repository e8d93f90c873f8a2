"""Ingestion tasks: `ingest.seeds` (a part of seed files) and `ingest.articles` (the event
interface: a list of RawArticle JSON from any producer)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from worker.app import app

# services.parts loads the pipeline (numpy, the text libraries): the worker imports it with
# its tasks, so the pool's children share it from the fork instead of each importing it on
# its first batch.
from worker.services import jobs as job_service
from worker.services.parts import run_part
from worker.settings import get_settings
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS

log = structlog.get_logger(__name__)


@app.task(name="ingest.seeds", bind=True, **TASK_OPTIONS)
def ingest_seeds(self: Any, job_id: str, part_no: int) -> None:
    """Read and store one part of seed files (the paths live in the part's row)."""
    run_part(
        engine=get_engine(), job_id=job_id, part_no=part_no, count_delivery=not self.request.retries
    )


@app.task(name="ingest.articles", bind=True, **TASK_OPTIONS)
def ingest_articles(
    self: Any, articles: Any = None, job_id: str | None = None, part_no: int | None = None
) -> None:
    """Store a batch of RawArticle documents.

    Producers send `articles` alone; the batch then becomes a one-part job whose id derives
    from the message id, so a redelivered message is recognised. Our own producers (CLI,
    API) send `job_id` and `part_no` and leave the documents in the part's row.
    """
    engine = get_engine()
    if job_id is None or part_no is None:
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"news-ingest:message:{self.request.id}"))
        job_service.accept_message(
            engine=engine, job_id=job_id, articles=articles, settings=get_settings()
        )
        part_no = 0
    run_part(engine=engine, job_id=job_id, part_no=part_no, count_delivery=not self.request.retries)
