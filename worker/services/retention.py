"""Retention: what the service keeps only for a while, pruned by beat's `retention.prune`
(hourly) or `news-ingest db prune`. Each kind has its setting; 0 keeps everything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from worker.settings import Settings, get_settings
from worker.storage import retention
from worker.storage.models import utcnow

__all__ = ["Pruned", "prune"]

# Rows per transaction: short transactions, so pruning never holds locks an ingest waits on.
BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows each kind of pruning removed (or emptied, for part payloads)."""

    part_payloads: int = 0
    jobs: int = 0
    rejects: int = 0
    revisions: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def prune(
    engine: Engine, *, settings: Settings | None = None, now: datetime | None = None
) -> Pruned:
    """Apply every retention setting once, in batches until nothing is left to prune."""
    settings = settings or get_settings()
    now = now or utcnow()

    def before(seconds: int) -> datetime:
        return now - timedelta(seconds=seconds)

    part_payloads = jobs = rejects = revisions = 0
    if settings.part_payload_retention_s:
        cutoff = before(settings.part_payload_retention_s)
        part_payloads = _in_batches(
            engine,
            lambda c: retention.clear_part_payloads(
                connection=c, finished_before=cutoff, limit=BATCH
            ),
        )
    if settings.job_retention_s:
        cutoff = before(settings.job_retention_s)
        jobs = _in_batches(
            engine,
            lambda c: retention.delete_finished_jobs(
                connection=c, finished_before=cutoff, limit=BATCH
            ),
        )
    if settings.reject_retention_s:
        cutoff = before(settings.reject_retention_s)
        rejects = _in_batches(
            engine,
            lambda c: retention.delete_rejects(connection=c, created_before=cutoff, limit=BATCH),
        )
    if settings.revisions_kept:
        keep = settings.revisions_kept
        revisions = _in_batches(
            engine, lambda c: retention.trim_revisions(connection=c, keep=keep, limit=BATCH)
        )
    return Pruned(part_payloads=part_payloads, jobs=jobs, rejects=rejects, revisions=revisions)


def _in_batches(engine: Engine, step: Callable[[Connection], int]) -> int:
    total = 0
    while True:
        with engine.begin() as connection:
            count = step(connection)
        total += count
        if count < BATCH:
            return total
