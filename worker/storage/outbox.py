"""The transactional outbox (`outbox_events`): reading unsent events for the relay, marking
them sent, reading events after a webhook subscriber's cursor, and pruning what everyone
has had."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from sqlalchemy import Connection, bindparam, delete, func, select, text, update

from schemas import ArticleEvent
from worker.pipeline.metadata import ArticleMetadata, public_metadata
from worker.pipeline.normalize import NormalizedArticle
from worker.storage.models import OutboxEvent, Subscriber, table_of
from worker.storage.sql import is_postgres

outbox = table_of(OutboxEvent)
subscribers = table_of(Subscriber)

# Transaction-level advisory lock held by the relay that is publishing (see `lock_relay`).
RELAY_LOCK_KEY = 7366003


class NewEvent(TypedDict):
    """An event for the outbox, written in the transaction that stored its article."""

    event_type: str
    idempotency_key: str
    payload: dict[str, Any]  # the ArticleEvent as JSON
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event as the outbox holds it."""

    id: int
    event_type: str
    idempotency_key: str
    payload: dict[str, Any]
    created_at: datetime


def event_key(event_type: str, *, article_id: int, content_hash: str) -> str:
    """An event's idempotency key. An update's includes the new text's hash: each distinct
    text is one event, however often the batch (or renormalize run) that stored it replays."""
    if event_type == "article.created":
        return f"{event_type}:{article_id}"
    return f"{event_type}:{article_id}:{content_hash[:16]}"


def outbox_row(event: ArticleEvent) -> NewEvent:
    """The `outbox_events` row of an event, written in the transaction that stored it."""
    return {
        "event_type": event.type,
        "idempotency_key": event.idempotency_key,
        "payload": event.model_dump(mode="json"),
        "created_at": event.occurred_at,
    }


def article_event_row(
    event_type: Literal["article.created", "article.updated"],
    *,
    article: NormalizedArticle,
    metadata: ArticleMetadata,
    source: str | None,
    content_hash: str,
    article_id: int,
    story_id: int,
    duplicate_of: int | None,
    similarity: float | None,
    occurred_at: datetime,
) -> NewEvent:
    """The outbox row of an article stored (`article.created`) or updated by ingest."""
    event = ArticleEvent(
        type=event_type,
        idempotency_key=event_key(event_type, article_id=article_id, content_hash=content_hash),
        article_id=article_id,
        story_id=story_id,
        duplicate_of=duplicate_of,
        similarity=similarity,
        content_hash=content_hash,
        url=article.url,
        title=article.title,
        published_at=article.published_at,
        source=source,
        occurred_at=occurred_at,
        **public_metadata(metadata, fields=ArticleEvent.METADATA_FIELDS),
    )
    return outbox_row(event)


_COLUMNS = (
    outbox.c.id,
    outbox.c.event_type,
    outbox.c.idempotency_key,
    outbox.c.payload,
    outbox.c.created_at,
)


def lock_relay(*, connection: Connection) -> bool:
    """Become the one relay publishing now, or return False at once if another is.

    One publisher at a time keeps the stream in outbox order (an `article.updated` never
    ahead of its `article.created`); row locks alone (SKIP LOCKED) would let two relays
    publish adjacent batches in either order. On SQLite the transaction's BEGIN IMMEDIATE
    already makes the relay the single writer.
    """
    if not is_postgres(connection):
        return True
    return bool(
        connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY}
        ).scalar_one()
    )


def lock_unsent(*, connection: Connection, limit: int) -> list[OutboxRow]:
    """The oldest unsent events, locked until the transaction ends.

    SKIP LOCKED on Postgres: a relay that does not hold the relay lock (an older version
    during a rolling deploy) still never publishes rows another relay is publishing.
    """
    query = select(*_COLUMNS).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit)
    if is_postgres(connection):
        query = query.with_for_update(skip_locked=True)
    return [OutboxRow(*row) for row in connection.execute(query)]


def mark_sent(
    *, connection: Connection, stream_ids: Sequence[tuple[int, str]], sent_at: datetime
) -> None:
    """Record the stream entry id each event was published as."""
    if not stream_ids:
        return
    if is_postgres(connection):
        # One statement for the whole batch: the UPDATE is the relay's main cost.
        connection.execute(
            text(
                "UPDATE outbox_events AS o SET sent_at = :sent_at, stream_id = v.stream_id "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:stream_ids AS text[])) "
                "AS v(id, stream_id) WHERE o.id = v.id"
            ),
            {
                "sent_at": sent_at,
                "ids": [i for i, _ in stream_ids],
                "stream_ids": [s for _, s in stream_ids],
            },
        )
        return
    connection.execute(
        update(outbox)
        .where(outbox.c.id == bindparam("event_id"))
        .values(sent_at=sent_at, stream_id=bindparam("entry_id")),
        [{"event_id": i, "entry_id": s} for i, s in stream_ids],
    )


def unsent_count(*, connection: Connection) -> int:
    return connection.execute(
        select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
    ).scalar_one()


def events_after(*, connection: Connection, after_id: int, limit: int) -> list[OutboxRow]:
    """Events with an id above `after_id`, oldest first (a webhook subscriber's backlog).

    Outbox ids become visible in id order: every writer inserts them while holding the
    dedup lock until it commits (worker/services/ingest.py), so a cursor never skips one.
    """
    query = select(*_COLUMNS).where(outbox.c.id > after_id).order_by(outbox.c.id).limit(limit)
    return [OutboxRow(*row) for row in connection.execute(query)]


def last_event_id(*, connection: Connection) -> int:
    last: int = connection.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one()
    return last


def prune_sent(*, connection: Connection, sent_before: datetime, limit: int) -> int:
    """Delete up to `limit` of the oldest events published to the stream before
    `sent_before` that every enabled webhook subscriber has had too (ids at or below the
    lowest cursor). Returns how many went."""
    lowest_cursor = (
        select(func.min(subscribers.c.last_event_id))
        .where(subscribers.c.enabled.is_(True))
        .scalar_subquery()
    )
    doomed = (
        select(outbox.c.id)
        .where(
            outbox.c.sent_at < sent_before, outbox.c.id <= func.coalesce(lowest_cursor, outbox.c.id)
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return len(
        connection.execute(
            delete(outbox).where(outbox.c.id.in_(doomed)).returning(outbox.c.id)
        ).all()
    )
