"""Retention: what is kept only for a while, pruned hourly by beat's `retention.prune`.

Each rule is a setting (0 keeps for ever): finished job parts lose their payload, then
finished jobs go with their parts; old rejects and old article revisions are deleted.
Deletes run in chunks of `_CHUNK` rows, each its own transaction, so no statement holds
locks on a large table for long and a crash loses nothing but progress.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Engine, Table, Text, delete, select, tuple_, update
from sqlalchemy import cast as cast_

from worker.settings import Settings, get_settings
from worker.storage.models import ArticleRevision, IngestJob, IngestJobPart, Reject, utcnow

__all__ = ["prune_stored"]

log = structlog.get_logger(__name__)

_CHUNK = 5000
_FINISHED = ("done", "failed")
jobs = cast(Table, IngestJob.__table__)
parts = cast(Table, IngestJobPart.__table__)
rejects = cast(Table, Reject.__table__)
revisions = cast(Table, ArticleRevision.__table__)


def prune_stored(
    *, engine: Engine, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Apply every retention rule once; the number of rows each one touched."""
    settings = settings or get_settings()
    now = now or utcnow()
    counts = {
        "part_payloads": 0,
        "jobs": 0,
        "rejects": 0,
        "revisions": 0,
    }
    if settings.retention_part_payload_s:
        cutoff = now - timedelta(seconds=settings.retention_part_payload_s)
        counts["part_payloads"] = _chunked(
            engine,
            select(parts.c.job_id, parts.c.part_no).where(
                parts.c.status.in_(_FINISHED),
                parts.c.finished_at < cutoff,
                cast_(parts.c.payload, Text) != json.dumps(_EMPTY_PAYLOAD),
            ),
            lambda keys: (
                update(parts)
                .where(tuple_(parts.c.job_id, parts.c.part_no).in_(keys))
                .values(payload=_EMPTY_PAYLOAD)
            ),
        )
    if settings.retention_jobs_s:
        cutoff = now - timedelta(seconds=settings.retention_jobs_s)
        old_jobs = select(jobs.c.id).where(
            jobs.c.status.in_(_FINISHED), jobs.c.finished_at < cutoff
        )
        while True:
            with engine.begin() as connection:
                ids = list(connection.execute(old_jobs.limit(_CHUNK)).scalars())
                if not ids:
                    break
                connection.execute(delete(parts).where(parts.c.job_id.in_(ids)))
                connection.execute(delete(jobs).where(jobs.c.id.in_(ids)))
            counts["jobs"] += len(ids)
    for name, table, column, seconds in (
        ("rejects", rejects, rejects.c.created_at, settings.retention_rejects_s),
        ("revisions", revisions, revisions.c.replaced_at, settings.retention_revisions_s),
    ):
        if seconds:
            cutoff = now - timedelta(seconds=seconds)
            counts[name] = _chunked(
                engine,
                select(table.c.id).where(column < cutoff),
                lambda ids, table=table: delete(table).where(table.c.id.in_([i[0] for i in ids])),
            )
    if any(counts.values()):
        log.info("retention pruned", **counts)
    return counts


# What a pruned part's payload becomes (the column is NOT NULL), compared as text: Postgres'
# json type has no equality operator.
_EMPTY_PAYLOAD: dict[str, Any] = {"pruned": True}


def _chunked(engine: Engine, query: Any, statement: Any) -> int:
    total = 0
    while True:
        with engine.begin() as connection:
            keys = [tuple(row) for row in connection.execute(query.limit(_CHUNK))]
            if not keys:
                return total
            connection.execute(statement(keys))
        total += len(keys)
