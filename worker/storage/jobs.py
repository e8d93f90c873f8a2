"""`ingest_jobs` and their parts: creation, claiming a part, recording a part's outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from schemas import FINISHED_STATUSES, IngestSummary, JobStatus
from worker.storage.models import IngestJob, IngestJobPart, table_of, utcnow
from worker.storage.sql import insert

jobs = table_of(IngestJob)
parts = table_of(IngestJobPart)

SUMMARY_FIELDS = tuple(IngestSummary.model_fields)
# A job whose every input was rejected ends `failed` with this error, not `done`.
EVERY_INPUT_REJECTED = "every input was rejected (see `news-ingest rejects --job ID`)"


@dataclass(frozen=True, slots=True)
class PartClaim:
    """A part handed to a worker: its payload and how many times it was delivered."""

    job_id: str
    part_no: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    status: JobStatus
    current_input: int | None = None  # the input a delivery was last working on
    current_input_attempt: int | None = None  # which delivery that was
    poisoned_inputs: tuple[int, ...] = ()  # inputs rejected for killing their worker

    @property
    def died_on(self) -> int | None:
        """The input an earlier delivery was working on when it died or timed out (a Celery
        retry after a transient fault is the same delivery: not a death)."""
        if self.current_input is None or self.current_input_attempt is None:
            return None
        return self.current_input if self.attempts > self.current_input_attempt else None


def create_job(
    *, connection: Connection, request: dict[str, Any] | None, job_id: str | None = None
) -> str:
    """A new job (queued, unsealed); an explicit id makes creation idempotent."""
    job_id = job_id or str(uuid.uuid4())
    now = utcnow()
    statement = insert(connection, jobs).on_conflict_do_nothing(index_elements=["id"])
    connection.execute(
        statement,
        {
            "id": job_id,
            "status": JobStatus.queued.value,
            "request": request,
            "created_at": now,
            "updated_at": now,
            "sealed": False,
            "parts_total": 0,
            "parts_done": 0,
            **dict.fromkeys(SUMMARY_FIELDS, 0),
        },
    )
    return job_id


def add_parts(
    *, connection: Connection, job_id: str, kind: str, payloads: Sequence[dict[str, Any]]
) -> list[int]:
    """Append parts to a job; returns their numbers (queue them only after commit)."""
    if not payloads:
        return []
    # The job row lock serialises part numbering between producers of one job.
    total = connection.execute(
        select(jobs.c.parts_total).where(jobs.c.id == job_id).with_for_update()
    ).scalar_one()
    numbers = list(range(total, total + len(payloads)))
    now = utcnow()
    connection.execute(
        parts.insert(),
        [
            {
                "job_id": job_id,
                "part_no": number,
                "kind": kind,
                "payload": payload,
                "status": JobStatus.queued,
                "attempts": 0,
                "enqueued_at": now,
                **dict.fromkeys(SUMMARY_FIELDS, 0),
            }
            for number, payload in zip(numbers, payloads, strict=True)
        ],
    )
    connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(parts_total=jobs.c.parts_total + len(payloads), updated_at=now)
    )
    return numbers


def seal_job(*, connection: Connection, job_id: str) -> None:
    """No more parts will come: a job whose parts are all done is done now (failed if every
    one of its inputs was rejected)."""
    now = utcnow()
    finished = jobs.c.parts_done >= jobs.c.parts_total
    all_rejected = and_(jobs.c.received > 0, jobs.c.rejected >= jobs.c.received)
    connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            sealed=True,
            updated_at=now,
            status=case(
                (and_(finished, all_rejected), JobStatus.failed.value),
                (finished, JobStatus.done.value),
                else_=jobs.c.status,
            ),
            error=case(
                (and_(finished, all_rejected, jobs.c.error.is_(None)), EVERY_INPUT_REJECTED),
                else_=jobs.c.error,
            ),
            finished_at=case((finished, now), else_=None),
        )
    )


def claim_part(
    *, connection: Connection, job_id: str, part_no: int, count_delivery: bool = True
) -> PartClaim | None:
    """Count one more delivery of a part and mark it running (its own short transaction,
    committed before the work, so a worker that dies mid-batch still leaves the count).
    A Celery retry after a transient fault is not a new delivery: `count_delivery=False`."""
    now = utcnow()
    row = connection.execute(
        select(
            parts.c.kind,
            parts.c.payload,
            parts.c.attempts,
            parts.c.status,
            parts.c.current_input,
            parts.c.current_input_attempt,
            parts.c.poisoned_inputs,
        )
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    progress = (row.current_input, row.current_input_attempt, tuple(row.poisoned_inputs or ()))
    if row.status in FINISHED_STATUSES:
        return PartClaim(
            job_id, part_no, row.kind, row.payload, row.attempts, JobStatus(row.status), *progress
        )
    connection.execute(
        update(parts)
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .values(
            attempts=parts.c.attempts + int(count_delivery),
            status=JobStatus.running,
            started_at=now,
        )
    )
    connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.queued.value)
        .values(status=JobStatus.running.value, updated_at=now)
    )
    return PartClaim(
        job_id,
        part_no,
        row.kind,
        row.payload,
        row.attempts + int(count_delivery),
        JobStatus.running,
        *progress,
    )


def mark_current_input(
    *, connection: Connection, job_id: str, part_no: int, index: int | None, attempt: int
) -> None:
    """Record the input delivery `attempt` is about to work on (None: none in particular),
    in its own committed transaction, so the next delivery knows what a dead one was doing."""
    connection.execute(
        update(parts)
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .values(current_input=index, current_input_attempt=attempt, started_at=utcnow())
    )


def poison_input(
    *, connection: Connection, job_id: str, part_no: int, index: int, poisoned: Sequence[int]
) -> tuple[int, ...]:
    """Mark an input as one that killed its worker: every later delivery rejects it."""
    marked = tuple(sorted({*poisoned, index}))
    connection.execute(
        update(parts)
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .values(poisoned_inputs=list(marked), current_input=None, current_input_attempt=None)
    )
    return marked


def lock_part_if_open(*, connection: Connection, job_id: str, part_no: int) -> bool:
    """Lock the part row for the storing transaction; False if another delivery already
    finished it (a redelivered batch must have no second effect)."""
    status = connection.execute(
        select(parts.c.status)
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .with_for_update()
    ).scalar_one_or_none()
    return status is not None and status not in FINISHED_STATUSES


def finish_part(
    *,
    connection: Connection,
    job_id: str,
    part_no: int,
    summary: IngestSummary,
    status: JobStatus = JobStatus.done,
    error: str | None = None,
) -> None:
    """Record a part's counts and add them to its job, in the storing transaction."""
    now = utcnow()
    counts = summary.model_dump()
    connection.execute(
        update(parts)
        .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
        .values(status=status, finished_at=now, error=error, **counts)
    )
    all_done = and_(jobs.c.sealed, jobs.c.parts_done + 1 >= jobs.c.parts_total)
    received = jobs.c.received + summary.received
    all_rejected = and_(received > 0, jobs.c.rejected + summary.rejected >= received)
    connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            parts_done=jobs.c.parts_done + 1,
            updated_at=now,
            status=case(
                (and_(all_done, all_rejected), JobStatus.failed.value),
                (all_done, JobStatus.done.value),
                else_=JobStatus.running.value,
            ),
            error=case(
                (and_(all_done, all_rejected, jobs.c.error.is_(None)), EVERY_INPUT_REJECTED),
                else_=jobs.c.error,
            ),
            finished_at=case((all_done, now), else_=None),
            **{name: getattr(jobs.c, name) + value for name, value in counts.items()},
        )
    )


