"""`GET /metrics`: Prometheus metrics read from the shared state, not from this process.

Every number here comes from the database or the broker at scrape time, so it is the same
whichever API process answers and however many workers there are: articles by outcome
(summed job counters), job and feed health, queue depth. Scrapes are cached for a few
seconds so several scrapers cost the database one round of queries. Task and feed-fetch
durations are measured where they happen, in the workers (worker/metrics.py). The route
hands in the engine it was given (worker.api.deps), so an overridden database is scraped.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from schemas import JobStatus
from worker.services.stats import StoreHealth, store_health
from worker.settings import get_settings

log = structlog.get_logger(__name__)

OUTCOMES = {
    "new": "new",
    "duplicates": "duplicate",
    "near_duplicates": "near_duplicate",
    "rejected": "rejected",
}
# kombu's Redis transport keeps one list per priority step besides the plain queue name.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
FEED_OVERDUE_AFTER = timedelta(minutes=5)
FEED_GAP_WINDOW = timedelta(days=1)


class StoreMetrics:
    """One app's metrics, from the database and the broker's Redis, collected at most once
    per `cache_s` for the same engine provider (several scrapers, one round of queries)."""

    def __init__(
        self, *, redis: Callable[[], object], queues: Iterable[str], cache_s: float = 5.0
    ) -> None:
        self._redis = redis
        self._queues = tuple(queues)
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[Callable[[], Engine], float, list[Metric]] | None = None

    def render(self, engine: Callable[[], Engine]) -> bytes:
        """The Prometheus text exposition of one scrape. `engine` is called inside the
        scrape's error handling: a database that cannot be opened is database_up 0."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collected(self.collect(engine)))
        return generate_latest(registry)

    def collect(self, engine: Callable[[], Engine]) -> list[Metric]:
        with self._lock:
            now = time.monotonic()
            cached = self._cached
            if cached is None or cached[0] is not engine or now - cached[1] > self._cache_s:
                cached = (engine, now, [*self._from_database(engine), *self._from_broker()])
                self._cached = cached
            return list(cached[2])

    def _from_database(self, engine: Callable[[], Engine]) -> list[Metric]:
        up = GaugeMetricFamily(
            "news_ingest_database_up", "1 when the metrics scrape could read the database."
        )
        try:
            metrics = _database_metrics(_read_health(engine()))
        except Exception as error:  # a scrape must answer even when the database does not
            log.warning("metrics: database unavailable", error=f"{type(error).__name__}: {error}")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *metrics]

    def _from_broker(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "news_ingest_broker_up", "1 when the metrics scrape could read the broker's Redis."
        )
        depth = GaugeMetricFamily(
            "news_ingest_queue_depth",
            "Messages waiting in the Celery queue (Redis LLEN).",
            labels=["queue"],
        )
        unacked = GaugeMetricFamily(
            "news_ingest_queue_unacked",
            "Messages delivered to a worker and not yet acknowledged (running or prefetched).",
        )
        try:
            client = self._redis()
            pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
            for queue in self._queues:
                pipe.llen(queue)
                for step in _PRIORITY_STEPS:
                    pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
            pipe.hlen("unacked")
            lengths = pipe.execute()
        except Exception as error:  # as above, for the broker
            log.warning("metrics: broker unavailable", error=f"{type(error).__name__}: {error}")
            up.add_metric([], 0)
            return [up]
        per_queue = 1 + len(_PRIORITY_STEPS)
        for index, queue in enumerate(self._queues):
            depth.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
        unacked.add_metric([], lengths[-1])
        up.add_metric([], 1)
        return [up, depth, unacked]


