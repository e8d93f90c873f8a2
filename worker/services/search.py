"""Finding stored articles for the HTTP API: filtered keyset pages, one article, one story.

Pages are ordered by article id and continue after the last id seen, so a page costs one
index range scan however deep the client has paged, and articles stored meanwhile never
shift what the next page holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, or_, select

from schemas import ArticlePublic, SightingPublic
from worker.settings import get_settings
from worker.storage.articles import sightings_for
from worker.storage.models import Article, Sighting, Source

_articles = Article.__table__
_sightings = Sighting.__table__
_sources = Source.__table__
_PUBLIC_COLUMNS = [_articles.c[name] for name in ArticlePublic.model_fields if name != "sightings"]


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """What `GET /articles` narrows by; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    story_id: int | None = None
    source: str | None = None  # a source name: seed directory, feed URL or producer
    text: str | None = None  # case-insensitive substring of the title or the body


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: list[ArticlePublic]
    last_id: int | None  # continue after this id; None when there is nothing more


@dataclass(frozen=True, slots=True)
class Story:
    id: int
    title: str
    member_count: int
    members: list[ArticlePublic]


def find_articles(
    *, engine: Engine, where: ArticleFilter, after_id: int = 0, limit: int = 50
) -> ArticlePage:
    """Up to `limit` articles with an id above `after_id` that match `where`, in id order."""
    with engine.connect() as connection:
        query = select(*_PUBLIC_COLUMNS).where(_articles.c.id > after_id)
        if where.since is not None:
            query = query.where(_articles.c.published_at >= where.since)
        if where.until is not None:
            query = query.where(_articles.c.published_at < where.until)
        if where.story_id is not None:
            query = query.where(_articles.c.story_id == where.story_id)
        if where.source is not None:
            source_id = connection.execute(
                select(_sources.c.id).where(_sources.c.name == where.source)
            ).scalar_one_or_none()
            if source_id is None:
                return ArticlePage([], None)
            query = query.where(
                exists().where(
                    _sightings.c.article_id == _articles.c.id, _sightings.c.source_id == source_id
                )
            )
        if where.text:
            query = query.where(
                or_(
                    _articles.c.title.icontains(where.text, autoescape=True),
                    _articles.c.body.icontains(where.text, autoescape=True),
                )
            )
        # One row more than asked says whether there is a next page. Sizes first, so a page
        # of huge bodies is cut at NEWS_INGEST_API_MAX_PAGE_BYTES before any body is read.
        ids = _within_bytes(
            connection.execute(
                query.with_only_columns(
                    _articles.c.id,
                    func.length(_articles.c.title) + func.length(_articles.c.body),
                )
                .order_by(_articles.c.id)
                .limit(limit + 1)
            ).all(),
            limit=limit,
            max_bytes=get_settings().api_max_page_bytes,
        )
        more = ids.more
        rows = (
            connection.execute(
                select(*_PUBLIC_COLUMNS)
                .where(_articles.c.id.in_(ids.kept))
                .order_by(_articles.c.id)
            )
            .mappings()
            .all()
            if ids.kept
            else []
        )
        found = _public(connection, rows)
    return ArticlePage(found, found[-1].id if more and found else None)


@dataclass(frozen=True, slots=True)
class _Cut:
    kept: list[int]
    more: bool


def _within_bytes(sized: Sequence[Any], *, limit: int, max_bytes: int) -> _Cut:
    """The ids of the first rows (id, size) whose sizes fit in `max_bytes` (always at least
    one, so a single huge article can still be read), at most `limit` of them."""
    kept: list[int] = []
    total = 0
    for article_id, size in sized[:limit]:
        total += size or 0
        if kept and total > max_bytes:
            return _Cut(kept, True)
        kept.append(article_id)
    return _Cut(kept, len(sized) > limit)


def get_article(*, engine: Engine, article_id: int) -> ArticlePublic | None:
    with engine.connect() as connection:
        rows = (
            connection.execute(select(*_PUBLIC_COLUMNS).where(_articles.c.id == article_id))
            .mappings()
            .all()
        )
        found = _public(connection, rows)
    return found[0] if found else None


def get_story(*, engine: Engine, story_id: int, limit: int = 1000) -> Story | None:
    """A story (named after its first article) with its first `limit` members in id order."""
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(_articles).where(_articles.c.story_id == story_id)
        ).scalar_one()
        if not count:
            return None
        rows = (
            connection.execute(
                select(*_PUBLIC_COLUMNS)
                .where(_articles.c.story_id == story_id)
                .order_by(_articles.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        members = _public(connection, rows)
    first = next((member for member in members if member.id == story_id), members[0])
    return Story(id=story_id, title=first.title, member_count=count, members=members)


def _public(connection: Connection, rows: Sequence[Any]) -> list[ArticlePublic]:
    seen = sightings_for(connection=connection, article_ids=[row["id"] for row in rows])
    return [
        ArticlePublic(
            **dict(row),
            sightings=[
                SightingPublic(source=s.source, location=s.location, guid=s.guid, seen_at=s.seen_at)
                for s in seen[row["id"]]
            ],
        )
        for row in rows
    ]


__all__ = ["ArticleFilter", "ArticlePage", "Story", "find_articles", "get_article", "get_story"]
