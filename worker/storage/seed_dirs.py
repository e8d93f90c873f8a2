"""Seed directories on the `sources` table (kind "seed_dir") and what their last scan saw
(`source_files`): registering, claiming due directories, comparing and recording files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from worker.storage.models import Source, SourceFile, table_of, utcnow
from worker.storage.sql import in_chunks, insert, is_postgres

sources = table_of(Source)
source_files = table_of(SourceFile)
SEED_DIR_KIND = "seed_dir"


@dataclass(frozen=True, slots=True)
class KnownFile:
    """A file as the last scan recorded it."""

    size: int
    mtime_ns: int
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class ClaimedDir:
    id: int
    path: str


def register_seed_dir(*, connection: Connection, path: str, interval_s: int) -> tuple[int, bool]:
    """Schedule a directory for rescans, due now. Returns its id and whether it is new.

    A directory already known as a source (seeds ingested from it by `run` or `enqueue`)
    keeps its row and gains a schedule.
    """
    now = utcnow()
    statement = insert(connection, sources).on_conflict_do_nothing(index_elements=["name"])
    inserted = connection.execute(
        statement,
        {
            "kind": SEED_DIR_KIND,
            "name": path,
            "created_at": now,
            "status": "active",
            "enabled": True,
            "interval_s": interval_s,
            "fetch_interval_s": interval_s,
            "next_fetch_at": now,
            "error_count": 0,
        },
    ).rowcount
    row = connection.execute(
        select(sources.c.id, sources.c.kind).where(sources.c.name == path)
    ).one()
    if row.kind != SEED_DIR_KIND:
        raise ValueError(f"{path} is registered as a {row.kind}, not a seed directory")
    if not inserted:
        connection.execute(
            update(sources)
            .where(sources.c.id == row.id)
            .values(
                enabled=True,
                status="active",
                interval_s=interval_s,
                fetch_interval_s=interval_s,
                next_fetch_at=now,
                error_count=0,
                last_error=None,
            )
        )
    return row.id, bool(inserted)


def ensure_seed_dir(*, connection: Connection, path: str) -> int:
    """The source id of a directory, registering it unscheduled if it is new (`watch`)."""
    statement = insert(connection, sources).on_conflict_do_nothing(index_elements=["name"])
    connection.execute(
        statement,
        {
            "kind": SEED_DIR_KIND,
            "name": path,
            "created_at": utcnow(),
            "status": "active",
            "enabled": True,
            "error_count": 0,
        },
    )
    source_id: int = connection.execute(
        select(sources.c.id).where(sources.c.name == path)
    ).scalar_one()
    return source_id


def get_seed_dir(*, connection: Connection, source_id: int) -> dict[str, Any] | None:
    row = (
        connection.execute(
            select(sources).where(sources.c.id == source_id, sources.c.kind == SEED_DIR_KIND)
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row else None


def unschedule_seed_dir(*, connection: Connection, source_id: int) -> bool:
    """Stop rescanning a directory (its articles and file records stay). False if unknown."""
    result = connection.execute(
        update(sources)
        .where(sources.c.id == source_id, sources.c.kind == SEED_DIR_KIND)
        .values(enabled=False, status="disabled", next_fetch_at=None, claimed_until=None)
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class SourceListing:
    """A source as `news-ingest sources list` shows it."""

    id: int
    kind: str
    name: str
    status: str
    enabled: bool
    interval_s: int | None
    next_fetch_at: datetime | None
    last_fetched_at: datetime | None
    error_count: int
    last_error: str | None
    files: int | None  # recorded by the last scan; None for sources other than seed_dir


def list_sources(*, connection: Connection) -> list[SourceListing]:
    """Every source, with the number of files recorded for seed directories."""
    counts: dict[int, int] = dict(
        connection.execute(
            select(source_files.c.source_id, func.count()).group_by(source_files.c.source_id)
        ).all()
    )
    query = select(
        sources.c.id,
        sources.c.kind,
        sources.c.name,
        sources.c.status,
        sources.c.enabled,
        sources.c.interval_s,
        sources.c.next_fetch_at,
        sources.c.last_fetched_at,
        sources.c.error_count,
        sources.c.last_error,
    ).order_by(sources.c.id)
    return [
        SourceListing(
            **row._mapping, files=counts.get(row.id, 0) if row.kind == SEED_DIR_KIND else None
        )
        for row in connection.execute(query)
    ]


def claim_due_dirs(
    *, connection: Connection, now: datetime, lease: timedelta, limit: int = 100
) -> list[ClaimedDir]:
    """Directories due for a rescan, moved to their next slot (now + interval) and leased
    for `lease`, so two schedulers never scan one directory at once (SKIP LOCKED on
    Postgres; SQLite has a single writer)."""
    query = (
        select(sources.c.id, sources.c.name, sources.c.interval_s)
        .where(
            sources.c.kind == SEED_DIR_KIND,
            sources.c.enabled,
            sources.c.next_fetch_at <= now,
            or_(sources.c.claimed_until.is_(None), sources.c.claimed_until < now),
        )
        .order_by(sources.c.next_fetch_at)
        .limit(limit)
    )
    if is_postgres(connection):
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for row in connection.execute(query).all():
        connection.execute(
            update(sources)
            .where(sources.c.id == row.id)
            .values(
                next_fetch_at=now + timedelta(seconds=row.interval_s or 300),
                claimed_until=now + lease,
            )
        )
        claimed.append(ClaimedDir(row.id, row.name))
    return claimed


def finish_scan(*, connection: Connection, source_id: int, error: str | None = None) -> None:
    """Release a scan's lease and record its outcome."""
    values: dict[str, Any] = {"claimed_until": None, "last_fetched_at": utcnow()}
    if error is None:
        values.update(status="active", error_count=0, last_error=None)
    else:
        values.update(status="error", error_count=sources.c.error_count + 1, last_error=error)
    connection.execute(update(sources).where(sources.c.id == source_id).values(**values))


