"""Reading what is stored: articles with their sightings, stories, and streaming exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Engine, func, select

from schemas import ArticlePublic, SightingPublic
from worker.pipeline.metadata import language_tag
from worker.storage.articles import sightings_for
from worker.storage.models import Article, Sighting, Source

EXPORT_FIELDS = (
    "id",
    "title",
    "body",
    "url",
    "published_at",
    "content_hash",
    "story_id",
    "duplicate_of",
    "sightings",
    "summary",
    "body_source",
    "full_text_error",
    "language",
    "authors",
    "tags",
    "image_url",
)
_articles = Article.__table__


def iter_articles(
    *,
    engine: Engine,
    story_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    canonical_only: bool = False,
    limit: int | None = None,
    chunk: int = 1000,
    language: str | None = None,
) -> Iterator[ArticlePublic]:
    """Articles in id order, streamed in keyset-paginated chunks (constant memory)."""
    last_id = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk if remaining is None else min(chunk, remaining)
        query = (
            select(_articles).where(_articles.c.id > last_id).order_by(_articles.c.id).limit(size)
        )
        if story_id is not None:
            query = query.where(_articles.c.story_id == story_id)
        if since is not None:
            query = query.where(_articles.c.published_at >= since)
        if until is not None:
            query = query.where(_articles.c.published_at < until)
        if canonical_only:
            query = query.where(_articles.c.duplicate_of.is_(None))
        if language is not None:
            # "de" and "de-AT" both mean the stored "de"; an unusable tag matches nothing.
            query = query.where(_articles.c.language == language_tag(language))
        with engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            seen = sightings_for(connection=connection, article_ids=[row["id"] for row in rows])
        if not rows:
            return
        for row in rows:
            yield ArticlePublic(
                **{key: row[key] for key in ArticlePublic.model_fields if key in row},
                sightings=[
                    SightingPublic(
                        source=s.source, location=s.location, guid=s.guid, seen_at=s.seen_at
                    )
                    for s in seen[row["id"]]
                ],
            )
        last_id = rows[-1]["id"]
        if remaining is not None:
            remaining -= len(rows)


def list_stories(*, engine: Engine, limit: int = 100, min_members: int = 1) -> list[dict[str, Any]]:
    """Stories, largest first: member count, first article's title, the sources seen."""
    members = func.count(_articles.c.id).label("members")
    query = (
        select(_articles.c.story_id, members)
        .group_by(_articles.c.story_id)
        .having(func.count(_articles.c.id) >= min_members)
        .order_by(members.desc(), _articles.c.story_id)
        .limit(limit)
    )
    sightings = Sighting.__table__
    sources = Source.__table__
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        ids = [row.story_id for row in rows]
        titles = dict(
            connection.execute(
                select(_articles.c.id, _articles.c.title).where(_articles.c.id.in_(ids))
            ).all()
        )
        source_rows = connection.execute(
            select(_articles.c.story_id, sources.c.name)
            .distinct()
            .select_from(
                _articles.join(sightings, sightings.c.article_id == _articles.c.id).join(
                    sources, sources.c.id == sightings.c.source_id
                )
            )
            .where(_articles.c.story_id.in_(ids))
        ).all()
    by_story: dict[int, list[str]] = {}
    for story, name in source_rows:
        by_story.setdefault(story, []).append(name)
    return [
        {
            "story_id": row.story_id,
            "members": row.members,
            "title": titles.get(row.story_id),
            "sources": sorted(by_story.get(row.story_id, [])),
        }
        for row in rows
    ]


def article_record(article: ArticlePublic) -> dict[str, Any]:
    """The export record: ISO 8601 UTC dates, sightings as plain objects."""
    record = article.model_dump(mode="json", include=set(EXPORT_FIELDS))
    return {key: record[key] for key in EXPORT_FIELDS}


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(
            {
                **record,
                **{
                    key: json.dumps(record[key], ensure_ascii=False)
                    for key in ("sightings", "authors", "tags")
                },
            }
        )
        count += 1
    return count


def write_parquet(records: Iterator[dict[str, Any]], path: str, *, row_group: int = 10_000) -> int:
    """Parquet in row groups, so memory stays flat however many articles there are."""
    import pyarrow as pa  # optional dependency: pip install 'news-ingest[parquet]'
    import pyarrow.parquet as pq

    sighting = pa.struct(
        [
            ("source", pa.string()),
            ("location", pa.string()),
            ("guid", pa.string()),
            ("seen_at", pa.string()),
        ]
    )
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("url", pa.string()),
            ("published_at", pa.string()),
            ("content_hash", pa.string()),
            ("story_id", pa.int64()),
            ("duplicate_of", pa.int64()),
            ("sightings", pa.list_(sighting)),
            ("summary", pa.string()),
            ("body_source", pa.string()),
            ("full_text_error", pa.string()),
            ("language", pa.string()),
            ("authors", pa.list_(pa.string())),
            ("tags", pa.list_(pa.string())),
            ("image_url", pa.string()),
        ]
    )
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= row_group:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


__all__ = [
    "EXPORT_FIELDS",
    "article_record",
    "iter_articles",
    "list_stories",
    "write_csv",
    "write_jsonl",
    "write_parquet",
]
