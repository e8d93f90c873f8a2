"""Fetch a feed and store its entries: claim, wait for the host's turn, conditional GET,
parse, entries through the job/ingest path, then (only then) the feed's new state.

Every way a feed is fetched comes through here: beat's `feeds.schedule_due` and the
`feeds.fetch` task, `news-ingest feeds fetch`, `run URL` and `enqueue URL` (and the API's
POST /jobs). Entries become RawArticle documents in an "articles" part of a job, stored
by `services.batches` like any producer's batch: one ingest path.

Order matters for "nothing lost": the ETag and Last-Modified are saved after the entries
are committed, so a crash in between costs one full refetch (whose entries dedup), never
entries hidden behind a saved validator.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from schemas import IngestSummary, JobStatus, RawArticle
from worker.errors import FetchError, RejectedInput, public_fetch_error
from worker.metrics import observe_feed_fetch, observe_feed_gap
from worker.pipeline.identity import content_hash
from worker.pipeline.normalize import canonical_url, normalize_as_configured
from worker.resources import Kind, resources
from worker.services import full_text
from worker.services import jobs as job_service
from worker.services.arrivals import entry_key, storable_text
from worker.services.batches import RunInline
from worker.services.jobs import SendPart
from worker.services.politeness import HostGate, host_gate
from worker.settings import Settings, get_settings
from worker.sources.bounds import xml_depth
from worker.sources.feed_parser import ParsedFeed, parse_cache_headers, parse_feed
from worker.sources.fetch import FeedClient, FetchResult, fetch_feed, new_client
from worker.sources.schedule import (
    RETRY_AFTER_MAX_S,
    IntervalChoice,
    after_gap,
    backoff_delay,
    choose_interval,
    explain_adaptive,
    spread,
)
from worker.storage import feeds as feed_rows
from worker.storage import full_text as full_text_rows
from worker.storage import jobs as job_rows
from worker.storage.entry_rejects import rejected_entries
from worker.storage.feeds import ClaimRefused, FeedClaim, FeedSource
from worker.storage.models import utcnow

__all__ = [
    "FeedFetch",
    "dispatch_due_feeds",
    "fetch_claimed_feed",
    "fetch_feed_now",
    "fetch_feeds",
    "ingest_feed_url",
    "queue_feed_url",
    "run_feed_part",
]

log = structlog.get_logger(__name__)

Outcome = Literal["fetched", "not_modified", "failed", "gone", "deferred", "skipped"]
# Faults of our own infrastructure (database, Redis): the fetch is retried as a whole,
# never recorded as the feed's failure.
_INFRASTRUCTURE_FAULTS = (DBAPIError, RedisError)


@dataclass(frozen=True, slots=True)
class FeedFetch:
    """What one attempt to fetch a feed did. `error` is None when the feed was read (200
    or 304), else a reason a person understands."""

    feed_id: int | None
    url: str
    outcome: Outcome
    error: str | None = None
    http_status: int | None = None
    entries: int = 0  # in the document
    unchanged: int = 0  # already stored from this feed with the same text: not sent again
    summary: IngestSummary | None = None  # of the entries sent (None when the caller ran them)
    job_id: str | None = None
    next_fetch_at: datetime | None = None
    warnings: tuple[str, ...] = field(default=())
    # None of the entries had been seen before: some may have been missed (see _is_gap).
    gap: bool = False

    def public(self) -> dict[str, Any]:
        """The per-feed record of `feeds fetch --json`."""
        return {
            "id": self.feed_id, "url": self.url, "outcome": self.outcome, "error": self.error,
            "http_status": self.http_status, "entries": self.entries,
            "unchanged": self.unchanged, "job_id": self.job_id,
            **(self.summary or IngestSummary()).model_dump(),
            "next_fetch_at": self.next_fetch_at.isoformat() if self.next_fetch_at else None,
            "warnings": list(self.warnings), "gap": self.gap,
        }  # fmt: skip


# ---------------------------------------------------------------------------------------
# Entry points


def fetch_feed_now(
    *,
    engine: Engine,
    feed_id: int,
    token: datetime | None = None,
    settings: Settings | None = None,
    max_wait_s: float | None = None,
    require_shared_limits: bool = False,
    min_lease_left: timedelta = timedelta(0),
    send_pages: SendPart | None = None,
) -> FeedFetch:
    """Claim one feed and fetch it now, whatever its schedule: never a disabled feed, never
    before its Retry-After, never while another fetch holds it. With `token` (from
    `dispatch_due_feeds`), only if that claim is still ours. `send_pages`: entries that
    want their page go to "full_text" parts queued with it (workers); without it the pages
    are read here, before the entries are stored."""
    settings = settings or get_settings()
    with engine.begin() as connection:
        claim = feed_rows.claim_feed(
            connection=connection, feed_id=feed_id, now=utcnow(),
            lease=timedelta(seconds=settings.feed_claim_lease_s), token=token,
            min_lease_left=min_lease_left,
        )  # fmt: skip
    if isinstance(claim, ClaimRefused):
        return _refused(engine, claim)
    return fetch_claimed_feed(
        engine=engine,
        claim=claim,
        settings=settings,
        max_wait_s=max_wait_s,
        require_shared_limits=require_shared_limits,
        send_pages=send_pages,
    )


def dispatch_due_feeds(
    *,
    engine: Engine,
    send_fetch: Callable[[FeedClaim], None],
    limit: int | None = None,
    settings: Settings | None = None,
) -> int:
    """Claim the feeds that are due and hand each claim to `send_fetch`, after the claims
    are committed (a worker never receives a claim that could roll back). Claims that could
    not be sent (broker down) are released, so the next tick sends them."""
    settings = settings or get_settings()
    with engine.begin() as connection:
        claims = feed_rows.claim_due_feeds(
            connection=connection, now=utcnow(), limit=limit or settings.feed_schedule_limit,
            lease=timedelta(seconds=settings.feed_claim_lease_s),
        )  # fmt: skip
    for index, claim in enumerate(claims):
        try:
            send_fetch(claim)
        except BaseException:
            with engine.begin() as connection:
                for unsent in claims[index:]:
                    feed_rows.release_claim(connection=connection, claim=unsent)
            raise
    if claims:
        log.info("feeds dispatched", feeds=len(claims))
    return len(claims)


def fetch_feeds(
    *,
    engine: Engine,
    selection: Literal["all", "due"] | int,
    workers: int = 4,
    settings: Settings | None = None,
    on_result: Callable[[FeedFetch], None] | None = None,
) -> list[FeedFetch]:
    """`news-ingest feeds fetch`: fetch feeds in this process with `workers` threads.

    "all": every enabled feed, regardless of its schedule (each claimed just before its
    fetch); "due": the feeds whose time has come, claimed a few at a time; a feed id: that
    feed. Per-host limits are waited out (shared through Redis when it answers); a
    server's Retry-After is never: such feeds are reported as skipped.
    """
    settings = settings or get_settings()
    gate = host_gate(settings, require_shared=False)
    if not gate.shared:
        _load_retry_afters(engine, gate)
    results: list[FeedFetch] = []
    lock = threading.Lock()

    def done(result: FeedFetch) -> FeedFetch:
        with lock:
            results.append(result)
        if on_result is not None:
            on_result(result)
        return result

    def fetch_one(feed_id: int) -> FeedFetch:
        return done(fetch_feed_now(engine=engine, feed_id=feed_id, settings=settings))

    def fetch_claim(claim: FeedClaim) -> FeedFetch:
        return done(fetch_claimed_feed(engine=engine, claim=claim, settings=settings))

    if isinstance(selection, int):
        fetch_one(selection)
        return results
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="feeds") as pool:
        if selection == "all":
            with engine.connect() as connection:
                feeds = feed_rows.list_feeds(connection=connection)
            enabled = [feed.id for feed in feeds if feed.enabled]
            list(pool.map(fetch_one, enabled))
        else:
            seen: set[int] = set()
            while True:
                with engine.begin() as connection:
                    claims = feed_rows.claim_due_feeds(
                        connection=connection, now=utcnow(), limit=max(1, workers) * 2,
                        lease=timedelta(seconds=settings.feed_claim_lease_s),
                    )  # fmt: skip
                again = [claim for claim in claims if claim.feed_id in seen]
                if again:
                    # Due again already (a deferral shorter than this run): leave it to beat.
                    with engine.begin() as connection:
                        for claim in again:
                            feed_rows.release_claim(connection=connection, claim=claim)
                fresh = [claim for claim in claims if claim.feed_id not in seen]
                if not fresh:
                    break
                seen.update(claim.feed_id for claim in fresh)
                list(pool.map(fetch_claim, fresh))
    return results


def ingest_feed_url(
    *,
    engine: Engine,
    job_id: str,
    url: str,
    send_part: SendPart,
    settings: Settings | None = None,
) -> FeedFetch:
    """`news-ingest run URL`: register the feed if it is new (or subscribe it again), fetch
    it now, and add its entries to `job_id` as article parts handed to `send_part`.
    `send_part` must store the part before it returns (the CLI's `run` does); otherwise
    the validators are not saved and the next fetch is a full one."""
    settings = settings or get_settings()
    try:
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(connection=connection, url=url)
    except ValueError as error:
        shown = feed_rows.without_credentials(url)[0]
        return FeedFetch(feed_id=None, url=shown, outcome="failed", error=str(error))
    with engine.begin() as connection:
        claim = feed_rows.claim_feed(
            connection=connection,
            feed_id=feed.id,
            now=utcnow(),
            lease=timedelta(seconds=settings.feed_claim_lease_s),
        )
    if isinstance(claim, ClaimRefused):
        return _refused(engine, claim)
    return fetch_claimed_feed(
        engine=engine, claim=claim, settings=settings, job_id=job_id, send_part=send_part
    )


def queue_feed_url(*, engine: Engine, job_id: str, url: str, send_part: SendPart) -> int:
    """`news-ingest enqueue URL` and POST /jobs: register the feed if it is new and add a
    "feed" part to the job, queued with `send_part` after commit. A worker's `feeds.fetch`
    runs the part (`run_feed_part`): it fetches the feed and stores the entries in the same
    job. A URL that cannot be a feed becomes a failed part with the reason (nothing queued)."""
    with engine.begin() as connection:
        try:
            feed, _ = feed_rows.add_feed(connection=connection, url=url)
        except ValueError as error:
            (part_no,) = job_rows.add_parts(
                connection=connection,
                job_id=job_id,
                kind="feed",
                payloads=[{"feed_id": None, "url": feed_rows.without_credentials(url)[0][:2048]}],
            )
            job_rows.finish_part(
                connection=connection,
                job_id=job_id,
                part_no=part_no,
                summary=IngestSummary(),
                status=JobStatus.failed,
                error=str(error),
            )
            return part_no
        (part_no,) = job_rows.add_parts(
            connection=connection, job_id=job_id, kind="feed",
            payloads=[{"feed_id": feed.id, "url": feed.url}],
        )  # fmt: skip
    send_part(job_id, part_no, "feed")
    return part_no


def run_feed_part(
    *,
    engine: Engine,
    job_id: str,
    part_no: int,
    settings: Settings | None = None,
    send_pages: SendPart | None = None,
) -> IngestSummary | None:
    """Do a "feed" part of a job: fetch the feed, store its entries as article parts of the
    same job (in this process), then mark the feed part done. Safe to run again: a part
    already finished is skipped; a redelivered one fetches again and its entries dedup."""
    settings = settings or get_settings()
    part = job_service.claim_open_part(engine=engine, job_id=job_id, part_no=part_no)
    if part is None:
        return None
    return run_claimed_feed_part(engine=engine, part=part, settings=settings, send_pages=send_pages)


def run_claimed_feed_part(
    *,
    engine: Engine,
    part: job_rows.PartClaim,
    settings: Settings | None = None,
    send_pages: SendPart | None = None,
) -> IngestSummary | None:
    """The body of `run_feed_part` for a part already claimed (so `services.parts.run_part`
    can hand "feed" parts here)."""
    settings = settings or get_settings()
    if part.attempts > settings.max_task_deliveries:
        return _finish_feed_part(
            engine, part, IngestSummary(), status=JobStatus.failed,
            error=f"feed part gave up after {part.attempts - 1} deliveries "
                  f"(NEWS_INGEST_MAX_TASK_DELIVERIES={settings.max_task_deliveries})",
        )  # fmt: skip
    if part.payload.get("feed_id") is None:
        return _finish_feed_part(
            engine,
            part,
            IngestSummary(),
            status=JobStatus.failed,
            error=f"not a feed URL: {part.payload.get('url')!r}",
        )
    feed_id = int(part.payload["feed_id"])
    with engine.begin() as connection:
        claim = feed_rows.claim_feed(
            connection=connection,
            feed_id=feed_id,
            now=utcnow(),
            lease=timedelta(seconds=settings.feed_claim_lease_s),
        )
    if isinstance(claim, ClaimRefused):
        result = _refused(engine, claim)
    else:
        result = fetch_claimed_feed(
            engine=engine,
            claim=claim,
            settings=settings,
            job_id=part.job_id,
            require_shared_limits=True,
            send_pages=send_pages,
        )
    status = JobStatus.done if result.error is None else JobStatus.failed
    return _finish_feed_part(
        engine,
        part,
        result.summary or IngestSummary(),
        status=status,
        error=result.error,
        counted=False,
    )


# ---------------------------------------------------------------------------------------
# One claimed feed


def fetch_claimed_feed(
    *,
    engine: Engine,
    claim: FeedClaim,
    settings: Settings | None = None,
    max_wait_s: float | None = None,
    require_shared_limits: bool = False,
    job_id: str | None = None,
    send_part: SendPart | None = None,
    send_pages: SendPart | None = None,
) -> FeedFetch:
    """Fetch a feed this caller holds the claim of, store its entries, record the outcome.

    Entries go into `job_id` (a new job when None) as article parts: handed to
    `send_part` when given (which must store them before returning), else run here.
    `max_wait_s` bounds the wait for the host's turn (None: as long as it takes); a fetch
    that could not get it is deferred, not failed. Faults of the database or Redis
    propagate (the claim released when possible) for the caller to retry.
    """
    settings = settings or get_settings()
    try:
        return _fetch_claimed(
            engine, claim, settings, max_wait_s, require_shared_limits, job_id, send_part,
            send_pages,
        )  # fmt: skip
    except _INFRASTRUCTURE_FAULTS:
        _release_quietly(engine, claim)
        raise
    except Exception as error:
        # A bug of ours, not the feed's fault; recorded (so it shows in `feeds list` and is
        # retried with backoff) and raised (so it is seen).
        log.exception("feed fetch crashed", feed_id=claim.feed_id, url=claim.url)
        _record_failure(
            engine,
            claim,
            FetchError("internal", f"internal error: {type(error).__name__}: {error}"),
            settings,
        )
        raise
    except BaseException:  # interrupted (Ctrl-C, worker shutdown): give the feed back
        _release_quietly(engine, claim)
        raise


def _fetch_claimed(
    engine: Engine,
    claim: FeedClaim,
    settings: Settings,
    max_wait_s: float | None,
    require_shared_limits: bool,
    job_id: str | None,
    send_part: SendPart | None,
    send_pages: SendPart | None = None,
) -> FeedFetch:
    with engine.connect() as connection:
        feed = feed_rows.get_feed(connection=connection, feed_id=claim.feed_id)
    if feed is None:
        return FeedFetch(
            feed_id=claim.feed_id,
            url=claim.url,
            outcome="skipped",
            error=f"no feed {claim.feed_id}",
        )
    host = (urlsplit(feed.url).hostname or "").lower()
    gate = host_gate(settings, require_shared=require_shared_limits)
    client = _client(settings)  # before the turn: the request should follow it closely
    with gate.hold(host, max_wait_s=max_wait_s) as turn:
        if not turn.granted:
            return _defer(engine, claim, host, turn.reason, turn.wait_s)
        started = time.monotonic()
        try:
            result = fetch_feed(
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                settings=settings,
                client=client,
                auth=feed.basic_auth,
            )
        except FetchError as error:
            observe_feed_fetch(result=error.kind, seconds=time.monotonic() - started)
            if error.retry_after_s is not None and error.kind in ("rate_limited", "http_503"):
                gate.set_retry_after(host, min(error.retry_after_s, RETRY_AFTER_MAX_S))
            return _record_failure(engine, claim, error, settings)
    observe_feed_fetch(result=str(result.status), seconds=time.monotonic() - started)
    if result.moved_to and result.moved_to != feed.url:
        _follow_move(engine, feed, result.moved_to)
    fetched_at = utcnow()
    if result.status == 304:
        return _record_not_modified(engine, claim, feed, result, fetched_at, settings)
    depth = xml_depth(result.content or b"")
    if depth > settings.max_feed_depth:
        # Before feedparser, which spent ~80 MB per MB of deeply nested markup.
        reason = (
            f"feed markup nested {depth} levels deep exceeds "
            f"NEWS_INGEST_MAX_FEED_DEPTH={settings.max_feed_depth}"
        )
        return _record_failure(engine, claim, FetchError("too_deep", reason), settings)
    parsed = parse_feed(
        result.content or b"", feed_url=result.url, headers=result.headers, fetched_at=fetched_at
    )
    if parsed.version is None and not parsed.entries:
        served = result.headers.get("content-type") or "no content type"
        errors = [
            w
            for w in parsed.warnings
            if w.startswith(("feed parsed with errors", "feed could not be parsed"))
        ]
        reason = f"not a feed: no RSS or Atom content (served as {served})"
        if not (result.content or b"").strip():
            reason = f"not a feed: the document is empty (served as {served})"
        elif errors:
            reason += f"; {errors[0]}"
        return _record_failure(engine, claim, FetchError("not_a_feed", reason), settings)
    return _store_entries(
        engine, claim, feed, result, parsed, fetched_at, settings, job_id, send_part,
        send_pages, require_shared_limits,
    )  # fmt: skip


def _store_entries(
    engine: Engine,
    claim: FeedClaim,
    feed: FeedSource,
    result: FetchResult,
    parsed: ParsedFeed,
    fetched_at: datetime,
    settings: Settings,
    job_id: str | None,
    send_part: SendPart | None,
    send_pages: SendPart | None = None,
    require_shared_limits: bool = False,
) -> FeedFetch:
    articles = [_as_feed_entry(raw, feed.url, result.url, fetched_at) for raw in parsed.entries]
    summary: IngestSummary | None = None
    own_job = job_id is None
    rerun = False
    if own_job and send_part is None:
        # A fetch redelivered under the same claim (its worker died storing the entries)
        # finds the parts it made and runs them again as redeliveries: the entry a dead
        # delivery was on is then rejected alone and remembered (services.isolation),
        # instead of coming back in a new part, with a fresh delivery count, for ever.
        job_id = _claim_job_id(feed.id, claim)
        summary, rerun = _rerun_unfinished_parts(engine, job_id, settings)
    fresh, seen = _not_yet_stored(engine, feed.id, articles, settings)
    gap = not seen and _is_gap(engine, feed, parsed)
    sent = {id(raw) for raw in fresh}
    unchanged = [raw for raw in articles if id(raw) not in sent]
    fresh = full_text.drop_unchanged_teasers(
        engine=engine, feed_id=feed.id, entries=fresh, settings=settings
    ) + full_text.retry_failed_pages(
        engine=engine, feed_id=feed.id, entries=unchanged, settings=settings
    )
    # Full text before the ingest decision: here (the pages read now), or on workers in
    # "full_text" parts of their own task, so slow pages never hold feed fetching.
    with engine.connect() as connection:
        mode = full_text.full_text_mode(
            full_text_rows.feed_full_text_mode(connection=connection, feed_id=feed.id), settings
        )
    later: list[RawArticle] = []
    if send_pages is None:
        reader = full_text.page_reader(settings, require_shared=require_shared_limits)
        # Within the claim's lease: pages still waiting for their host's turn by then keep
        # the feed's text and are asked again at the next fetch.
        fresh = full_text.complete_entries(
            fresh, mode=mode, settings=settings, reader=reader,
            deadline=time.monotonic() + settings.feed_claim_lease_s * 0.75,
        )  # fmt: skip
    else:
        texts = [full_text.feed_text(raw, settings) for raw in fresh]
        later = [
            raw
            for raw, text in zip(fresh, texts, strict=True)
            if full_text.wants_page(raw, mode, text)
        ]
        fresh = [
            full_text.finish_without_page(raw, text)
            for raw, text in zip(fresh, texts, strict=True)
            if not full_text.wants_page(raw, mode, text)
        ]
    documents = [raw.model_dump(mode="json", exclude_defaults=True) for raw in fresh]
    page_documents = [raw.model_dump(mode="json", exclude_defaults=True) for raw in later]
    committed = True
    if documents or page_documents:
        job_id = job_service.create_job(
            engine=engine, request={"feed_id": feed.id, "feed": feed.url}, job_id=job_id
        )
        run_here = RunInline(engine=engine, settings=settings, summary=summary or IngestSummary())
        numbers = job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=documents, batch_size=settings.batch_size,
            send_part=send_part or run_here,
        )  # fmt: skip
        summary = run_here.summary
        if page_documents and send_pages is not None:
            # Committed rows, queued after commit, resumed by jobs.resume if a message is
            # lost: the validators below may be saved.
            full_text.add_full_text_parts(
                engine=engine, job_id=job_id, documents=page_documents, mode=mode,
                send_part=send_pages,
            )  # fmt: skip
        if send_part is not None:
            summary = None  # counted by the caller's send_part
            with engine.connect() as connection:
                committed = feed_rows.parts_finished(
                    connection=connection, job_id=job_id, part_nos=numbers
                )
        if own_job:
            job_service.seal_job(engine=engine, job_id=job_id)
    elif rerun and job_id is not None:
        job_service.seal_job(engine=engine, job_id=job_id)
    choice = _interval(feed, settings, fetched_at, result.headers, parsed, gap=gap)
    interval = choice.seconds
    if gap:
        observe_feed_gap()
        log.warning(
            "feed gap: none of the entries had been seen; entries may have been missed",
            feed_id=feed.id, url=feed.url, entries=len(articles),
            last_fetched_at=feed.last_fetched_at.isoformat() if feed.last_fetched_at else None,
            interval_s=interval,
        )  # fmt: skip
    next_fetch_at = fetched_at + timedelta(seconds=spread(interval))
    with engine.begin() as connection:
        feed_rows.record_success(
            connection=connection, claim=claim, fetched_at=fetched_at,
            # Validators only for entries known to be committed: else the next fetch is a
            # full one and nothing can hide behind a 304.
            etag=result.etag if committed else None,
            last_modified=result.last_modified if committed else None,
            next_fetch_at=next_fetch_at, interval_s=interval, warnings=parsed.warnings,
            title=parsed.title, interval_reason=choice.reason,
            gap_detected_at=fetched_at if gap else None,
        )  # fmt: skip
    outcome = FeedFetch(
        feed_id=feed.id, url=feed.url, outcome="fetched", http_status=result.status,
        entries=len(articles), unchanged=len(articles) - len(fresh) - len(later),
        summary=summary, job_id=job_id if documents or page_documents or rerun else None,
        next_fetch_at=next_fetch_at, warnings=tuple(parsed.warnings), gap=gap,
    )  # fmt: skip
    log.info(
        "feed fetched",
        feed_id=feed.id,
        url=feed.url,
        status=result.status,
        entries=outcome.entries,
        unchanged=outcome.unchanged,
        **(summary.model_dump() if summary else {}),
        interval_s=interval,
    )
    return outcome


def _claim_job_id(feed_id: int, claim: FeedClaim) -> str:
    """The job of one claimed fetch: the same for a `feeds.fetch` redelivered under the
    same claim."""
    key = f"news-ingest:feed-fetch:{feed_id}:{claim.token.isoformat()}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def _rerun_unfinished_parts(
    engine: Engine, job_id: str, settings: Settings
) -> tuple[IngestSummary | None, bool]:
    """Run again the parts an earlier delivery of this claimed fetch left unfinished; their
    counts, and whether there were any."""
    with engine.connect() as connection:
        unfinished = job_rows.unfinished_parts(connection=connection, job_id=job_id)
    if not unfinished:
        return None, False
    log.warning("feed fetch redelivered: running its unfinished parts again", job_id=job_id)
    summary = IngestSummary()
    for part_no in unfinished:
        # Its article parts, and its "full_text" parts, whose pages are then read here
        # (full_text's runner takes both: a part whose pages are read is an article part).
        done = full_text.run_full_text_part(
            engine=engine, job_id=job_id, part_no=part_no, settings=settings,
            require_shared_limits=False,
        )  # fmt: skip
        if done is not None:
            summary += done
    return summary, True


def _as_feed_entry(
    raw: RawArticle, feed_url: str, fetched_from: str, fetched_at: datetime
) -> RawArticle:
    """The entry as this feed's: `source` is the registered feed URL (the sighting's source,
    whatever redirects the fetch followed); a missing date is the fetch time, flagged."""
    extra = dict(raw.extra)
    extra["feed_url"] = feed_url
    if fetched_from != feed_url:
        extra["fetched_from"] = fetched_from
    changes: dict[str, Any] = {"source": feed_url, "extra": extra}
    if raw.published_at is None:
        extra["date_missing"] = True
        extra.setdefault("fetched_at", fetched_at.isoformat())
        changes["published_at"] = fetched_at.isoformat()
    if not raw.body.strip() and raw.title:
        # A headline-only entry (link blogs, some agencies): the title is its text.
        changes["body"] = raw.title
        extra["body_from_title"] = True
    return raw.model_copy(update=changes)


def _not_yet_stored(
    engine: Engine, feed_id: int, articles: Sequence[RawArticle], settings: Settings
) -> tuple[list[RawArticle], int]:
    """The entries that are new, or whose text changed, since this feed last delivered
    them, and how many entries this feed had delivered before (changed or not).
    Re-sending an unchanged entry would only add a sighting per fetch, forever, to a
    feed that ignores conditional GET; an entry seen from another feed is still sent (one
    article, one more sighting)."""
    if not articles:
        return [], 0
    articles = _not_rejected_before(engine, feed_id, articles)
    urls = {
        raw.url: canonical_url(raw.url, keep_fragment=bool(raw.extra.get("fragment_identifies")))
        for raw in articles
        if raw.url
    }
    with engine.connect() as connection:
        by_guid, by_url = feed_rows.known_entries(
            connection=connection, feed_id=feed_id,
            guids=[raw.guid for raw in articles if raw.guid],
            urls=[url for url in urls.values() if url],
        )  # fmt: skip
    if not by_guid and not by_url:
        return list(articles), 0
    fresh = []
    seen = 0
    for raw in articles:
        known = (by_guid.get(raw.guid) if raw.guid else None) or (
            by_url.get(urls.get(raw.url) or "") if raw.url else None
        )
        if known is not None:
            seen += 1
            try:
                text = normalize_as_configured(raw, settings)
            except RejectedInput:
                pass
            else:
                if content_hash(text.body) in known.hashes:
                    continue
        fresh.append(raw)
    return fresh, seen


def _is_gap(engine: Engine, feed: FeedSource, parsed: ParsedFeed) -> bool:
    """A fetch that shows none of the entries seen before: the feed's window moved past
    the last fetch, and what was published in between and already dropped off it was
    missed. Only for a feed that delivered entries before, and not when the document still
    holds an entry dated before the last fetch (then the publisher changed its entries'
    identities rather than moving on)."""
    if feed.last_fetched_at is None or not parsed.entries:
        return False
    if parsed.entry_times and parsed.entry_times[0] < feed.last_fetched_at:
        return False
    with engine.connect() as connection:
        return feed_rows.has_sightings(connection=connection, feed_id=feed.id)


def _not_rejected_before(
    engine: Engine, feed_id: int, articles: Sequence[RawArticle]
) -> list[RawArticle]:
    """The entries not rejected before with the same guid and text (`feed_entry_rejects`):
    a poison entry is dealt with once, not on every fetch of its feed."""
    keys = [
        entry_key(
            storable_text(str(raw.extra.get("feed_url", ""))),
            guid=raw.guid, url=raw.url, title=raw.title, body=raw.body,
        )
        for raw in articles
    ]  # fmt: skip
    with engine.connect() as connection:
        rejected = rejected_entries(
            connection=connection, source_id=feed_id, guid_keys=[key.guid_key for key in keys]
        )
    if not rejected:
        return list(articles)
    kept = [
        raw
        for raw, key in zip(articles, keys, strict=True)
        if (key.guid_key, key.content_key) not in rejected
    ]
    log.info(
        "feed entries rejected before left out", feed_id=feed_id, left_out=len(articles) - len(kept)
    )
    return kept


def _interval(
    feed: FeedSource,
    settings: Settings,
    now: datetime,
    headers: Any,
    parsed: ParsedFeed | None,
    *,
    gap: bool = False,
) -> IntervalChoice:
    if parsed is not None:
        estimate = explain_adaptive(
            parsed.entry_times, now=now, min_s=settings.feed_min_interval_s,
            max_s=settings.feed_max_interval_s, default_s=settings.feed_default_interval_s,
        )  # fmt: skip
        if gap:
            estimate = after_gap(
                estimate, previous_s=feed.fetch_interval_s, min_s=settings.feed_min_interval_s
            )
        ttl = parsed.ttl_s
    else:
        # A 304 tells nothing new about the entries: keep the estimate in force, and why.
        estimate = IntervalChoice(
            feed.fetch_interval_s or settings.feed_default_interval_s,
            feed.interval_reason or "not_modified",
        )
        ttl = None
    fresh_for = max(ttl or 0, parse_cache_headers(headers) or 0) or None
    return choose_interval(
        estimate,
        user_interval_s=feed.interval_s,
        server_fresh_s=fresh_for,
        max_s=settings.feed_max_interval_s,
    )


def _follow_move(engine: Engine, feed: FeedSource, url: str) -> None:
    """The feed answered through permanent redirects only: fetch it at its new URL from
    now on (the publisher asked for it, and it saves them a redirect per fetch)."""
    try:
        with engine.begin() as connection:
            moved = feed_rows.move_feed(connection=connection, feed_id=feed.id, url=url)
    except ValueError as error:  # not an http(s) URL we would register
        log.warning(
            "feed moved to an unusable URL", feed_id=feed.id, url=feed.url, to=url, error=str(error)
        )
        return
    if moved:
        log.info("feed moved permanently", feed_id=feed.id, url=feed.url, to=url)
    else:
        log.warning("feed moved to a URL another source has", feed_id=feed.id, url=feed.url, to=url)


def _record_not_modified(
    engine: Engine, claim: FeedClaim, feed: FeedSource, result: FetchResult,
    fetched_at: datetime, settings: Settings,
) -> FeedFetch:  # fmt: skip
    choice = _interval(feed, settings, fetched_at, result.headers, None)
    next_fetch_at = fetched_at + timedelta(seconds=spread(choice.seconds))
    with engine.begin() as connection:
        feed_rows.record_not_modified(
            connection=connection, claim=claim, fetched_at=fetched_at, etag=result.etag,
            last_modified=result.last_modified, next_fetch_at=next_fetch_at,
            interval_s=choice.seconds, interval_reason=choice.reason,
        )  # fmt: skip
    return FeedFetch(
        feed_id=feed.id,
        url=feed.url,
        outcome="not_modified",
        http_status=304,
        next_fetch_at=next_fetch_at,
    )


def _record_failure(
    engine: Engine, claim: FeedClaim, error: FetchError, settings: Settings
) -> FeedFetch:
    now = utcnow()
    status = int(error.kind[5:]) if error.kind.startswith("http_") else None
    shown = public_fetch_error(error)  # the kind and a fixed text; the details are logged
    with engine.begin() as connection:
        if error.kind == "gone":
            feed_rows.record_gone(connection=connection, claim=claim, message=shown)
            log.warning("feed gone: disabled", feed_id=claim.feed_id, url=claim.url)
            return FeedFetch(
                feed_id=claim.feed_id,
                url=claim.url,
                outcome="gone",
                error=shown,
                http_status=410,
            )
        current = feed_rows.get_feed(connection=connection, feed_id=claim.feed_id, for_update=True)
        failures = (current.error_count if current else 0) + 1
        delay = backoff_delay(
            failures,
            base_s=settings.feed_min_interval_s,
            cap_s=settings.feed_max_interval_s,
            retry_after_s=error.retry_after_s,
        )
        next_fetch_at = now + timedelta(seconds=delay)
        retry_until = (
            now + timedelta(seconds=min(error.retry_after_s, RETRY_AFTER_MAX_S))
            if error.retry_after_s
            else None
        )
        feed_rows.record_failure(
            connection=connection,
            claim=claim,
            message=shown,
            next_fetch_at=next_fetch_at,
            retry_after_until=retry_until,
        )
    log.warning(
        "feed fetch failed",
        feed_id=claim.feed_id,
        url=claim.url,
        kind=error.kind,
        error=str(error),
        failures=failures,
        next_fetch_at=next_fetch_at.isoformat(),
    )
    if error.kind == "rate_limited":
        status = status or 429
    return FeedFetch(
        feed_id=claim.feed_id,
        url=claim.url,
        outcome="failed",
        error=shown,
        http_status=status,
        next_fetch_at=next_fetch_at,
    )


def _defer(engine: Engine, claim: FeedClaim, host: str, reason: str, wait_s: float) -> FeedFetch:
    """Not fetched for politeness: due again when the host allows, with no error."""
    until = utcnow() + timedelta(seconds=max(wait_s, 1.0))
    with engine.begin() as connection:
        feed_rows.defer_feed(
            connection=connection, claim=claim, until=until, retry_after=reason == "retry_after"
        )
    if reason == "retry_after":
        message = (
            f"not fetched: {host} asked us to wait until {until.isoformat(timespec='seconds')}"
        )
    else:
        message = f"not fetched: {host} is at its per-host limit; due again shortly"
    return FeedFetch(
        feed_id=claim.feed_id, url=claim.url, outcome="deferred", error=message, next_fetch_at=until
    )


def _refused(engine: Engine, refusal: ClaimRefused) -> FeedFetch:
    with engine.connect() as connection:
        feed = feed_rows.get_feed(connection=connection, feed_id=refusal.feed_id)
    return FeedFetch(
        feed_id=refusal.feed_id,
        url=feed.url if feed else "",
        outcome="skipped",
        error=f"not fetched: {refusal.message}",
        next_fetch_at=refusal.until,
    )


def _release_quietly(engine: Engine, claim: FeedClaim) -> None:
    try:
        with engine.begin() as connection:
            feed_rows.release_claim(connection=connection, claim=claim)
    except _INFRASTRUCTURE_FAULTS:
        pass  # the lease runs out by itself


def _finish_feed_part(
    engine: Engine, part: job_rows.PartClaim, summary: IngestSummary, *, status: JobStatus,
    error: str | None, counted: bool = True,
) -> IngestSummary | None:  # fmt: skip
    """Mark the feed part finished. Its entries were counted by their own article parts,
    so the feed part itself adds nothing (`counted=False`)."""
    with engine.begin() as connection:
        if not job_rows.lock_part_if_open(
            connection=connection, job_id=part.job_id, part_no=part.part_no
        ):
            return None
        job_rows.finish_part(
            connection=connection,
            job_id=part.job_id,
            part_no=part.part_no,
            summary=summary if counted else IngestSummary(),
            status=status,
            error=error,
        )
    return summary


def _load_retry_afters(engine: Engine, gate: HostGate) -> None:
    """Without Redis, the hosts' Retry-Afters recorded on their feeds seed this process's
    gate, so `feeds fetch --all` still never goes before one."""
    now = utcnow()
    with engine.connect() as connection:
        feeds = feed_rows.list_feeds(connection=connection)
    for feed in feeds:
        if feed.retry_after_until is not None and feed.retry_after_until > now:
            host = (urlsplit(feed.url).hostname or "").lower()
            gate.set_retry_after(host, (feed.retry_after_until - now).total_seconds())


# A forked child makes its own (the sockets are the parent's).
FEED_CLIENTS: Kind[FeedClient] = Kind("feed client", close=FeedClient.close)


def _client(settings: Settings) -> FeedClient:
    """One pooled client per process and configuration."""
    key = (
        settings.allow_private_networks,
        settings.fetch_connect_timeout,
        settings.fetch_total_timeout,
    )
    return resources.get(FEED_CLIENTS, key, lambda: new_client(settings, max_connections=50))


def summarize(results: Iterable[FeedFetch]) -> dict[str, int]:
    """Totals over many fetches: outcomes and the ingest counts of what was sent."""
    totals = dict.fromkeys(
        (
            "feeds",
            "fetched",
            "not_modified",
            "failed",
            "gone",
            "deferred",
            "skipped",
            "entries",
            "unchanged",
        ),
        0,
    )
    counts = IngestSummary()
    for result in results:
        totals["feeds"] += 1
        totals[result.outcome] += 1
        totals["entries"] += result.entries
        totals["unchanged"] += result.unchanged
        if result.summary is not None:
            counts += result.summary
    return totals | counts.model_dump()
