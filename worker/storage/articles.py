"""Article, sighting, revision and reject rows: bulk reads and writes for one batch."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import zstandard
from sqlalchemy import Connection, bindparam, func, insert, literal, select, text, update

from worker.pipeline.dedup import Sketch
from worker.pipeline.metadata import ArticleMetadata
from worker.pipeline.normalize import NORMALIZER_VERSION, NormalizedArticle
from worker.storage.models import (
    Article,
    ArticleRevision,
    OutboxEvent,
    Sighting,
    Source,
    UTCDateTime,
    table_of,
)
from worker.storage.outbox import NewEvent
from worker.storage.sql import copy_rows, in_chunks, is_postgres
from worker.storage.sql import insert as insert_on_conflict

articles = table_of(Article)
sightings = table_of(Sighting)
revisions = table_of(ArticleRevision)
sources = table_of(Source)
outbox = table_of(OutboxEvent)


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    """The identity columns of a stored article, enough to decide if an arrival is a copy."""

    id: int
    story_id: int
    content_hash: str
    url: str | None
    source_id: int | None
    guid: str | None


def find_by_identity(
    *,
    connection: Connection,
    content_hashes: Sequence[str],
    urls: Sequence[str],
    source_guids: Sequence[tuple[int, str]],
) -> list[StoredIdentity]:
    """Every stored article matching any of the hashes, canonical URLs or (source, guid)."""
    columns = (
        articles.c.id,
        articles.c.story_id,
        articles.c.content_hash,
        articles.c.url,
        articles.c.source_id,
        articles.c.guid,
    )
    conditions = [*in_chunks(connection, articles.c.content_hash, content_hashes)]
    conditions += in_chunks(connection, articles.c.url, urls)
    # (source, guid) pairs: one probe per source through the unique (source_id, guid) index.
    found: dict[int, StoredIdentity] = {}
    for condition in conditions:
        for row in connection.execute(select(*columns).where(condition)).all():
            found[row.id] = StoredIdentity(*row)
    for source_id in sorted({source_id for source_id, _ in source_guids}):
        guids = sorted({guid for sid, guid in source_guids if sid == source_id})
        for condition in in_chunks(connection, articles.c.guid, guids):
            query = select(*columns).where(articles.c.source_id == source_id, condition)
            for row in connection.execute(query):
                found[row.id] = StoredIdentity(*row)
    return list(found.values())


def allocate_article_ids(*, connection: Connection, count: int) -> list[int]:
    """Reserve ids before inserting, so a new story can be named after its first article
    and near copies in the same batch can point at it, in one INSERT."""
    if count == 0:
        return []
    if is_postgres(connection):
        rows = connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('articles', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [row[0] for row in rows]
    # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so max(id) is ours.
    start = connection.execute(select(func.coalesce(func.max(articles.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


class TextValues(ArticleMetadata):
    """An article's text columns and what is derived from them: written for a new article,
    and over a stored one whose text changed (`replace_text`)."""

    title: str | None
    body: str
    url: str | None
    published_at: datetime | None
    content_hash: str
    shingle_count: int
    signature: bytes
    normalizer_version: int
    warnings: list[str] | None
    raw: bytes


class NewArticleRow(TextValues):
    """A new `articles` row, decided under the dedup lock."""

    id: int
    source_id: int | None
    guid: str | None
    story_id: int
    duplicate_of: int | None
    similarity: float | None
    specific_agreed: int | None
    specific_differed: int | None
    created_at: datetime
    updated_at: datetime


class SightingRow(TypedDict):
    """One arrival of an article at a place (`insert_sightings` folds repeats)."""

    article_id: int
    source_id: int | None
    location: str | None
    guid: str | None
    job_id: str | None
    seen_at: datetime


def insert_articles(*, connection: Connection, rows: Sequence[NewArticleRow]) -> None:
    """New articles; their hash, URL and guid were checked free under the dedup lock (the
    unique constraints remain the last line of defence)."""
    copy_rows(connection, articles, rows)


def insert_sightings(
    *,
    connection: Connection,
    rows: Sequence[SightingRow],
    new_article_ids: Collection[int] = frozenset(),
) -> None:
    """Record arrivals: one sighting per (article, source, location). A place seen before
    gets its `last_seen_at`, count, job and guid updated, not a second row. Rows of articles
    created in this transaction (`new_article_ids`) cannot have been seen: they are copied
    without a lookup."""
    places: dict[tuple[int, int, str], dict[str, Any]] = {}
    for row in rows:
        key = _place(row)
        earlier = places.get(key)
        if earlier is None:
            places[key] = {**row, "last_seen_at": row["seen_at"], "seen_count": 1}
        else:
            earlier.update(
                last_seen_at=row["seen_at"],
                seen_count=earlier["seen_count"] + 1,
                job_id=row["job_id"],
                guid=row["guid"] or earlier["guid"],
            )
    fresh = [row for key, row in places.items() if key[0] in new_article_ids]
    maybe_seen = {key: row for key, row in places.items() if key[0] not in new_article_ids}
    seen: list[dict[str, Any]] = []
    if maybe_seen:
        ids = sorted({key[0] for key in maybe_seen})
        for condition in in_chunks(connection, sightings.c.article_id, ids):
            query = select(
                sightings.c.id, sightings.c.article_id, sightings.c.source_id, sightings.c.location
            ).where(condition)
            for found in connection.execute(query):
                key = _place(found._mapping)
                if key in maybe_seen:
                    seen.append({"sighting_id": found.id, **maybe_seen.pop(key)})
        fresh.extend(maybe_seen.values())
    copy_rows(connection, sightings, fresh)
    if seen and is_postgres(connection):
        _update_seen_places(connection, seen)
    elif seen:
        connection.execute(
            update(sightings)
            .where(sightings.c.id == bindparam("sighting_id"))
            .values(
                last_seen_at=bindparam("last_seen_at"),
                seen_count=sightings.c.seen_count + bindparam("seen_count"),
                job_id=bindparam("job_id"),
                guid=func.coalesce(bindparam("guid"), sightings.c.guid),
            ),
            [
                {
                    key: row[key]
                    for key in ("sighting_id", "last_seen_at", "seen_count", "job_id", "guid")
                }
                for row in seen
            ],
        )


def _update_seen_places(connection: Connection, seen: Sequence[dict[str, Any]]) -> None:
    """`insert_sightings`' update of places seen before, on Postgres: one statement for the
    batch instead of one per sighting (a second pass of a thousand repeats spent more on the
    thousand UPDATEs than on reading its files)."""
    as_utc = UTCDateTime().process_bind_param  # refuses a naive time, as the column does
    connection.execute(
        text(
            "UPDATE sightings AS s SET last_seen_at = v.last_seen_at, "
            "seen_count = s.seen_count + v.seen_count, job_id = v.job_id, "
            "guid = coalesce(v.guid, s.guid) "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:last_seen_at AS timestamptz[]), "
            "CAST(:seen_counts AS integer[]), CAST(:job_ids AS text[]), "
            "CAST(:guids AS text[])) AS v(id, last_seen_at, seen_count, job_id, guid) "
            "WHERE s.id = v.id"
        ),
        {
            "ids": [row["sighting_id"] for row in seen],
            "last_seen_at": [as_utc(row["last_seen_at"], connection.dialect) for row in seen],
            "seen_counts": [row["seen_count"] for row in seen],
            "job_ids": [row["job_id"] for row in seen],
            "guids": [row["guid"] for row in seen],
        },
    )


def _place(row: Mapping[Any, Any]) -> tuple[int, int, str]:
    """The unique key of a sighting, as the `uq_sightings_place` index compares it."""
    return (int(row["article_id"]), row["source_id"] or 0, row["location"] or "")


def insert_events(*, connection: Connection, rows: Sequence[NewEvent]) -> None:
    """Outbox rows; a replayed event (same idempotency key) is not written twice. An
    `article.created` key names an id allocated in this transaction, so it cannot be taken
    and those rows are copied in bulk; an update's key can recur (a text changed back and
    forth) and goes through ON CONFLICT DO NOTHING."""
    created = [row for row in rows if row["event_type"] == "article.created"]
    others = [row for row in rows if row["event_type"] != "article.created"]
    copy_rows(connection, outbox, created)
    if others:
        statement = insert_on_conflict(connection, outbox).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )
        connection.execute(statement, others)


def replace_text(
    *, connection: Connection, article_id: int, values: Mapping[str, Any], replaced_at: datetime
) -> None:
    """Update an article whose text changed under the same URL or guid, keeping the old
    text as a revision."""
    connection.execute(
        insert(revisions).from_select(
            ["article_id", "title", "body", "content_hash", "replaced_at"],
            select(
                articles.c.id,
                articles.c.title,
                articles.c.body,
                articles.c.content_hash,
                literal(replaced_at, type_=revisions.c.replaced_at.type),
            ).where(articles.c.id == article_id),
        )
    )
    connection.execute(
        update(articles).where(articles.c.id == article_id).values(**values, updated_at=replaced_at)
    )


def merge_story(*, connection: Connection, story_id: int, into: int) -> None:
    """Move every article of one story into another: all now point at its first article."""
    connection.execute(
        update(articles)
        .where(articles.c.story_id == story_id)
        .values(story_id=into, duplicate_of=into)
    )


def load_sketches(
    *, connection: Connection, article_ids: Iterable[int]
) -> dict[int, tuple[int, bytes, int]]:
    """story_id, MinHash signature and shingle count of near-duplicate candidates."""
    ids = sorted(set(article_ids))
    result: dict[int, tuple[int, bytes, int]] = {}
    for condition in in_chunks(connection, articles.c.id, ids):
        query = select(
            articles.c.id, articles.c.story_id, articles.c.signature, articles.c.shingle_count
        ).where(condition)
        for row in connection.execute(query).all():
            result[row.id] = (row.story_id, row.signature or b"", row.shingle_count)
    return result


def load_story_sketches(
    *, connection: Connection, story_ids: Iterable[int], per_story: int
) -> dict[int, tuple[int, bytes, int]]:
    """`load_sketches` of the latest `per_story` members of each story."""
    ids = sorted(set(story_ids))
    result: dict[int, tuple[int, bytes, int]] = {}
    for condition in in_chunks(connection, articles.c.story_id, ids):
        rank = (
            func.row_number()
            .over(partition_by=articles.c.story_id, order_by=articles.c.id.desc())
            .label("rank")
        )
        ranked = (
            select(
                articles.c.id,
                articles.c.story_id,
                articles.c.signature,
                articles.c.shingle_count,
                rank,
            )
            .where(condition)
            .subquery()
        )
        query = select(
            ranked.c.id, ranked.c.story_id, ranked.c.signature, ranked.c.shingle_count
        ).where(ranked.c.rank <= per_story)
        for row in connection.execute(query):
            result[row.id] = (row.story_id, row.signature or b"", row.shingle_count)
    return result


def load_bodies(*, connection: Connection, article_ids: Iterable[int]) -> dict[int, str]:
    """Normalized bodies of the candidates that survived the signature filter."""
    ids = sorted(set(article_ids))
    result: dict[int, str] = {}
    for condition in in_chunks(connection, articles.c.id, ids):
        query = select(articles.c.id, articles.c.body).where(condition)
        result.update({row.id: row.body for row in connection.execute(query)})
    return result


# zstd at level 1: ~10 us per article for about half the JSON's bytes. zlib cost ~100 us;
# left to Postgres (lz4 on the column), the bytes shrank by a fifth only.
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_zstd = threading.local()


def pack_raw(raw_json: str) -> bytes:
    """The RawArticle as it arrived, as zstd-compressed JSON, for `renormalize`."""
    compressor = getattr(_zstd, "compressor", None)
    if compressor is None:  # one per thread: a compressor is not safe to share
        compressor = _zstd.compressor = zstandard.ZstdCompressor(level=1)
    return compressor.compress(raw_json.encode("utf-8", "surrogatepass"))


def unpack_raw(blob: bytes) -> dict[str, Any]:
    """`pack_raw`'s RawArticle, or one stored by an earlier build: plain JSON, or zlib."""
    blob = bytes(blob)
    if blob[:4] == _ZSTD_MAGIC:
        blob = zstandard.ZstdDecompressor().decompress(blob)
    elif blob[:1] != b"{":
        blob = zlib.decompress(blob)
    document: dict[str, Any] = json.loads(blob.decode("utf-8", "surrogatepass"))
    return document


