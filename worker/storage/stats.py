"""Aggregate reads for metrics: totals over jobs, feed health, stalled work.

Each is one indexed or aggregate statement; the metrics collector runs them per scrape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from schemas import IngestSummary
from worker.storage.models import IngestJob, IngestJobPart, Source, table_of, utcnow

jobs = table_of(IngestJob)
parts = table_of(IngestJobPart)
sources = table_of(Source)


@dataclass(frozen=True, slots=True)
class FailingFeed:
    url: str
    error_count: int
    last_error: str | None
    last_fetched_at: datetime | None


def ingest_totals(*, connection: Connection) -> IngestSummary:
    """Every input ever counted, summed over all jobs (a part adds its counts to its job in
    the transaction that stores it, so this is exact across all workers)."""
    fields = tuple(IngestSummary.model_fields)
    row = connection.execute(
        select(*(func.coalesce(func.sum(jobs.c[name]), 0) for name in fields))
    ).one()
    return IngestSummary(**dict(zip(fields, (int(value) for value in row), strict=True)))


def jobs_by_status(*, connection: Connection) -> dict[str, int]:
    query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    return {status: count for status, count in connection.execute(query)}  # noqa: C416 -- a Result has keys(): dict() would read it as a mapping


def stalled_part_count(*, connection: Connection, older_than: timedelta) -> int:
    """Parts queued or running that nobody has touched for `older_than`: lost or stuck."""
    touched = func.coalesce(parts.c.started_at, parts.c.enqueued_at)
    return connection.execute(
        select(func.count())
        .select_from(parts)
        .where(parts.c.status.in_(("queued", "running")), touched < utcnow() - older_than)
    ).scalar_one()


def feeds_by_status(*, connection: Connection) -> dict[str, int]:
    """Registered feeds by status (active, error, gone, removed)."""
    query = (
        select(sources.c.status, func.count())
        .where(sources.c.kind == "feed")
        .group_by(sources.c.status)
    )
    return {status: count for status, count in connection.execute(query)}  # noqa: C416 -- a Result has keys(): dict() would read it as a mapping


def overdue_feed_count(*, connection: Connection, late_by: timedelta) -> int:
    """Enabled feeds whose next fetch is more than `late_by` in the past: beat or the
    workers are not keeping up."""
    return connection.execute(
        select(func.count())
        .select_from(sources)
        .where(
            sources.c.kind == "feed",
            sources.c.enabled.is_(True),
            sources.c.next_fetch_at < utcnow() - late_by,
        )
    ).scalar_one()


def failing_feeds(*, connection: Connection, limit: int = 200) -> list[FailingFeed]:
    """Enabled feeds whose last fetches failed, worst first (bounded: one metric series
    each; a feed that answered 410 Gone is disabled and counted by status instead)."""
    query = (
        select(
            sources.c.name, sources.c.error_count, sources.c.last_error, sources.c.last_fetched_at
        )
        .where(sources.c.kind == "feed", sources.c.enabled.is_(True), sources.c.error_count > 0)
        .order_by(sources.c.error_count.desc(), sources.c.id)
        .limit(limit)
    )
    return [FailingFeed(*row) for row in connection.execute(query)]