class _Collected(Collector):
    """Metrics already collected, for the registry that renders them."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def _read_health(engine: Engine) -> StoreHealth:
    return store_health(
        engine=engine,
        stall_after=timedelta(seconds=get_settings().job_stall_s),
        overdue_after=FEED_OVERDUE_AFTER,
        gap_window=FEED_GAP_WINDOW,
    )


def _database_metrics(health: StoreHealth) -> list[Metric]:
    totals = health.ingest
    ingested = CounterMetricFamily(
        "news_ingest_articles_ingested",
        "Inputs ingested, by outcome (received = new + duplicate + near_duplicate + rejected).",
        labels=["outcome"],
    )
    for field, outcome in OUTCOMES.items():
        ingested.add_metric([outcome], getattr(totals, field))
    received = CounterMetricFamily("news_ingest_articles_received", "Inputs received by jobs.")
    received.add_metric([], totals.received)

    jobs = GaugeMetricFamily("news_ingest_jobs", "Ingestion jobs by status.", labels=["status"])
    for job_status in JobStatus:
        jobs.add_metric([job_status], health.jobs_by_status.get(job_status, 0))
    oldest_age = GaugeMetricFamily(
        "news_ingest_oldest_unfinished_job_age_seconds",
        "Age of the oldest queued or running job; 0 when every job is finished.",
    )
    oldest_age.add_metric([], health.oldest_unfinished_job_age_s)
    stalled = GaugeMetricFamily(
        "news_ingest_stalled_job_parts",
        "Job parts queued or running with no progress for NEWS_INGEST_JOB_STALL_S "
        "(jobs.resume re-enqueues them; a steady non-zero value means a job is stuck).",
    )
    stalled.add_metric([], health.stalled_parts)

    feeds = GaugeMetricFamily("news_ingest_feeds", "Registered feeds by status.", labels=["status"])
    feed_status = health.feeds_by_status
    for status in sorted({"active", "error", "gone", "removed", *feed_status}):
        feeds.add_metric([status], feed_status.get(status, 0))
    overdue = GaugeMetricFamily(
        "news_ingest_feeds_overdue",
        "Enabled feeds more than 5 minutes past their next fetch time (scheduling is behind).",
    )
    overdue.add_metric([], health.overdue_feeds)
    failing = GaugeMetricFamily(
        "news_ingest_feed_consecutive_errors",
        "Consecutive failed fetches of each failing feed, with the kind of its last error.",
        labels=["feed", "error_kind"],
    )
    failing_by_kind = GaugeMetricFamily(
        "news_ingest_feeds_failing",
        "Feeds whose last fetch failed, by kind of error.",
        labels=["error_kind"],
    )
    kinds: dict[str, int] = {}
    for feed in health.failing_feeds:
        kind = classify_feed_error(feed.last_error)
        failing.add_metric([feed.url, kind], feed.error_count)
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in sorted(kinds.items()):
        failing_by_kind.add_metric([kind], count)
    gaps = GaugeMetricFamily(
        "news_ingest_feeds_with_gap",
        "Feeds whose fetches in the last 24 hours found a gap: none of the entries already "
        "seen, so entries may have been missed (their interval was halved).",
    )
    gaps.add_metric([], health.feeds_with_gap)
    return [
        ingested, received, jobs, oldest_age, stalled, feeds, overdue, failing, failing_by_kind,
        gaps,
    ]  # fmt: skip


_STATED_KIND = re.compile(r"^([a-z][a-z0-9_]{1,30}): ")
_HTTP_STATUS = re.compile(r"\bHTTP[ :/]*([1-5]\d\d)\b", re.IGNORECASE)
# The kinds of worker.sources.fetch.FetchError, recognised from the message it leaves in
# `sources.last_error`; first match wins.
_ERROR_KINDS = (
    ("internal", re.compile(r"^internal error", re.IGNORECASE)),
    ("timeout", re.compile(r"timed out|time-?out|deadline", re.IGNORECASE)),
    ("ssrf_refused", re.compile(r"non-public|unix socket|private network|ssrf", re.IGNORECASE)),
    ("too_large", re.compile(r"too large|over the .*cap", re.IGNORECASE)),
    ("redirect_loop", re.compile(r"redirect", re.IGNORECASE)),
    ("dns", re.compile(r"\bdns\b|name or service not known|getaddrinfo", re.IGNORECASE)),
    ("tls", re.compile(r"\bssl\b|\btls\b|certificate", re.IGNORECASE)),
    (
        "invalid_url",
        re.compile(r"invalid url|only http and https|url without a host", re.IGNORECASE),
    ),
    ("decode", re.compile(r"content-encoding|compressed body|decod", re.IGNORECASE)),
    ("connect", re.compile(r"connect|connection|reset|unreachable|refused", re.IGNORECASE)),
    ("not_a_feed", re.compile(r"not a feed|pars|\bxml\b|malformed", re.IGNORECASE)),
)


def classify_feed_error(message: str | None) -> str:
    """A small, fixed set of label values for a feed's last error message: `http_404`,
    `timeout`, `connect`, `ssrf_refused`, ... (`other` when nothing matches)."""
    if not message:
        return "unknown"
    stated = _STATED_KIND.match(message)  # `<kind>: ...`, as worker.errors stores it
    if stated:
        return stated.group(1)
    status = _HTTP_STATUS.search(message)
    if status:
        return f"http_{status.group(1)}"
    for kind, pattern in _ERROR_KINDS:
        if pattern.search(message):
            return kind
    return "other"
