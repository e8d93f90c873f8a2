"""The one article reader, for the CLI (`articles`, `stories`, `export`) and the HTTP API:
filtered keyset pages, counts, one article, one story, the list of stories.

Pages are ordered by article id and continue after the last id seen, so a page costs one
index range scan however deep the client has paged, and articles stored meanwhile never
shift what the next page holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, exists, func, select

from schemas import ArticlePublic, SightingPublic
from worker.pipeline.metadata import language_tag
from worker.settings import get_settings
from worker.storage.articles import sightings_for
from worker.storage.models import Article, Sighting, Source, table_of
from worker.storage.text_search import create_postgres_index, matches_text

_articles = table_of(Article)
_sightings = table_of(Sighting)
_sources = table_of(Source)
_PUBLIC_COLUMNS = [_articles.c[name] for name in ArticlePublic.model_fields if name != "sightings"]


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """What `GET /articles` narrows by; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    story_id: int | None = None
    source: str | None = None  # a source name: seed directory, feed URL or producer
    text: str | None = None  # case-insensitive substring of the title or the body
    canonical_only: bool = False  # only the first article of each story
    language: str | None = None  # a language tag: "de" and "de-AT" both match "de"


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


@dataclass(frozen=True, slots=True)
class StoryListing:
    """A story in the list of stories (`news-ingest stories`, `GET /stories`)."""

    story_id: int  # the id of its first article
    members: int
    title: str | None
    sources: list[str]  # every source its articles were seen from, sorted


def find_articles(
    *, engine: Engine, where: ArticleFilter, after_id: int = 0, limit: int = 50
) -> ArticlePage:
    """Up to `limit` articles with an id above `after_id` that match `where`, in id order."""
    with engine.connect() as connection:
        query = _filtered(connection, select(*_PUBLIC_COLUMNS), where)
        if query is None:
            return ArticlePage([], None)
        query = query.where(_articles.c.id > after_id)
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


def count_articles(*, engine: Engine, where: ArticleFilter) -> int:
    """How many articles match `where` (for "showing 50 of 2,003")."""
    with engine.connect() as connection:
        query = _filtered(connection, select(func.count()).select_from(_articles), where)
        return 0 if query is None else int(connection.execute(query).scalar_one())


def iter_articles(
    *, engine: Engine, where: ArticleFilter, limit: int | None = None, chunk: int = 1000
) -> Iterator[ArticlePublic]:
    """Every matching article in id order, read in keyset pages (constant memory)."""
    after_id = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk if remaining is None else min(chunk, remaining)
        page = find_articles(engine=engine, where=where, after_id=after_id, limit=size)
        yield from page.articles
        if page.last_id is None:
            return
        after_id = page.last_id
        if remaining is not None:
            remaining -= len(page.articles)


def _filtered(
    connection: Connection, query: Select[Any], where: ArticleFilter
) -> Select[Any] | None:
    """`query` narrowed by `where`; None when nothing can match (an unknown source)."""
    if where.since is not None:
        query = query.where(_articles.c.published_at >= where.since)
    if where.until is not None:
        query = query.where(_articles.c.published_at < where.until)
    if where.story_id is not None:
        query = query.where(_articles.c.story_id == where.story_id)
    if where.canonical_only:
        query = query.where(_articles.c.duplicate_of.is_(None))
    if where.language is not None:
        # "de" and "de-AT" both mean the stored "de"; an unusable tag matches nothing.
        query = query.where(_articles.c.language == language_tag(where.language))
    if where.source is not None:
        source_id = connection.execute(
            select(_sources.c.id).where(_sources.c.name == where.source)
        ).scalar_one_or_none()
        if source_id is None:
            return None
        query = query.where(
            exists().where(
                _sightings.c.article_id == _articles.c.id, _sightings.c.source_id == source_id
            )
        )
    if where.text:
        query = query.where(matches_text(connection, where.text))
    return query


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


def list_stories(*, engine: Engine, limit: int = 100, min_members: int = 1) -> list[StoryListing]:
    """Stories, largest first: member count, first article's title, the sources seen."""
    members = func.count(_articles.c.id).label("members")
    query = (
        select(_articles.c.story_id, members)
        .group_by(_articles.c.story_id)
        .having(func.count(_articles.c.id) >= min_members)
        .order_by(members.desc(), _articles.c.story_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        ids = [row.story_id for row in rows]
        titles = dict(
            connection.execute(
                select(_articles.c.id, _articles.c.title).where(_articles.c.id.in_(ids))
            ).all()
        )
        source_rows = connection.execute(
            select(_articles.c.story_id, _sources.c.name)
            .distinct()
            .select_from(
                _articles.join(_sightings, _sightings.c.article_id == _articles.c.id).join(
                    _sources, _sources.c.id == _sightings.c.source_id
                )
            )
            .where(_articles.c.story_id.in_(ids))
        ).all()
    by_story: dict[int, list[str]] = {}
    for story, name in source_rows:
        by_story.setdefault(story, []).append(name)
    return [
        StoryListing(
            story_id=row.story_id,
            members=row.members,
            title=titles.get(row.story_id),
            sources=sorted(by_story.get(row.story_id, [])),
        )
        for row in rows
    ]


def build_text_index(*, engine: Engine) -> bool:
    """Build the Postgres index `q` searches use (`news-ingest db text-index`), without
    blocking writes; False on SQLite, whose FTS5 table is always there."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        create_postgres_index(connection)
    return True


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


__all__ = [
    "ArticleFilter",
    "ArticlePage",
    "Story",
    "StoryListing",
    "build_text_index",
    "count_articles",
    "find_articles",
    "get_article",
    "get_story",
    "iter_articles",
    "list_stories",
]
