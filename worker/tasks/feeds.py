"""Feed tasks: `feeds.schedule_due` (beat, every 30 s) claims the feeds that are due and
sends one `feeds.fetch` per feed; `feeds.fetch` fetches one feed and stores its entries in
this process (the batch stored by `run_part`), or runs a job's "feed" part. Entries that
want their article page go to `feeds.full_text`, which reads the pages, then stores them.

A feed's own failure (HTTP error, timeout, not a feed) is recorded on the feed with its
backoff, never retried by Celery; only faults of the database, Redis or broker are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from worker.app import BATCH_TIME_LIMIT_S, app
from worker.services import feeds as feed_service
from worker.services import full_text as full_text_service
from worker.settings import get_settings
from worker.storage.feeds import FeedClaim
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS
from worker.tasks.jobs import send_part


def _min_lease_left() -> timedelta:
    """A dispatched fetch starts only if its claim outlives the task's hard time limit, so
    the claim cannot expire (and the feed be claimed again) while the fetch still runs.
    (With a lease configured shorter than that, half the lease, rather than never.)"""
    lease = get_settings().feed_claim_lease_s
    return timedelta(seconds=min(BATCH_TIME_LIMIT_S, lease / 2))


def _send_fetch(claim: FeedClaim) -> None:
    app.send_task(
        "feeds.fetch", kwargs={"feed_id": claim.feed_id, "claim": claim.token.isoformat()}
    )


def _send_full_text(job_id: str, part_no: int, _kind: str) -> None:
    # Through the jobs router, which leaves the part to jobs.resume if the broker is down.
    send_part(job_id, part_no, "full_text")


@app.task(name="feeds.schedule_due", **TASK_OPTIONS)
def schedule_due_feeds() -> int:
    """Claim the due feeds and queue their fetches (after the claims commit)."""
    return feed_service.dispatch_due_feeds(engine=get_engine(), send_fetch=_send_fetch)


@app.task(name="feeds.fetch", **TASK_OPTIONS)
def fetch_feed(
    feed_id: int | None = None,
    claim: str | None = None,
    job_id: str | None = None,
    part_no: int | None = None,
) -> None:
    """Fetch one feed: a claimed one (`feed_id`, `claim` from schedule_due), any feed by
    id (claimed here), or a job's "feed" part (`job_id`, `part_no`). A superseded claim
    (redelivered message, claim expired and taken again) does nothing."""
    engine = get_engine()
    if job_id is not None and part_no is not None:
        feed_service.run_feed_part(
            engine=engine, job_id=job_id, part_no=part_no, send_pages=_send_full_text
        )
        return
    if feed_id is None:
        return
    feed_service.fetch_feed_now(
        engine=engine, feed_id=feed_id,
        token=datetime.fromisoformat(claim) if claim else None,
        max_wait_s=get_settings().per_host_max_wait_s, require_shared_limits=True,
        min_lease_left=_min_lease_left() if claim else timedelta(0),
        send_pages=_send_full_text,
    )  # fmt: skip


@app.task(name="feeds.full_text", **TASK_OPTIONS)
def read_full_text(job_id: str, part_no: int) -> None:
    """Read the pages of a "full_text" part of a feed's job, then ingest its entries. The
    waits for a host's turn end a minute before the task's hard time limit: pages not read
    by then keep their feed text, with the reason."""
    full_text_service.run_full_text_part(
        engine=get_engine(), job_id=job_id, part_no=part_no,
        time_limit_s=BATCH_TIME_LIMIT_S - 90,
    )  # fmt: skip