def sightings_for(*, connection: Connection, article_ids: Sequence[int]) -> dict[int, list[Any]]:
    result: dict[int, list[Any]] = {article_id: [] for article_id in article_ids}
    for condition in in_chunks(connection, sightings.c.article_id, list(article_ids)):
        query = (
            select(
                sightings.c.article_id,
                sources.c.name.label("source"),
                sightings.c.location,
                sightings.c.guid,
                sightings.c.seen_at,
            )
            .select_from(sightings.outerjoin(sources, sources.c.id == sightings.c.source_id))
            .where(condition)
            .order_by(sightings.c.id)
        )
        for row in connection.execute(query):
            result[row.article_id].append(row)
    return result


def text_columns(
    *,
    article: NormalizedArticle,
    metadata: ArticleMetadata,
    content_hash: str,
    sketch: Sketch,
    packed_raw: bytes,
) -> TextValues:
    """An article's text columns: a new row's, or what an update replaces."""
    return {
        "title": article.title,
        "body": article.body,
        "url": article.url,
        "published_at": article.published_at,
        "content_hash": content_hash,
        "shingle_count": sketch.shingle_count,
        "signature": sketch.signature,
        "normalizer_version": NORMALIZER_VERSION,
        "warnings": list(article.warnings) or None,
        "raw": packed_raw,
        **metadata,
    }
