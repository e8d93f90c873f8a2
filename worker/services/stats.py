"""What the store holds and how the ingest is going, read for `news-ingest stats`, the
`events` commands and `GET /metrics`: each a few aggregate statements, returned typed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from schemas import IngestSummary
from worker.storage import feeds as feed_rows
from worker.storage import jobs as job_rows
from worker.storage import stats
from worker.storage.models import utcnow
from worker.storage.stats import (
    CorpusTotals,
    DayCount,
    FailingFeed,
    ReasonCount,
    SourceCount,
)


@dataclass(frozen=True, slots=True)
class CorpusReport:
    """`news-ingest stats`: the corpus, every input counted, and where it came from."""

    totals: CorpusTotals
    ingest: IngestSummary
    per_source: list[SourceCount]
    per_day: list[DayCount]
    rejects_by_reason: list[ReasonCount]


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What `GET /metrics` reports from the database at one scrape."""

    ingest: IngestSummary
    jobs_by_status: dict[str, int]
    oldest_unfinished_job_age_s: float  # 0 when every job is finished
    stalled_parts: int
    feeds_by_status: dict[str, int]
    overdue_feeds: int
    failing_feeds: list[FailingFeed]
    feeds_with_gap: int


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    waiting: int  # events not yet relayed to the stream
    oldest: datetime | None  # when the oldest of them was written (UTC)


def corpus_report(*, engine: Engine, days: int) -> CorpusReport:
    """Totals, inputs by outcome, articles per source and per publication day (the latest
    `days` days that have any), rejects by reason: one connection, one snapshot each."""
    with engine.connect() as connection:
        return CorpusReport(
            totals=stats.corpus_totals(connection=connection),
            ingest=stats.ingest_totals(connection=connection),
            per_source=stats.articles_per_source(connection=connection),
            per_day=stats.articles_per_day(connection=connection, days=days),
            rejects_by_reason=stats.rejects_by_reason(connection=connection),
        )


def store_health(
    *, engine: Engine, stall_after: timedelta, overdue_after: timedelta, gap_window: timedelta
) -> StoreHealth:
    """Job and feed health: parts untouched for `stall_after`, enabled feeds more than
    `overdue_after` past their next fetch, feeds that found a gap within `gap_window`."""
    with engine.connect() as connection:
        oldest = job_rows.oldest_unfinished(connection=connection)
        return StoreHealth(
            ingest=stats.ingest_totals(connection=connection),
            jobs_by_status=stats.jobs_by_status(connection=connection),
            oldest_unfinished_job_age_s=(
                max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
            ),
            stalled_parts=stats.stalled_part_count(connection=connection, older_than=stall_after),
            feeds_by_status=stats.feeds_by_status(connection=connection),
            overdue_feeds=stats.overdue_feed_count(connection=connection, late_by=overdue_after),
            failing_feeds=stats.failing_feeds(connection=connection),
            feeds_with_gap=feed_rows.count_gaps_since(
                connection=connection, since=utcnow() - gap_window
            ),
        )


def outbox_backlog(*, engine: Engine) -> OutboxBacklog:
    """Events waiting in the outbox for the relay, and the age of the oldest."""
    with engine.connect() as connection:
        waiting, oldest = stats.outbox_backlog(connection=connection)
    return OutboxBacklog(waiting=waiting, oldest=oldest)


__all__ = [
    "CorpusReport",
    "CorpusTotals",
    "DayCount",
    "FailingFeed",
    "OutboxBacklog",
    "ReasonCount",
    "SourceCount",
    "StoreHealth",
    "corpus_report",
    "outbox_backlog",
    "store_health",
]
