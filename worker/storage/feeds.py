"""The feed registry: `sources` rows of kind "feed", their schedule, claims and fetch state.

Keyword-only functions over an explicit connection; the caller owns the transaction.

Claims: a feed is fetched by whoever holds its claim. `claimed_until` is both the lease
(an expired claim may be taken again, so a killed worker never strands a feed) and the
claim token: the holder passes the value it set, and a fetch whose token no longer
matches has been superseded and does nothing. Two beats, two workers, or a worker and
`news-ingest feeds fetch` therefore never fetch one feed at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sqlalchemy import Connection, and_, case, delete, exists, func, or_, select, update

from schemas import FINISHED_STATUSES
from worker.storage.models import (
    Article,
    ArticleRevision,
    IngestJobPart,
    Reject,
    Sighting,
    Source,
    table_of,
    utcnow,
)
from worker.storage.sql import chunks, in_chunks, insert

__all__ = [
    "ClaimRefused",
    "FeedClaim",
    "FeedSource",
    "KnownEntry",
    "add_feed",
    "add_feeds",
    "claim_due_feeds",
    "claim_feed",
    "count_gaps_since",
    "defer_feed",
    "feed_url",
    "get_feed",
    "get_feed_by_url",
    "has_sightings",
    "known_entries",
    "list_feeds",
    "parts_finished",
    "record_failure",
    "record_gone",
    "record_not_modified",
    "record_success",
    "release_claim",
    "remove_feed",
    "without_credentials",
]

sources = table_of(Source)
articles = table_of(Article)
sightings = table_of(Sighting)
revisions = table_of(ArticleRevision)
rejects = table_of(Reject)
parts = table_of(IngestJobPart)

KIND = "feed"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_WARNINGS = 20
_MAX_WARNING_CHARS = 500


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One registered feed and its fetch state."""

    id: int
    url: str
    title: str | None
    status: str  # active | error | gone | removed
    enabled: bool
    interval_s: int | None
    fetch_interval_s: int | None
    next_fetch_at: datetime | None
    claimed_until: datetime | None
    last_fetched_at: datetime | None
    retry_after_until: datetime | None
    error_count: int
    last_error: str | None
    etag: str | None
    last_modified: str | None
    warnings: list[str] | None
    created_at: datetime
    gap_detected_at: datetime | None = None
    interval_reason: str | None = None
    # `user:password` from the URL it was added with, percent-encoded; never public.
    credentials: str | None = field(default=None, repr=False)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) to fetch with, or None."""
        if not self.credentials:
            return None
        user, _, password = self.credentials.partition(":")
        return unquote(user), unquote(password)

    def public(self) -> dict[str, Any]:
        """The `feeds list --json` record (datetimes as ISO 8601 UTC)."""
        record: dict[str, Any] = {}
        for name in _PUBLIC_FIELDS:
            value = getattr(self, name)
            record[name] = value.isoformat() if isinstance(value, datetime) else value
        return record


_PUBLIC_FIELDS = (
    "id", "url", "title", "status", "enabled", "etag", "last_modified", "last_fetched_at",
    "next_fetch_at", "error_count", "last_error", "retry_after_until", "interval_s",
    "fetch_interval_s", "warnings", "created_at", "interval_reason", "gap_detected_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedClaim:
    """The right to fetch one feed now: hand `token` back to every record_* call."""

    feed_id: int
    url: str
    token: datetime


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """Why a feed cannot be fetched right now."""

    feed_id: int
    reason: str  # missing | disabled | retry_after | claimed | superseded
    message: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """A stored article an entry of this feed already led to, with every text it had."""

    article_id: int
    hashes: frozenset[str]


# ---------------------------------------------------------------------------------------
# Registry


def without_credentials(url: str) -> tuple[str, str | None]:
    """`url` without its `user:password@` part, and that part (None when there is none).
    Textual only: any string comes back, valid URL or not, so it can redact what is logged
    or stored about a URL that will be refused."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url, None
    start = scheme_end + 3
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    userinfo, at, host = url[start:end].rpartition("@")
    if not at:
        return url, None
    return url[:start] + host + url[end:], userinfo or None


