"""Rows of the full-text stage: a feed's full-text mode, the feed texts of articles whose
body came from the page (so an unchanged teaser is not fetched again), and turning a job's
"full_text" part into the "articles" part it becomes once its pages are read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update

from schemas import FINISHED_STATUSES
from worker.storage.models import Article, IngestJobPart, Source
from worker.storage.sql import in_chunks

__all__ = [
    "FULL_TEXT_MODES",
    "feed_full_text_mode",
    "page_summaries",
    "pages_failed_since",
    "set_feed_full_text_mode",
    "settle_full_text_part",
]

FULL_TEXT_MODES = ("auto", "always", "never")
articles: Table = Article.__table__  # type: ignore[assignment]  # a Table, typed FromClause
sources: Table = Source.__table__  # type: ignore[assignment]
parts: Table = IngestJobPart.__table__  # type: ignore[assignment]


def feed_full_text_mode(*, connection: Connection, feed_id: int) -> str | None:
    """The feed's own mode, or None (the NEWS_INGEST_FULL_TEXT default applies)."""
    return connection.execute(
        select(sources.c.full_text).where(sources.c.id == feed_id)
    ).scalar_one_or_none()


def set_feed_full_text_mode(*, connection: Connection, feed_id: int, mode: str | None) -> None:
    if mode is not None and mode not in FULL_TEXT_MODES:
        raise ValueError(f"full-text mode must be one of {', '.join(FULL_TEXT_MODES)}")
    connection.execute(update(sources).where(sources.c.id == feed_id).values(full_text=mode))


def page_summaries(
    *, connection: Connection, feed_id: int, guids: Sequence[str], urls: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The feed text stored with this feed's articles whose body came from the page, by
    guid and by canonical URL (indexed columns: (source_id, guid) and url)."""
    by_guid: dict[str, str] = {}
    by_url: dict[str, str] = {}
    columns = (articles.c.guid, articles.c.url, articles.c.summary)
    page = (articles.c.source_id == feed_id, articles.c.body_source == "page")
    for condition in in_chunks(connection, articles.c.guid, sorted(set(guids))):
        for row in connection.execute(select(*columns).where(condition, *page)):
            if row.guid and row.summary is not None:
                by_guid[row.guid] = row.summary
    for condition in in_chunks(connection, articles.c.url, sorted(set(urls))):
        for row in connection.execute(select(*columns).where(condition, *page)):
            if row.url and row.summary is not None:
                by_url[row.url] = row.summary
    return by_guid, by_url


def pages_failed_since(
    *,
    connection: Connection,
    feed_id: int,
    guids: Sequence[str],
    since: datetime,
) -> dict[str, str]:
    """{guid: full_text_error} of this feed's articles stored with the feed's text after a
    failed page read, since `since`."""
    failed: dict[str, str] = {}
    query = select(articles.c.guid, articles.c.full_text_error).where(
        articles.c.source_id == feed_id,
        articles.c.body_source == "feed",
        articles.c.full_text_error.is_not(None),
        articles.c.created_at >= since,
    )
    for condition in in_chunks(connection, articles.c.guid, sorted(set(guids))):
        for row in connection.execute(query.where(condition)):
            if row.guid:
                failed[row.guid] = row.full_text_error
    return failed


def settle_full_text_part(
    *, connection: Connection, job_id: str, part_no: int, documents: list[dict[str, Any]]
) -> bool:
    """Store the documents with their pages read as the part's payload and make it an
    "articles" part, so a redelivery ingests them without fetching the pages again. False
    when the part is no longer an open "full_text" part."""
    result = connection.execute(
        update(parts)
        .where(
            parts.c.job_id == job_id,
            parts.c.part_no == part_no,
            parts.c.kind == "full_text",
            parts.c.status.not_in(FINISHED_STATUSES),
        )
        .values(kind="articles", payload={"articles": documents})
    )
    return bool(result.rowcount)
