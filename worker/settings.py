"""The one place for configuration: environment variables read by pydantic-settings."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BOILERPLATE = (
    "advertisment",
    "advertisement",
    "advertisements",
    "sponsored content",
    "story continues below advertisement",
    "continue reading below",
    "scroll to continue with content",
    "subscribe to our newsletter",
    "share this article",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWS_INGEST_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///news.db",
        validation_alias=AliasChoices("DATABASE_URL", "NEWS_INGEST_DATABASE_URL"),
    )
    broker_url: str = Field(
        default="redis://localhost:6379/0",
        validation_alias=AliasChoices("BROKER_URL", "NEWS_INGEST_BROKER_URL"),
    )
    # Redis for shared state other than the queue (per-host politeness, event stream);
    # defaults to the broker's Redis.
    redis_url: str | None = None

    # Batching and limits: a hostile producer cannot make a worker allocate without bound.
    # Files per part. Measured (bench/ingest_bench.py, 20k articles, celery -c 2 on Postgres):
    # 500 -> 2,095 art/s at 141 MiB per worker, 1000 -> 2,429 at 167 MiB, 2000 -> 2,485 at
    # 224 MiB. Larger batches read each popular candidate once for more articles and pay the
    # per-batch statements less often; past 1000 the gain is small and the memory is not.
    batch_size: int = Field(default=1000, ge=1, le=5000)
    max_batch_size: int = Field(default=5000, ge=1)
    max_article_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_task_deliveries: int = Field(default=5, ge=1)

    # Normalization
    boilerplate: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE)
    )
    title_max_chars: int = Field(default=200, ge=20)

    # Near-duplicate detection (see worker/pipeline/dedup.py for what each knob does)
    near_dup_threshold: float = Field(default=0.6, gt=0.0, le=1.0)
    # Containment (share of the shorter text found in the longer) counts at
    # `near_dup_threshold` when the Jaccard is at least `containment_min_jaccard`, and
    # alone only from `near_dup_containment_threshold`: a story quoting a few sentences of
    # another contains that other's lead-only copy at 0.6-0.7, with a Jaccard under 0.2.
    near_dup_containment_threshold: float = Field(default=0.75, gt=0.0, le=1.0)
    containment_min_jaccard: float = Field(default=0.2, ge=0.0, le=1.0)
    # An edited copy of a short article (a sentence or two of three rewritten) shares about
    # 0.5-0.6 of its shingles and a Jaccard of 0.3-0.45. Two different stories come that
    # close through a shared notice, which is left out of comparisons once two articles
    # hold it (`normalize.looks_like_notice`), or through one long shared quote:
    edited_copy_containment: float = Field(default=0.5, gt=0.0, le=1.0)
    edited_copy_jaccard: float = Field(default=0.3, gt=0.0, le=1.0)
    # ... and only when they share several passages (runs of 4+ shingles): two short
    # stories of one event that quote one long sentence reach those figures too.
    edited_copy_passages: int = Field(default=2, ge=1)
    # Containment between NEAR_DUP_THRESHOLD and NEAR_DUP_CONTAINMENT_THRESHOLD also needs
    # more than one quoted sentence shared: several passages, one this long (~33 words),
    # or the opening of the longer text. Short copies of two stories of one event that
    # both quote a sentence share just that sentence, at containment 0.6-0.7.
    single_passage_min_shingles: int = Field(default=30, ge=1)
    # A text close to two stories merges them if it holds on Jaccard this high with the
    # other one, or holds `story_bridge_share` of its article and the parts of it each
    # story shares overlap (see `pipeline.candidates.Candidates.same_story`): containment
    # alone is not enough, as a round-up quotes the leads of many stories.
    story_merge_jaccard: float = Field(default=0.7, gt=0.0, le=1.0)
    # 0.4, not less: a short copy of one story that holds the sentence another story quotes
    # holds ~0.3 of that other story, and the shared parts overlap (they are the quote).
    story_bridge_share: float = Field(default=0.4, gt=0.0, le=1.0)
    # Members of a story read as candidates when its indexed article is an uncertain match.
    story_candidates: int = Field(default=50, ge=1)
    shingle_words: int = Field(default=4, ge=1, le=10)
    minhash_perms: int = Field(default=128, ge=16, le=512)
    lsh_bands: int = Field(default=16, ge=1)
    lsh_rows: int = Field(default=1, ge=1)
    # Keys of the opening (see worker/pipeline/dedup.py): a MinHash of the first
    # `lead_shingles` shingles, `lead_bands` single-row bands; 0 bands turns them off.
    lead_bands: int = Field(default=8, ge=0, le=64)
    lead_shingles: int = Field(default=50, ge=5)
    # Candidates whose signature estimate is this far below the threshold are not verified.
    estimate_margin: float = Field(default=0.2, ge=0.0, le=1.0)
    # Containment (share of the shorter text found in the longer) counts only when the
    # shorter text has at least this many shingles: a footer alone never reaches it.
    min_containment_shingles: int = Field(default=20, ge=1)
    # A shorter text (a one-sentence lead, a feed's summary) is a copy only as the opening
    # of the longer text, nearly word for word, and from this many shingles.
    short_lead_min_shingles: int = Field(default=10, ge=1)
    short_lead_containment: float = Field(default=0.9, gt=0.0, le=1.0)
    # A paragraph seen in this many distinct stories (footers, disclaimers) is left out of
    # comparisons. Two is too few: one story split in two would lose its own lead.
    common_paragraph_stories: int = Field(default=3, ge=2, le=3)

    # Feeds
    fetch_connect_timeout: float = 10.0
    fetch_total_timeout: float = 30.0
    fetch_max_bytes: int = 15 * 1024 * 1024
    fetch_max_redirects: int = 5
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_rate_per_minute: int = Field(default=60, ge=1)
    feed_min_interval_s: int = 5 * 60
    feed_max_interval_s: int = 24 * 3600
    feed_default_interval_s: int = 30 * 60
    # A scheduled fetch waits this long for its host's turn (per-host concurrency and
    # spacing) before it is put back for the next beat tick rather than hold a worker.
    per_host_max_wait_s: float = Field(default=10.0, ge=0.0)
    # Feeds claimed per `feeds.schedule_due` tick, and how long a claim holds a feed (a
    # killed worker's feed is claimable again after this).
    feed_schedule_limit: int = Field(default=500, ge=1)
    feed_claim_lease_s: int = Field(default=1200, ge=60)
    allow_private_networks: bool = False

    # Jobs: a part with no progress for this long is re-enqueued by jobs.resume
    job_stall_s: int = Field(default=120, ge=5)

    # Outbound events (worker/services/events.py): the Redis stream keeps about this many
    # entries (XADD MAXLEN ~); the relay publishes this many outbox rows per transaction
    # and, as a long-running command, polls the outbox this often when it is idle.
    events_maxlen: int = Field(default=1_000_000, ge=1000)
    relay_batch: int = Field(default=500, ge=1, le=10_000)
    # Published outbox rows that every enabled webhook subscriber has had are deleted after
    # this long (hourly, `events.prune`); 0 keeps them all.
    events_retention_s: float = Field(default=7 * 86400, ge=0)
    relay_poll_s: float = Field(default=0.5, gt=0.0, le=60.0)
    # Webhooks (worker/services/webhooks.py): per-request timeout, backoff cap, and how long
    # an event may stay undeliverable before it is skipped (with the failure recorded).
    webhook_timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    webhook_backoff_max_s: int = Field(default=3600, ge=1)
    webhook_give_up_s: int = Field(default=24 * 3600, ge=1)
    # Seed directories: default rescan interval, and how long a file's size and mtime must
    # stay unchanged before it is read (a file being written is never ingested half-written).
    seed_dir_interval_s: int = Field(default=300, ge=1)
    seed_settle_s: float = Field(default=1.0, ge=0.0, le=600.0)

    # Retention (worker/services/retention.py, beat's `retention.prune` hourly; 0 keeps all):
    # finished job parts drop their payload (seed paths, article documents) after
    # `part_payload_retention_s`; finished jobs and their parts are deleted after
    # `job_retention_s`; rejects after `reject_retention_s`, their raw bytes capped at
    # `reject_raw_max_bytes` when stored; each article keeps its `revisions_kept` latest
    # earlier texts.
    part_payload_retention_s: int = Field(default=86400, ge=0)
    job_retention_s: int = Field(default=30 * 86400, ge=0)
    reject_retention_s: int = Field(default=30 * 86400, ge=0)
    reject_raw_max_bytes: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    revisions_kept: int = Field(default=10, ge=0)

    # HTTP API (`news-ingest serve`): with this key set, every route but /healthz and
    # /readyz needs it, as `Authorization: Bearer KEY` or `X-API-Key: KEY`; `serve` refuses
    # a non-loopback address without it.
    api_key: str | None = None
    api_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Directories `POST /jobs` may read seed paths from (comma-separated); empty: `paths`
    # are refused (fail closed).
    api_seed_roots: str = ""
    # A key that reads (GET) but never writes: for Prometheus and dashboards.
    api_read_key: str | None = None
    # Host names the API answers to besides localhost, 127.0.0.1, [::1] and the address it
    # is bound to (comma-separated; "*" for any): a web page that rebinds its own name to
    # 127.0.0.1 gets a 400, not the API.
    api_allowed_hosts: str = ""
    # The address `serve --host` bound (set by `serve` for its server processes).
    api_bind_host: str | None = None
    # A page of GET /articles stops before its titles and bodies pass this many characters
    # (at least one article; follow `next_cursor` for the rest).
    api_max_page_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)

    # Worker metrics: a Prometheus endpoint on this port in each worker's main process
    # (see worker/metrics.py); off when unset.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Postgres timeouts (0 turns one off): one frozen or partitioned lock holder must not
    # stop every worker. A statement waits at most `db_lock_timeout_s` for a lock (the dedup
    # lock included; the batch is then retried like any database fault), a session idle
    # inside a transaction is ended after `db_idle_in_transaction_timeout_s` (its locks go
    # with it), an API statement runs at most `api_statement_timeout_s`, and a migration
    # waits at most `migration_lock_timeout_s` for a table lock (`db upgrade` retries).
    db_lock_timeout_s: float = Field(default=60.0, ge=0.0)
    db_idle_in_transaction_timeout_s: float = Field(default=300.0, ge=0.0)
    api_statement_timeout_s: float = Field(default=30.0, ge=0.0)
    migration_lock_timeout_s: float = Field(default=10.0, ge=0.0)
    # The event stream's Redis (NEWS_INGEST_EVENTS_REDIS_URL), so a flood of events cannot
    # fill the broker's memory; default: NEWS_INGEST_REDIS_URL, else the broker's.
    events_redis_url: str | None = None
    # What the worker, beat and relay do at start when a Redis they write to would evict
    # keys it needs (`maxmemory-policy allkeys-*`: queued messages vanish silently):
    # refuse to start, warn, or skip the check.
    redis_eviction_check: str = Field(default="refuse", pattern="^(refuse|warn|off)$")
    # Hostile input (issue 19): CPU seconds one article's normalization may use (checked
    # between its stages, in the thread's CPU time); over it, the article is rejected with
    # the reason. Every parser is linear, so this only catches what no one foresaw: a
    # 5 MiB HTML article takes ~0.2 s, the costliest hostile shapes tested ~3 s per MB.
    article_cpu_budget_s: float = Field(default=30.0, gt=0)
    # Full text of feed entries (worker/services/full_text.py): a feed's default mode
    # (auto: fetch the linked page of teasers only; always; never), the page text shorter
    # than this is "too little text" and the feed's text is kept, and robots.txt is cached
    # per host this long. A robots.txt Crawl-delay above the cap is honoured as the cap.
    full_text: str = Field(default="auto", pattern="^(auto|always|never)$")
    full_text_min_chars: int = Field(default=200, ge=1)
    full_text_workers: int = Field(default=8, ge=1, le=64)
    robots_cache_s: int = Field(default=3600, ge=0)
    robots_max_crawl_delay_s: float = Field(default=30.0, ge=0.0)
    # A queue of its own for `feeds.full_text` (pages wait on hosts, not on CPU): consumed by
    # a worker started with `-Q` that queue, so page reading never takes the slots feed
    # fetches and ingest batches need. Unset: the default queue.
    full_text_queue: str | None = None
    # Hostile input (issue 19): limits checked before the database or the JSON decoder.
    # Per RawArticle, in UTF-8 bytes: the URL, guid and source sit in btree indexes, whose
    # entries Postgres refuses past 2,704 bytes (a 6,000-character URL failed its batch).
    max_url_bytes: int = Field(default=2048, ge=64)
    max_guid_bytes: int = Field(default=1024, ge=16)
    max_source_bytes: int = Field(default=2048, ge=64)
    max_title_bytes: int = Field(default=16 * 1024, ge=256)
    # `extra`: keys and list items counted at every level, nesting depth, size as JSON.
    max_extra_items: int = Field(default=512, ge=1)
    max_extra_depth: int = Field(default=8, ge=1)
    max_extra_bytes: int = Field(default=64 * 1024, ge=256)
    # A task message or `POST /jobs` body, scanned before it is decoded: its size, its JSON
    # nesting depth and its number of JSON values. Decoding 200,000 tiny items took a
    # worker to 511 MB; 100,000 levels of nesting killed it (RecursionError).
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=8)
    max_message_items: int = Field(default=250_000, ge=100)
    # Feed documents: XML element nesting, checked before feedparser (which spent ~80 MB
    # per MB of deeply nested markup).
    max_feed_depth: int = Field(default=256, ge=16)

    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "INFO"

    # The Celery queue that `enqueue`, the API and beat send work to, and that workers must
    # consume (`celery -A worker.app worker -Q <queue>`): a worker on another queue gets nothing.
    queue: str = Field(default="news-ingest", min_length=1, pattern=r"^[A-Za-z0-9._:-]+$")

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str) -> str:
        # Compose files and PaaS hand out postgres:// URLs; SQLAlchemy wants a driver name.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("boilerplate", mode="before")
    @classmethod
    def _split_boilerplate(cls, value: object) -> object:
        # Accept a comma-separated env var as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def shared_redis_url(self) -> str:
        return self.redis_url or self.broker_url

    @property
    def stream_redis_url(self) -> str:
        """The Redis of the event stream `news-ingest:events`."""
        return self.events_redis_url or self.shared_redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
