"""Webhook subscribers: the registry, and claiming the ones due for a delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from worker.storage.models import OutboxEvent, Subscriber, table_of, utcnow
from worker.storage.sql import insert, is_postgres

subscribers = table_of(Subscriber)
outbox = table_of(OutboxEvent)


@dataclass(frozen=True, slots=True)
class DueSubscriber:
    """A subscriber claimed for one delivery run, with its cursor and failure state."""

    id: int
    url: str
    secret: str | None = field(repr=False)
    secret_ref: str | None  # env:NAME or file:PATH, read at delivery
    last_event_id: int
    failing_since: datetime | None
    error_count: int


def add_subscriber(
    *,
    connection: Connection,
    url: str,
    secret: str | None,
    last_event_id: int,
    secret_ref: str | None = None,
) -> int | None:
    """Register a webhook; None if the URL is registered already."""
    statement = insert(connection, subscribers).on_conflict_do_nothing(index_elements=["url"])
    result = connection.execute(
        statement.returning(subscribers.c.id),
        {
            "url": url,
            "secret": secret,
            "secret_ref": secret_ref,
            "enabled": True,
            "status": "active",
            "last_event_id": last_event_id,
            "error_count": 0,
            "created_at": utcnow(),
        },
    )
    return result.scalar_one_or_none()


def remove_subscriber(*, connection: Connection, subscriber_id: int) -> bool:
    result = connection.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class SubscriberListing:
    """A subscriber as `news-ingest subscribers list` shows it: never its secret."""

    id: int
    url: str
    enabled: bool
    status: str
    signed: bool
    secret_source: str | None  # env:NAME, file:PATH, "stored" or None
    last_event_id: int
    backlog: int  # events written after its cursor
    next_attempt_at: datetime | None
    failing_since: datetime | None
    error_count: int
    last_error: str | None
    created_at: datetime


def list_subscribers(*, connection: Connection) -> list[SubscriberListing]:
    """Every subscriber with its backlog (events not delivered yet) and where its secret
    comes from (`env:NAME`, `file:PATH`, `stored` or None); the secret itself is left out."""
    newest = connection.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one()
    query = select(
        subscribers.c.id,
        subscribers.c.url,
        subscribers.c.enabled,
        subscribers.c.status,
        subscribers.c.secret.is_not(None).label("stored_secret"),
        subscribers.c.secret_ref,
        subscribers.c.last_event_id,
        subscribers.c.next_attempt_at,
        subscribers.c.failing_since,
        subscribers.c.error_count,
        subscribers.c.last_error,
        subscribers.c.created_at,
    ).order_by(subscribers.c.id)
    listed = []
    for row in connection.execute(query):
        secret_source = row.secret_ref or ("stored" if row.stored_secret else None)
        listed.append(
            SubscriberListing(
                id=row.id,
                url=row.url,
                enabled=row.enabled,
                status=row.status,
                signed=secret_source is not None,
                secret_source=secret_source,
                last_event_id=row.last_event_id,
                backlog=max(0, newest - row.last_event_id),
                next_attempt_at=row.next_attempt_at,
                failing_since=row.failing_since,
                error_count=row.error_count,
                last_error=row.last_error,
                created_at=row.created_at,
            )
        )
    return listed


def claim_due(
    *, connection: Connection, now: datetime, lease_until: datetime, limit: int = 100
) -> list[DueSubscriber]:
    """Enabled subscribers with undelivered events whose next attempt is due, leased to
    the caller until `lease_until` (their next_attempt_at) so no other deliverer posts to
    them meanwhile; a deliverer that dies leaves the lease to expire."""
    newest = select(func.coalesce(func.max(outbox.c.id), 0)).scalar_subquery()
    query = (
        select(
            subscribers.c.id,
            subscribers.c.url,
            subscribers.c.secret,
            subscribers.c.secret_ref,
            subscribers.c.last_event_id,
            subscribers.c.failing_since,
            subscribers.c.error_count,
        )
        .where(
            subscribers.c.enabled,
            or_(subscribers.c.next_attempt_at.is_(None), subscribers.c.next_attempt_at <= now),
            subscribers.c.last_event_id < newest,
        )
        .order_by(subscribers.c.id)
        .limit(limit)
    )
    if is_postgres(connection):
        query = query.with_for_update(skip_locked=True, of=subscribers)
    due = [DueSubscriber(*row) for row in connection.execute(query)]
    if due:
        connection.execute(
            update(subscribers)
            .where(subscribers.c.id.in_([s.id for s in due]))
            .values(next_attempt_at=lease_until)
        )
    return due


def record_delivery(*, connection: Connection, subscriber_id: int, values: dict[str, Any]) -> None:
    """Store a delivery run's outcome: cursor, failure state, next attempt."""
    connection.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id).values(**values)
    )