def known_files(
    *, connection: Connection, source_id: int, paths: Sequence[str]
) -> dict[str, KnownFile]:
    """What the last scan recorded for these paths (primary-key lookups, in bulk)."""
    found: dict[str, KnownFile] = {}
    for condition in in_chunks(connection, source_files.c.path, list(paths)):
        query = select(
            source_files.c.path,
            source_files.c.size,
            source_files.c.mtime_ns,
            source_files.c.content_hash,
        ).where(source_files.c.source_id == source_id, condition)
        for row in connection.execute(query):
            found[row.path] = KnownFile(row.size, row.mtime_ns, row.content_hash)
    return found


def record_files(
    *, connection: Connection, source_id: int, files: Sequence[tuple[str, int, int, str | None]]
) -> None:
    """Upsert (path, size, mtime_ns, content_hash) rows for a directory."""
    if files:
        connection.execute(
            _upsert_files(connection, only_changed=False), _file_rows(source_id, files)
        )


def claim_files(
    *, connection: Connection, source_id: int, files: Sequence[tuple[str, int, int, str | None]]
) -> list[str]:
    """Record (path, size, mtime_ns, content_hash) rows unless the record already holds
    that content; returns the paths recorded, which the caller queues in this same
    transaction. Of two scanners offering one file at once (`watch` and a scheduled rescan,
    say), the second waits for the first's row (Postgres) or write lock (SQLite) and gets
    nothing back, so the file is queued once."""
    if not files:
        return []
    statement = _upsert_files(connection, only_changed=True).returning(source_files.c.path)
    result = connection.execute(statement, _file_rows(source_id, files))
    return [row.path for row in result]


def _upsert_files(connection: Connection, *, only_changed: bool) -> Any:
    """Insert file rows, or update the recorded ones (`only_changed`: only where the
    content differs, or cannot be known)."""
    statement = insert(connection, source_files)
    excluded = statement.excluded
    changed = or_(
        source_files.c.content_hash.is_(None),
        # a file that cannot be read safely (a link, a FIFO) is queued for its reject
        excluded.content_hash.is_(None),
        source_files.c.content_hash != excluded.content_hash,
    )
    return statement.on_conflict_do_update(
        index_elements=["source_id", "path"],
        set_={
            "size": excluded.size,
            "mtime_ns": excluded.mtime_ns,
            "content_hash": excluded.content_hash,
            "seen_at": excluded.seen_at,
        },
        where=changed if only_changed else None,
    )


def _file_rows(
    source_id: int, files: Sequence[tuple[str, int, int, str | None]]
) -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "source_id": source_id,
            "path": path,
            "size": size,
            "mtime_ns": mtime_ns,
            "content_hash": content_hash,
            "seen_at": now,
        }
        for path, size, mtime_ns, content_hash in files
    ]
