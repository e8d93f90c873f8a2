"""Run one batch of a job (a "seeds" or "articles" part): claim it, read its inputs, give up
on a part delivered too often, store it (services.isolation). Also the part runner for
callers that run a job in their own process (`run`, a feed fetched outside a worker).

Apart from services.jobs on purpose: queueing (`enqueue`, the API) needs jobs, not the
pipeline's numpy and text libraries that storing a batch loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from schemas import FINISHED_STATUSES, IngestSummary, JobStatus
from worker.services.arrivals import Arrival, arrivals_of
from worker.services.isolation import store_part
from worker.services.jobs import claim_open_part
from worker.settings import Settings, get_settings
from worker.storage import jobs
from worker.storage.rejects import insert_rejects, reject_row

log = structlog.get_logger(__name__)


def run_articles_part(
    *,
    engine: Engine,
    job_id: str,
    part_no: int,
    settings: Settings | None = None,
    count_delivery: bool = True,
) -> IngestSummary | None:
    """Do one "seeds" or "articles" part of a job. Safe to call any number of times: only
    the first delivery that commits has an effect. Returns None when there was nothing
    (left) to do."""
    claim = claim_open_part(
        engine=engine, job_id=job_id, part_no=part_no, count_delivery=count_delivery
    )
    if claim is None:
        return None
    return run_claimed_articles_part(engine=engine, claim=claim, settings=settings)


def run_claimed_articles_part(
    *, engine: Engine, claim: jobs.PartClaim, settings: Settings | None = None
) -> IngestSummary | None:
    """The body of `run_articles_part` for a part already claimed (so `services.parts` can
    hand "seeds" and "articles" parts here)."""
    settings = settings or get_settings()
    if claim.status in FINISHED_STATUSES:
        return None
    if claim.payload.get("source"):
        structlog.contextvars.bind_contextvars(source=claim.payload["source"])
    arrivals = arrivals_of(claim, settings)
    if claim.attempts > settings.max_task_deliveries and claim.current_input is None:
        # Died that often and never while on one input in particular (a delivery that died
        # on one leaves it in `current_input`: that input alone is rejected, see isolation).
        return _give_up(engine, claim, arrivals, settings)
    return store_part(engine=engine, claim=claim, arrivals=arrivals, settings=settings)


@dataclass(slots=True)
class RunInline:
    """A `send_part` that stores each batch part as soon as it is committed, in this
    process, and adds up the counts: how a job runs without a worker."""

    engine: Engine
    settings: Settings | None = None
    on_stored: Callable[[IngestSummary], None] | None = None
    summary: IngestSummary = field(default_factory=IngestSummary)

    def __call__(self, job_id: str, part_no: int, _kind: str) -> None:
        done = run_articles_part(
            engine=self.engine, job_id=job_id, part_no=part_no, settings=self.settings
        )
        if done is not None:
            self.summary += done
            if self.on_stored is not None:
                self.on_stored(done)


def _give_up(
    engine: Engine, claim: jobs.PartClaim, arrivals: list[Arrival], settings: Settings
) -> IngestSummary:
    """A part delivered too often (it crashed or OOM-killed its worker each time): keep every
    input in `rejects` with the reason instead of looping forever."""
    reason = f"batch gave up after {claim.attempts - 1} deliveries (NEWS_INGEST_MAX_TASK_DELIVERIES={settings.max_task_deliveries})"
    summary = IngestSummary(received=len(arrivals), rejected=len(arrivals))
    with engine.begin() as connection:
        if not jobs.lock_part_if_open(
            connection=connection, job_id=claim.job_id, part_no=claim.part_no
        ):
            return summary
        insert_rejects(
            connection=connection,
            rows=[
                reject_row(
                    job_id=claim.job_id,
                    location=a.location,
                    reason=reason,
                    raw=a.raw.body.encode()[: 1024 * 1024] if a.raw else None,
                )
                for a in arrivals
            ],
        )
        jobs.finish_part(
            connection=connection,
            job_id=claim.job_id,
            part_no=claim.part_no,
            summary=summary,
            status=JobStatus.failed,
            error=reason,
        )
    log.error("gave up on batch", job_id=claim.job_id, part_no=claim.part_no, reason=reason)
    return summary