def feed_url(url: str) -> str:
    """The registry form of a feed URL: as given, with scheme and host lower-cased, the
    host's trailing dot, a default port and the fragment removed, "/" for an empty path,
    and no credentials (`user:password@`: see `without_credentials`; stored apart).
    The query is kept untouched (feed URLs often carry meaningful parameters).
    Raises ValueError with a readable reason for anything but an absolute http(s) URL."""
    text, _ = without_credentials(url.strip())
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"not a valid URL: {text!r} ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {text!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"URL without a host: {text!r}")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise ValueError(f"not a valid host name in {text!r} ({error})") from None
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port


def add_feed(
    *,
    connection: Connection,
    url: str,
    title: str | None = None,
    interval_s: int | None = None,
    now: datetime | None = None,
) -> tuple[FeedSource, bool]:
    """Register a feed (due at once); returns it and whether it was new. A feed known
    already keeps its state, takes the new interval or title if given, and is enabled
    again if it was removed or gone."""
    now = now or utcnow()
    name = feed_url(url)
    _, credentials = without_credentials(url.strip())
    statement = (
        insert(connection, sources)
        .values(_new_row(name, title, interval_s, now, credentials))
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(sources.c.id)
    )
    # RETURNING, not rowcount: the driver may not report a count for this statement.
    created = connection.execute(statement).first() is not None
    if not created:
        changes: dict[str, Any] = {}
        if interval_s is not None:
            changes["interval_s"] = interval_s
        if title:
            changes["title"] = title
        if credentials:  # given again (perhaps changed): the new ones are used
            changes["credentials"] = credentials
        current = get_feed_by_url(connection=connection, url=name)
        if current is not None and not current.enabled:
            changes.update(
                enabled=True,
                status="active",
                error_count=0,
                last_error=None,
                next_fetch_at=now,
                retry_after_until=None,
            )
        elif current is not None and current.next_fetch_at is None:
            changes["next_fetch_at"] = now  # known only from entries so far: subscribe it
        if changes:
            connection.execute(update(sources).where(sources.c.name == name).values(**changes))
    feed = get_feed_by_url(connection=connection, url=name)
    assert feed is not None
    return feed, created


def add_feeds(
    *, connection: Connection, feeds: Iterable[tuple[str, str | None]], now: datetime | None = None
) -> tuple[int, int, list[str]]:
    """Register many feeds at once (OPML import): (new, already registered, invalid URLs).
    Bulk statements, so hundreds of feeds cost a few round trips."""
    now = now or utcnow()
    wanted: dict[str, str | None] = {}
    credentials: dict[str, str] = {}
    invalid: list[str] = []
    for url, title in feeds:
        try:
            name = feed_url(url)
        except ValueError:
            invalid.append(without_credentials(url)[0])
            continue
        if name not in wanted or (wanted[name] is None and title):
            wanted[name] = title
        secret = without_credentials(url.strip())[1]
        if secret:
            credentials[name] = secret
    names = list(wanted)
    existing: set[str] = set()
    for condition in in_chunks(connection, sources.c.name, names):
        existing.update(connection.execute(select(sources.c.name).where(condition)).scalars())
    rows = [
        _new_row(name, wanted[name], None, now, credentials.get(name))
        for name in names
        if name not in existing
    ]
    for batch in chunks(rows, 1000):
        statement = insert(connection, sources).on_conflict_do_nothing(index_elements=["name"])
        connection.execute(statement, list(batch))
    for name in sorted(existing & set(credentials)):
        connection.execute(
            update(sources)
            .where(sources.c.name == name, sources.c.kind == KIND)
            .values(credentials=credentials[name])
        )
    # Feeds removed earlier and listed again are subscribed again.
    for condition in in_chunks(connection, sources.c.name, sorted(existing)):
        connection.execute(
            update(sources)
            .where(condition, sources.c.kind == KIND, sources.c.status == "removed")
            .values(
                enabled=True, status="active", next_fetch_at=now, error_count=0, last_error=None
            )
        )
    return len(rows), len(existing), invalid


