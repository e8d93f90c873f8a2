"""Deleting what is kept only for a while: finished jobs and their part payloads, rejects,
and old article revisions. Each function works in bounded batches and returns a count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Text, cast, delete, func, select, update

from schemas.jobs import FINISHED_STATUSES
from worker.storage.models import ArticleRevision, IngestJob, IngestJobPart, Reject, table_of

jobs = table_of(IngestJob)
parts = table_of(IngestJobPart)
rejects = table_of(Reject)
revisions = table_of(ArticleRevision)


def clear_part_payloads(*, connection: Connection, finished_before: datetime, limit: int) -> int:
    """Empty the payload (seed paths, article documents) of parts finished before the
    cutoff: a finished part is recognised by its status, its input is no longer needed."""
    stale = (
        select(parts.c.job_id, parts.c.part_no)
        .where(
            parts.c.status.in_(FINISHED_STATUSES),
            parts.c.finished_at < finished_before,
            func.length(cast(parts.c.payload, Text)) > 2,  # not already {}
        )
        .limit(limit)
    )
    keys = connection.execute(stale).all()
    for job_id, part_no in keys:
        connection.execute(
            update(parts)
            .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
            .values(payload={})
        )
    return len(keys)


def delete_finished_jobs(*, connection: Connection, finished_before: datetime, limit: int) -> int:
    """Delete jobs finished before the cutoff, with their parts. Sightings and rejects keep
    the job id as provenance."""
    old = [
        row[0]
        for row in connection.execute(
            select(jobs.c.id)
            .where(jobs.c.status.in_(FINISHED_STATUSES), jobs.c.finished_at < finished_before)
            .limit(limit)
        )
    ]
    if old:
        connection.execute(delete(parts).where(parts.c.job_id.in_(old)))
        connection.execute(delete(jobs).where(jobs.c.id.in_(old)))
    return len(old)


def delete_rejects(*, connection: Connection, created_before: datetime, limit: int) -> int:
    old = select(rejects.c.id).where(rejects.c.created_at < created_before).limit(limit)
    ids = [row[0] for row in connection.execute(old)]
    if ids:
        connection.execute(delete(rejects).where(rejects.c.id.in_(ids)))
    return len(ids)


def trim_revisions(*, connection: Connection, keep: int, limit: int) -> int:
    """Delete all but the `keep` latest revisions of each article."""
    ranked = select(
        revisions.c.id,
        func.row_number()
        .over(partition_by=revisions.c.article_id, order_by=revisions.c.id.desc())
        .label("rank"),
    ).subquery()
    ids = [
        row[0]
        for row in connection.execute(select(ranked.c.id).where(ranked.c.rank > keep).limit(limit))
    ]
    if ids:
        connection.execute(delete(revisions).where(revisions.c.id.in_(ids)))
    return len(ids)
