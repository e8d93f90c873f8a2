"""Ingestion jobs: what a caller asks for and the counts it gets back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from schemas.articles import RawArticle


# Where a job, or one of its parts, is: the same four for both, stored as the value. (A
# comment, not a docstring: the docstring would become the JSON Schema's description.)
class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


# A job or part in one of these has no more work coming.
FINISHED_STATUSES = (JobStatus.done, JobStatus.failed)


class IngestSummary(BaseModel):
    """Every input is counted once: received = new + duplicates + near_duplicates + rejected."""

    received: int = 0
    new: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    rejected: int = 0

    def __add__(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(
            **{name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        )


class JobRequest(BaseModel):
    """A request for a job, from the HTTP API or any producer."""

    paths: list[str] = Field(default_factory=list, max_length=10_000)
    feeds: list[str] = Field(default_factory=list, max_length=10_000)
    articles: list[RawArticle] = Field(default_factory=list, max_length=10_000)


class IngestJobPublic(IngestSummary):
    """A job's status and counts, as `news-ingest jobs show --json` prints it."""

    id: str
    status: JobStatus
    parts_total: int
    parts_done: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