def stalled_parts(
    *, connection: Connection, older_than: timedelta, job_id: str | None = None, limit: int = 1000
) -> list[tuple[str, int, str]]:
    """Parts not finished and not touched for a while, of jobs that made no progress for
    that long either: their messages were probably lost. (A job whose parts keep finishing
    is only waiting in a long queue; re-sending its parts would just bloat the queue.)"""
    cutoff = utcnow() - older_than
    touched = func.coalesce(parts.c.started_at, parts.c.enqueued_at)
    query = (
        select(parts.c.job_id, parts.c.part_no, parts.c.kind)
        .join(jobs, jobs.c.id == parts.c.job_id)
        .where(
            parts.c.status.in_((JobStatus.queued, JobStatus.running)),
            touched < cutoff,
            jobs.c.updated_at < cutoff,
        )
        .order_by(parts.c.enqueued_at)
        .limit(limit)
    )
    if job_id is not None:
        query = query.where(parts.c.job_id == job_id)
    return [(row.job_id, row.part_no, row.kind) for row in connection.execute(query)]


def touch_parts(*, connection: Connection, keys: Sequence[tuple[str, int]]) -> None:
    """Mark parts as re-enqueued now, so the next resume pass leaves them be for a while."""
    now = utcnow()
    for job_id, part_no in keys:
        connection.execute(
            update(parts)
            .where(parts.c.job_id == job_id, parts.c.part_no == part_no)
            .values(enqueued_at=now, started_at=None, status=JobStatus.queued)
        )


def unfinished_parts(*, connection: Connection, job_id: str) -> list[int]:
    """The numbers of a job's parts not done or failed yet."""
    query = (
        select(parts.c.part_no)
        .where(parts.c.job_id == job_id, parts.c.status.not_in(FINISHED_STATUSES))
        .order_by(parts.c.part_no)
    )
    return list(connection.execute(query).scalars())


def get_job(*, connection: Connection, job_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one_or_none()
    return dict(row) if row else None


def list_jobs(*, connection: Connection, limit: int = 50) -> list[dict[str, Any]]:
    query = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
    return [dict(row) for row in connection.execute(query).mappings()]


def oldest_unfinished(*, connection: Connection) -> datetime | None:
    return connection.execute(
        select(func.min(jobs.c.created_at)).where(
            or_(jobs.c.status == JobStatus.queued.value, jobs.c.status == JobStatus.running.value)
        )
    ).scalar_one_or_none()


def job_ids_starting_with(*, connection: Connection, prefix: str, limit: int = 10) -> list[str]:
    """Job ids that start with `prefix` (what a person types for `jobs show abc1`)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(jobs.c.id)
        .where(jobs.c.id.like(escaped + "%", escape="\\"))
        .order_by(jobs.c.id)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())
