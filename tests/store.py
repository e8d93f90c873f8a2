"""Putting articles in the store through the real ingest path, in the test process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from schemas import IngestSummary


def store_articles(engine: Engine, documents: list[dict[str, Any]]) -> IngestSummary:
    """Ingest RawArticle documents as one job, now (what `news-ingest run` does for seeds)."""
    from worker.services import jobs as job_service
    from worker.services import parts as part_service

    summary = IngestSummary()
    job_id = job_service.create_job(engine=engine, request={"test": True})

    def run_now(job: str, part_no: int, _kind: str) -> None:
        nonlocal summary
        done = part_service.run_part(engine=engine, job_id=job, part_no=part_no)
        if done is not None:
            summary += done

    job_service.add_article_parts(
        engine=engine, job_id=job_id, documents=documents, batch_size=100, send_part=run_now
    )
    job_service.seal_job(engine=engine, job_id=job_id)
    return summary
