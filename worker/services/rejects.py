"""What could not be ingested, and why: the rejects a person lists (`news-ingest rejects`,
`GET /rejects`) and the warnings shown after a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.storage import rejects as reject_rows
from worker.storage.rejects import RejectRow


@dataclass(frozen=True, slots=True)
class ArticleWarnings:
    """An article a job stored with something a person should fix (an unreadable date)."""

    location: str | None
    warnings: list[str]


def list_rejects(
    *,
    engine: Engine,
    job_id: str | None = None,
    since: datetime | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[RejectRow]:
    """Rejects in the order they were recorded (ids above `after_id`), optionally of one
    job or since a time."""
    with engine.connect() as connection:
        return reject_rows.list_rejects(
            connection=connection, job_id=job_id, since=since, after_id=after_id, limit=limit
        )


def job_article_warnings(*, engine: Engine, job_id: str) -> list[ArticleWarnings]:
    """The articles a job saw that were stored with warnings, in the order seen."""
    with engine.connect() as connection:
        found = reject_rows.job_article_warnings(connection=connection, job_id=job_id)
    return [ArticleWarnings(location, warnings) for location, warnings in found]


__all__ = ["ArticleWarnings", "RejectRow", "job_article_warnings", "list_rejects"]