def _new_row(
    name: str, title: str | None, interval_s: int | None, now: datetime,
    credentials: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": KIND, "name": name, "title": title, "created_at": now, "status": "active",
        "enabled": True, "interval_s": interval_s, "next_fetch_at": now, "error_count": 0,
        "credentials": credentials,
    }  # fmt: skip


def list_feeds(*, connection: Connection, include_removed: bool = False) -> list[FeedSource]:
    query = select(sources).where(sources.c.kind == KIND).order_by(sources.c.id)
    if not include_removed:
        query = query.where(sources.c.status != "removed")
    return [_feed(row) for row in connection.execute(query).mappings()]


def get_feed(
    *, connection: Connection, feed_id: int, for_update: bool = False
) -> FeedSource | None:
    query = select(sources).where(sources.c.id == feed_id, sources.c.kind == KIND)
    if for_update:
        query = query.with_for_update()
    row = connection.execute(query).mappings().one_or_none()
    return _feed(row) if row else None


def get_feed_by_url(*, connection: Connection, url: str) -> FeedSource | None:
    query = select(sources).where(sources.c.name == feed_url(url), sources.c.kind == KIND)
    row = connection.execute(query).mappings().one_or_none()
    return _feed(row) if row else None


def move_feed(*, connection: Connection, feed_id: int, url: str) -> bool:
    """Give a feed the URL it permanently redirects to, keeping its id, state and history.
    False (nothing changed) when another source already has that URL."""
    name = feed_url(url)
    current = get_feed(connection=connection, feed_id=feed_id)
    values: dict[str, Any] = {"name": name}
    if current is not None and _origin(current.url) != _origin(name):
        values["credentials"] = None  # credentials belong to the origin they were given for
    taken = select(sources.c.id).where(sources.c.name == name).exists()
    moved = connection.execute(
        update(sources)
        .where(sources.c.id == feed_id, sources.c.kind == KIND, ~taken)
        .values(**values)
        .returning(sources.c.id)
    ).first()
    return moved is not None


def remove_feed(*, connection: Connection, feed_id: int) -> str | None:
    """Stop fetching a feed. A feed nothing refers to is deleted ("deleted"); one whose
    articles, sightings or rejects name it is kept, disabled, as their provenance
    ("disabled"), and `feeds add` subscribes it again. None if there is no such feed."""
    feed = get_feed(connection=connection, feed_id=feed_id, for_update=True)
    if feed is None:
        return None
    referenced = connection.execute(
        select(
            or_(
                exists().where(articles.c.source_id == feed_id),
                exists().where(sightings.c.source_id == feed_id),
                exists().where(rejects.c.source_id == feed_id),
            )
        )
    ).scalar_one()
    if referenced:
        connection.execute(
            update(sources)
            .where(sources.c.id == feed_id)
            .values(enabled=False, status="removed", next_fetch_at=None, claimed_until=None)
        )
        return "disabled"
    connection.execute(delete(sources).where(sources.c.id == feed_id))
    return "deleted"


