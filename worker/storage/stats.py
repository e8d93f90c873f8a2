"""Aggregate reads for metrics and `news-ingest stats`: totals over jobs, feed health,
stalled work, and what the corpus holds (per source, per day, rejects by reason).

Each is one indexed or aggregate statement; the metrics collector runs them per scrape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from schemas import IngestSummary, JobStatus
from worker.storage.models import (
    Article,
    IngestJob,
    IngestJobPart,
    OutboxEvent,
    Reject,
    Sighting,
    Source,
    table_of,
    utcnow,
)

jobs = table_of(IngestJob)
parts = table_of(IngestJobPart)
sources = table_of(Source)
articles = table_of(Article)
sightings = table_of(Sighting)
rejects = table_of(Reject)


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
        .where(
            parts.c.status.in_((JobStatus.queued, JobStatus.running)),
            touched < utcnow() - older_than,
        )
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


@dataclass(frozen=True, slots=True)
class CorpusTotals:
    articles: int
    stories: int
    near_copies: int  # articles stored as a near copy in an earlier story
    sightings: int


def corpus_totals(*, connection: Connection) -> CorpusTotals:
    row = connection.execute(
        select(
            func.count(articles.c.id),
            func.count(articles.c.story_id.distinct()),
            func.count(articles.c.duplicate_of),
        )
    ).one()
    seen = connection.execute(select(func.count()).select_from(sightings)).scalar_one()
    return CorpusTotals(int(row[0]), int(row[1]), int(row[2]), int(seen))


@dataclass(frozen=True, slots=True)
class SourceCount:
    source: str
    kind: str
    articles: int  # distinct articles seen from it


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str | None  # YYYY-MM-DD (UTC); None for the articles without a date
    articles: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    count: int


def articles_per_source(*, connection: Connection, limit: int = 20) -> list[SourceCount]:
    """Sources by the number of distinct articles seen from them, most first."""
    count = func.count(sightings.c.article_id.distinct()).label("articles")
    query = (
        select(sources.c.name, sources.c.kind, count)
        .select_from(sightings.join(sources, sources.c.id == sightings.c.source_id))
        .group_by(sources.c.id, sources.c.name, sources.c.kind)
        .order_by(count.desc(), sources.c.name)
        .limit(limit)
    )
    return [SourceCount(name, kind, int(n)) for name, kind, n in connection.execute(query)]


def articles_per_day(*, connection: Connection, days: int = 30) -> list[DayCount]:
    """Articles by publication day (UTC), the latest `days` days that have any, oldest
    first; articles without a date are counted under `None`."""
    published: ColumnElement[Any] = articles.c.published_at
    if connection.dialect.name == "postgresql":  # the day in UTC, whatever the session's zone
        published = func.timezone("UTC", published)
    day = func.date(published).label("day")
    query = (
        select(day, func.count().label("n"))
        .group_by(day)
        .order_by(day.desc().nulls_last())
        .limit(days + 1)
    )
    rows = [(_day(value), int(n)) for value, n in connection.execute(query)]
    dated = sorted((d, n) for d, n in rows if d is not None)[-days:]
    undated = [n for d, n in rows if d is None]
    result = [DayCount(d, n) for d, n in dated]
    if undated:
        result.append(DayCount(None, undated[0]))
    return result


def rejects_by_reason(*, connection: Connection, limit: int = 20) -> list[ReasonCount]:
    count = func.count().label("n")
    query = (
        select(rejects.c.reason, count)
        .group_by(rejects.c.reason)
        .order_by(count.desc(), rejects.c.reason)
        .limit(limit)
    )
    return [ReasonCount(reason, int(n)) for reason, n in connection.execute(query)]


def _day(value: object) -> str | None:
    # date() gives a date on Postgres and text on SQLite.
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def outbox_backlog(*, connection: Connection) -> tuple[int, datetime | None]:
    """Events not yet relayed to the stream, and when the oldest of them was written."""
    outbox = table_of(OutboxEvent)
    count, oldest = connection.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
    ).one()
    if isinstance(oldest, str):  # SQLite gives text for an aggregate over a UTC column
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest
