"""The schema of every table, as SQLAlchemy 2.x typed models (Alembic migrates them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from schemas import JobStatus

# BIGINT on Postgres, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on Postgres (timestamptz) and SQLite (naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 -- SQLAlchemy reads this class attribute by name
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Source(Base):
    """Where articles come from: a seed directory, a feed, or a producer on the queue."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # seed_dir | feed | producer
    name: Mapped[str] = mapped_column(Text, unique=True)  # absolute path, feed URL, producer
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Scheduling, shared by feeds and seed directories.
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|error|disabled
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[int | None] = mapped_column(Integer)  # fixed by the user, else adaptive
    fetch_interval_s: Mapped[int | None] = mapped_column(Integer)  # the one in force
    next_fetch_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]
    last_fetched_at: Mapped[datetime | None]
    retry_after_until: Mapped[datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Feed-only HTTP state.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[Any] | None]
    # Feeds: the last fetch that saw none of the entries already seen (entries may have
    # been missed), and why fetch_interval_s is what it is (see sources.schedule).
    gap_detected_at: Mapped[datetime | None]
    interval_reason: Mapped[str | None] = mapped_column(Text)
    # Feeds: fetch the linked page of entries (auto | always | never); null: the
    # NEWS_INGEST_FULL_TEXT default. Migration 0007.
    full_text: Mapped[str | None] = mapped_column(String(8))
    # A feed's `user:password` (percent-encoded, as given in its URL), kept out of `name`
    # so it is never shown or copied into sightings, events or metrics; sent as Basic auth.
    credentials: Mapped[str | None] = mapped_column(Text)


class Article(Base):
    """One stored text. Near copies are articles of their own, linked by `story_id`."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("content_hash", name="uq_articles_content_hash"),
        UniqueConstraint("url", name="uq_articles_url"),
        UniqueConstraint("source_id", "guid", name="uq_articles_source_guid"),
        Index("ix_articles_story_id", "story_id"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_language", "language"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    guid: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    # The story is named after its first article; `duplicate_of` is set on near copies only.
    story_id: Mapped[int] = mapped_column(BigInteger)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    similarity: Mapped[float | None] = mapped_column(Float)
    # What decided a near copy besides `similarity` (pipeline.stories): its specific tokens
    # that agreed with the article it joined, and the template slots that differed.
    specific_agreed: Mapped[int | None] = mapped_column(Integer)
    specific_differed: Mapped[int | None] = mapped_column(Integer)
    shingle_count: Mapped[int] = mapped_column(Integer, default=0)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)  # MinHash, see pipeline.dedup
    normalizer_version: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[list[Any] | None]
    # The RawArticle as it arrived (JSON bytes; lz4 in TOAST on Postgres), for `renormalize`.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Full text and metadata (migration 0007, worker/pipeline/metadata.py): `summary` is the
    # feed's own text when `body` came from the linked page (`body_source` "page"); null
    # when the body is that text. `language` is a lowercase primary subtag ("de").
    summary: Mapped[str | None] = mapped_column(Text)
    body_source: Mapped[str | None] = mapped_column(String(8))  # feed | page
    full_text_error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    authors: Mapped[list[Any] | None]
    tags: Mapped[list[Any] | None]
    image_url: Mapped[str | None] = mapped_column(Text)


class ArticleRevision(Base):
    """The earlier text of an article whose text changed under the same URL or guid."""

    __tablename__ = "article_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sighting(Base):
    """Where an article was seen: one row per (article, source, location), with when it was
    first seen (`seen_at`), last seen and how often; the job and guid of the last arrival."""

    __tablename__ = "sightings"
    __table_args__ = (
        # NULLs never conflict in a unique index: the place is compared with them folded.
        Index(
            "uq_sightings_place",
            "article_id",
            func.coalesce(text("source_id"), 0),
            func.coalesce(text("location"), ""),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    location: Mapped[str | None] = mapped_column(Text)  # seed file path or entry URL
    guid: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    seen_count: Mapped[int] = mapped_column(Integer, server_default="1")


class StoryBand(Base):
    """The near-duplicate index: an LSH band key and the first article that had it.

    One row per key (the primary key) keeps every probe a bounded index lookup however
    many articles share a band, and makes a racing insert of the same key visible as a
    conflict.
    """

    __tablename__ = "story_bands"

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(BigInteger)


class CommonParagraph(Base):
    """Paragraphs (by fingerprint hash) and how many distinct stories they were seen in, up
    to three: footers and disclaimers common to several stories are left out when two texts
    are compared, so sharing only those never makes two articles one story."""

    __tablename__ = "common_paragraphs"

    paragraph_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The first article with it, and the first article of a second story with it: their
    # current story_ids tell a third story from a repeat of the second (merges included),
    # and they are near-duplicate candidates for later copies of the paragraph.
    article_id: Mapped[int] = mapped_column(BigInteger)
    other_article_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)  # seen in three or more


class IngestJob(Base):
    """A job: its status and counts, kept here rather than in a Celery result backend."""

    __tablename__ = "ingest_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued, index=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    parts_total: Mapped[int] = mapped_column(Integer, default=0)
    parts_done: Mapped[int] = mapped_column(Integer, default=0)
    # Set once the producer has queued every part: until then more parts may still come.
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    request: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class IngestJobPart(Base):
    """One batch of a job. Marked done in the transaction that stores its articles, so a
    redelivered batch is recognised and skipped: its effect is exactly once."""

    __tablename__ = "ingest_job_parts"

    job_id: Mapped[str] = mapped_column(ForeignKey("ingest_jobs.id"), primary_key=True)
    part_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))  # seeds | articles | feed
    payload: Mapped[dict[str, Any]]  # seed paths, RawArticle documents or a feed id
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Set (and committed) before each input while a redelivered part goes one input at a
    # time: a delivery that dies leaves the input it died on, which the next one rejects.
    current_input: Mapped[int | None] = mapped_column(Integer)
    current_input_attempt: Mapped[int | None] = mapped_column(Integer)  # the delivery that set it
    poisoned_inputs: Mapped[list[Any] | None]  # indexes rejected for killing their worker


class Reject(Base):
    """Input that could not be ingested, kept with its reason and its raw bytes."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    location: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """An event written in the transaction that stored the article (transactional outbox);
    the relay publishes it to the Redis stream and only then sets `sent_at`."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    stream_id: Mapped[str | None] = mapped_column(String(32))


class Subscriber(Base):
    """A webhook that receives every event, signed with HMAC-SHA256 when it has a secret."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    secret: Mapped[str | None] = mapped_column(Text)  # older `--secret`; see secret_ref
    # Where the secret is read at delivery (`env:NAME`, `file:PATH`): not in this table.
    secret_ref: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Delivery cursor: the last outbox event id delivered (or given up on).
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_attempt_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceFile(Base):
    """What a rescan of a seed directory saw last time, so only new or changed files go in."""

    __tablename__ = "source_files"

    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedEntryReject(Base):
    """A feed entry that was rejected (limits, refused by the database, killed its worker):
    the next fetch of its feed leaves it out until its text changes."""

    __tablename__ = "feed_entry_rejects"

    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    guid_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the guid
    content_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the text
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed as the Table it is (SQLAlchemy says FromClause)."""
    return cast(Table, model.__table__)