def _feed(row: Any) -> FeedSource:
    return FeedSource(
        id=row["id"], url=row["name"], title=row["title"], status=row["status"],
        enabled=row["enabled"], interval_s=row["interval_s"],
        fetch_interval_s=row["fetch_interval_s"], next_fetch_at=row["next_fetch_at"],
        claimed_until=row["claimed_until"], last_fetched_at=row["last_fetched_at"],
        retry_after_until=row["retry_after_until"], error_count=row["error_count"],
        last_error=row["last_error"], etag=row["etag"], last_modified=row["last_modified"],
        warnings=row["warnings"], created_at=row["created_at"],
        gap_detected_at=row["gap_detected_at"], interval_reason=row["interval_reason"],
        credentials=row["credentials"],
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Claims


def _claimable(now: datetime) -> Any:
    return and_(
        sources.c.kind == KIND,
        sources.c.enabled.is_(True),
        or_(sources.c.retry_after_until.is_(None), sources.c.retry_after_until <= now),
        or_(sources.c.claimed_until.is_(None), sources.c.claimed_until < now),
    )


def claim_due_feeds(
    *, connection: Connection, now: datetime, limit: int, lease: timedelta
) -> list[FeedClaim]:
    """Claim up to `limit` enabled feeds that are due, earliest first.

    On Postgres the candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent
    callers (two beats, a beat and the CLI) take disjoint sets without waiting on each
    other; a row claimed and committed meanwhile fails the re-checked WHERE. SQLite has a
    single writer (BEGIN IMMEDIATE), so the plain statement is already exclusive.
    """
    until = now + lease
    due = (
        select(sources.c.id)
        .where(_claimable(now), sources.c.next_fetch_at <= now)
        .order_by(sources.c.next_fetch_at, sources.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = connection.execute(
        update(sources)
        .where(sources.c.id.in_(due))
        .values(claimed_until=until)
        .returning(sources.c.id, sources.c.name)
    ).all()
    return [FeedClaim(row.id, row.name, until) for row in sorted(rows)]


def claim_feed(
    *,
    connection: Connection,
    feed_id: int,
    now: datetime,
    lease: timedelta,
    token: datetime | None = None,
    min_lease_left: timedelta = timedelta(0),
) -> FeedClaim | ClaimRefused:
    """Claim one feed regardless of its schedule (`feeds fetch --all`/ID, `run URL`), or,
    given the `token` of an earlier claim (a dispatched `feeds.fetch`), confirm that claim
    is still this caller's with at least `min_lease_left` to run. Never a disabled feed,
    never before its Retry-After, never one another fetch holds."""
    feed = get_feed(connection=connection, feed_id=feed_id, for_update=True)
    if feed is None:
        return ClaimRefused(feed_id, "missing", f"no feed {feed_id}")
    if not feed.enabled:
        return ClaimRefused(feed_id, "disabled", f"feed {feed_id} is disabled ({feed.status})")
    if token is not None:
        if feed.claimed_until != token:
            return ClaimRefused(feed_id, "superseded", "claim expired or taken over")
        if token - now < min_lease_left:
            return ClaimRefused(feed_id, "superseded", "too little of the claim left")
        return FeedClaim(feed.id, feed.url, token)
    if feed.retry_after_until is not None and feed.retry_after_until > now:
        return ClaimRefused(
            feed_id, "retry_after",
            f"the server asked not to be fetched before {feed.retry_after_until.isoformat()}",
            until=feed.retry_after_until,
        )  # fmt: skip
    if feed.claimed_until is not None and feed.claimed_until >= now:
        return ClaimRefused(
            feed_id,
            "claimed",
            "being fetched by another worker right now",
            until=feed.claimed_until,
        )
    until = now + lease
    connection.execute(update(sources).where(sources.c.id == feed_id).values(claimed_until=until))
    return FeedClaim(feed.id, feed.url, until)


def _release(token: datetime) -> Any:
    # Clear the claim only if it is still ours; a superseded holder leaves the new one be.
    return case((sources.c.claimed_until == token, None), else_=sources.c.claimed_until)


def release_claim(
    *, connection: Connection, claim: FeedClaim, next_fetch_at: datetime | None = None
) -> None:
    values: dict[str, Any] = {"claimed_until": _release(claim.token)}
    if next_fetch_at is not None:
        values["next_fetch_at"] = next_fetch_at
    connection.execute(update(sources).where(sources.c.id == claim.feed_id).values(**values))


def defer_feed(
    *, connection: Connection, claim: FeedClaim, until: datetime, retry_after: bool
) -> None:
    """Not fetched for politeness (the host's Retry-After, or its turn did not come):
    no error, the claim released, due again at `until` (never earlier than already)."""
    values: dict[str, Any] = {
        "claimed_until": _release(claim.token),
        "next_fetch_at": case(
            (sources.c.next_fetch_at > until, sources.c.next_fetch_at), else_=until
        ),
    }
    if retry_after:
        values["retry_after_until"] = case(
            (sources.c.retry_after_until > until, sources.c.retry_after_until), else_=until
        )
    connection.execute(update(sources).where(sources.c.id == claim.feed_id).values(**values))


# ---------------------------------------------------------------------------------------
# Fetch outcomes


def record_success(
    *,
    connection: Connection,
    claim: FeedClaim,
    fetched_at: datetime,
    etag: str | None,
    last_modified: str | None,
    next_fetch_at: datetime,
    interval_s: int,
    warnings: Sequence[str],
    title: str | None,
    interval_reason: str | None = None,
    gap_detected_at: datetime | None = None,
) -> None:
    """A 200 whose entries are committed: only now are the validators saved, so a crash
    between storing and this call costs a refetch, never the entries. `gap_detected_at`
    flags a fetch that saw none of the entries already seen (kept until the next gap)."""
    values: dict[str, Any] = {
        "claimed_until": _release(claim.token), "status": "active", "error_count": 0,
        "last_error": None, "last_fetched_at": fetched_at, "next_fetch_at": next_fetch_at,
        "fetch_interval_s": interval_s, "retry_after_until": None, "etag": etag,
        "last_modified": last_modified, "warnings": _capped(warnings) or None,
    }  # fmt: skip
    if title:
        values["title"] = func.coalesce(sources.c.title, title)
    if interval_reason is not None:
        values["interval_reason"] = interval_reason
    if gap_detected_at is not None:
        values["gap_detected_at"] = gap_detected_at
    connection.execute(update(sources).where(sources.c.id == claim.feed_id).values(**values))


def record_not_modified(
    *,
    connection: Connection,
    claim: FeedClaim,
    fetched_at: datetime,
    etag: str | None,
    last_modified: str | None,
    next_fetch_at: datetime,
    interval_s: int,
    interval_reason: str | None = None,
) -> None:
    """A 304: nothing stored, the feed healthy, validators refreshed if the server sent new."""
    connection.execute(
        update(sources)
        .where(sources.c.id == claim.feed_id)
        .values(
            interval_reason=func.coalesce(interval_reason, sources.c.interval_reason),
            claimed_until=_release(claim.token),
            status="active",
            error_count=0,
            last_error=None,
            last_fetched_at=fetched_at,
            next_fetch_at=next_fetch_at,
            fetch_interval_s=interval_s,
            retry_after_until=None,
            etag=func.coalesce(etag, sources.c.etag),
            last_modified=func.coalesce(last_modified, sources.c.last_modified),
        )
    )


def record_failure(
    *,
    connection: Connection,
    claim: FeedClaim,
    message: str,
    next_fetch_at: datetime,
    retry_after_until: datetime | None = None,
) -> None:
    """One more failure in a row: status "error", the reason kept for `feeds list`, the
    next try at `next_fetch_at` (the caller's backoff). Never disabled for failing."""
    values: dict[str, Any] = {
        "claimed_until": _release(claim.token), "status": "error",
        "error_count": sources.c.error_count + 1, "last_error": message[:2000],
        "next_fetch_at": next_fetch_at,
    }  # fmt: skip
    if retry_after_until is not None:
        values["retry_after_until"] = retry_after_until
    connection.execute(update(sources).where(sources.c.id == claim.feed_id).values(**values))


def record_gone(*, connection: Connection, claim: FeedClaim, message: str) -> None:
    """410 Gone: the publisher removed the feed on purpose; stop fetching it."""
    connection.execute(
        update(sources)
        .where(sources.c.id == claim.feed_id)
        .values(
            claimed_until=None,
            enabled=False,
            status="gone",
            last_error=message[:2000],
            error_count=sources.c.error_count + 1,
            next_fetch_at=None,
        )
    )


def _capped(warnings: Sequence[str]) -> list[str]:
    kept = [w[:_MAX_WARNING_CHARS] for w in warnings[:_MAX_WARNINGS]]
    if len(warnings) > _MAX_WARNINGS:
        kept.append(f"... and {len(warnings) - _MAX_WARNINGS} more warnings")
    return kept


# ---------------------------------------------------------------------------------------
# Entries already stored from a feed


def known_entries(
    *, connection: Connection, feed_id: int, guids: Sequence[str], urls: Sequence[str]
) -> tuple[dict[str, KnownEntry], dict[str, KnownEntry]]:
    """Articles this feed already led to, by entry guid and by canonical URL: those with a
    sighting from this feed, with their current and earlier content hashes.

    Goes through indexed columns only: articles (source_id, guid) and url, then sightings
    and revisions by article_id.
    """
    found: dict[int, tuple[str | None, str | None, str]] = {}
    columns = (articles.c.id, articles.c.guid, articles.c.url, articles.c.content_hash)
    for condition in in_chunks(connection, articles.c.guid, sorted(set(guids))):
        query = select(*columns).where(articles.c.source_id == feed_id, condition)
        for row in connection.execute(query):
            found[row.id] = (row.guid, None, row.content_hash)
    for condition in in_chunks(connection, articles.c.url, sorted(set(urls))):
        for row in connection.execute(select(*columns).where(condition)):
            guid = found.get(row.id, (None,))[0]
            found[row.id] = (guid, row.url, row.content_hash)
    if not found:
        return {}, {}
    sighted: set[int] = set()
    for condition in in_chunks(connection, sightings.c.article_id, sorted(found)):
        query = (
            select(sightings.c.article_id)
            .where(condition, sightings.c.source_id == feed_id)
            .distinct()
        )
        sighted.update(connection.execute(query).scalars())
    hashes: dict[int, set[str]] = {article_id: {found[article_id][2]} for article_id in sighted}
    for condition in in_chunks(connection, revisions.c.article_id, sorted(sighted)):
        query = select(revisions.c.article_id, revisions.c.content_hash).where(condition)
        for revision in connection.execute(query):
            hashes[revision.article_id].add(revision.content_hash)
    by_guid: dict[str, KnownEntry] = {}
    by_url: dict[str, KnownEntry] = {}
    for article_id in sighted:
        guid, url, _ = found[article_id]
        entry = KnownEntry(article_id, frozenset(hashes[article_id]))
        if guid:
            by_guid[guid] = entry
        if url:
            by_url[url] = entry
    return by_guid, by_url


def count_gaps_since(*, connection: Connection, since: datetime) -> int:
    """Enabled feeds with a gap detected at or after `since`."""
    return int(
        connection.execute(
            select(func.count())
            .select_from(sources)
            .where(
                sources.c.kind == KIND,
                sources.c.enabled.is_(True),
                sources.c.gap_detected_at >= since,
            )
        ).scalar_one()
    )


def has_sightings(*, connection: Connection, feed_id: int) -> bool:
    """Whether this feed ever delivered an entry that was stored or sighted."""
    return bool(
        connection.execute(select(exists().where(sightings.c.source_id == feed_id))).scalar_one()
    )


def parts_finished(*, connection: Connection, job_id: str, part_nos: Sequence[int]) -> bool:
    """Whether these parts of a job are all stored (or given up): the entries a feed's
    validators may be saved for."""
    if not part_nos:
        return True
    finished = connection.execute(
        select(func.count())
        .select_from(parts)
        .where(
            parts.c.job_id == job_id,
            parts.c.part_no.in_(list(part_nos)),
            parts.c.status.in_(FINISHED_STATUSES),
        )
    ).scalar_one()
    return finished == len(set(part_nos))


def other_kind_named(*, connection: Connection, name: str) -> str | None:
    """The kind of the source called `name` when it is not a feed (a seed directory or a
    producer already has that name), else None."""
    return connection.execute(
        select(sources.c.kind).where(sources.c.name == name, sources.c.kind != KIND)
    ).scalar_one_or_none()
