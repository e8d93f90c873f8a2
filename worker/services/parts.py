"""Run any part of a job, by its kind: "seeds" and "articles" (services.batches), "feed"
(services.feeds) and "full_text" (services.full_text). The Celery tasks, `jobs.resume`'s
redeliveries and the tests reach every kind through `run_part`.

The runners themselves never come back here: a feed or a page part runs its entries
through services.batches, so imports run one way, from this module down.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Engine

from schemas import IngestSummary
from worker.services import batches, feeds, full_text
from worker.services import jobs as job_service
from worker.settings import Settings, get_settings

log = structlog.get_logger(__name__)


def run_part(
    *,
    engine: Engine,
    job_id: str,
    part_no: int,
    settings: Settings | None = None,
    count_delivery: bool = True,
) -> IngestSummary | None:
    """Do one part of a job. Safe to call any number of times: only the first delivery that
    commits has an effect. Returns None when there was nothing (left) to do."""
    settings = settings or get_settings()
    claim = job_service.claim_open_part(
        engine=engine, job_id=job_id, part_no=part_no, count_delivery=count_delivery
    )
    if claim is None:
        return None
    if claim.payload.get("source"):
        structlog.contextvars.bind_contextvars(source=claim.payload["source"])
    if claim.kind == "feed":
        # Normally routed to feeds.fetch by send_part; handled here too so that any path
        # that runs a part runs every kind.
        return feeds.run_claimed_feed_part(engine=engine, part=claim, settings=settings)
    if claim.kind == "full_text":
        # Normally routed to feeds.full_text; here its pages are read in this process.
        return full_text.run_claimed_full_text_part(engine=engine, part=claim, settings=settings)
    return batches.run_claimed_articles_part(engine=engine, claim=claim, settings=settings)
