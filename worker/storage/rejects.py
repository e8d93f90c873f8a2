"""The `rejects` table: what could not be ingested, where it came from and why (the rows
written with the batch, `reject_row`, and read back)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from sqlalchemy import Connection, String, cast, func, insert, select

from worker.settings import get_settings
from worker.storage.models import Article, Reject, Sighting, table_of, utcnow

rejects = Reject.__table__
articles = Article.__table__
sightings = Sighting.__table__


class NewReject(TypedDict):
    """A `rejects` row to insert: what could not be ingested, and why."""

    job_id: str | None
    source_id: NotRequired[int | None]
    location: str | None
    reason: str
    raw: bytes | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RejectRow:
    id: int
    job_id: str | None
    location: str | None
    reason: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """The `rejects --json` and `GET /rejects` record (time in ISO 8601 UTC)."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "location": self.location,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }


def reject_row(
    *,
    job_id: str | None,
    location: str | None,
    reason: str,
    raw: bytes | None = None,
    source_id: int | None = None,
    created_at: datetime | None = None,
) -> NewReject:
    """One row for `insert_rejects` (which cuts `raw` to its stored size)."""
    return {
        "job_id": job_id,
        "source_id": source_id,
        "location": location,
        "reason": reason,
        "raw": raw,
        "created_at": created_at or utcnow(),
    }


def insert_rejects(
    *, connection: Connection, rows: Sequence[NewReject], raw_max_bytes: int | None = None
) -> None:
    """Store rejects, their raw bytes cut at `raw_max_bytes` (NEWS_INGEST_REJECT_RAW_MAX_BYTES
    by default): enough to see what arrived, never a copy of a huge hostile input."""
    if not rows:
        return
    limit = get_settings().reject_raw_max_bytes if raw_max_bytes is None else raw_max_bytes
    connection.execute(insert(table_of(Reject)), [_raw_cut(row, limit) for row in rows])


def _raw_cut(row: NewReject, limit: int) -> NewReject:
    raw = row["raw"]
    return {**row, "raw": raw[:limit]} if raw is not None and len(raw) > limit else row


def list_rejects(
    *,
    connection: Connection,
    job_id: str | None = None,
    since: datetime | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[RejectRow]:
    """Rejects in the order they were recorded, optionally of one job or since a time."""
    query = select(
        rejects.c.id, rejects.c.job_id, rejects.c.location, rejects.c.reason, rejects.c.created_at
    ).where(rejects.c.id > after_id)
    if job_id is not None:
        query = query.where(rejects.c.job_id == job_id)
    if since is not None:
        query = query.where(rejects.c.created_at >= since)
    query = query.order_by(rejects.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [RejectRow(*row) for row in connection.execute(query)]


def count_rejects(
    *, connection: Connection, job_id: str | None = None, since: datetime | None = None
) -> int:
    query = select(func.count()).select_from(rejects)
    if job_id is not None:
        query = query.where(rejects.c.job_id == job_id)
    if since is not None:
        query = query.where(rejects.c.created_at >= since)
    return int(connection.execute(query).scalar_one())


def job_article_warnings(
    *, connection: Connection, job_id: str, limit: int = 1000
) -> list[tuple[str | None, list[str]]]:
    """(location, warnings) of the articles a job saw that were stored with warnings
    (an unreadable date, say), in the order they were seen."""
    query = (
        select(sightings.c.location, articles.c.warnings)
        .select_from(sightings.join(articles, articles.c.id == sightings.c.article_id))
        .where(
            sightings.c.job_id == job_id,
            articles.c.warnings.is_not(None),
            # No warnings are stored as JSON null on some paths, SQL NULL on others.
            cast(articles.c.warnings, String) != "null",
        )
        .order_by(sightings.c.id)
        .limit(limit)
    )
    return [
        (location, [str(w) for w in warnings])
        for location, warnings in connection.execute(query)
        if warnings
    ]


__all__ = ["RejectRow", "count_rejects", "job_article_warnings", "list_rejects"]
