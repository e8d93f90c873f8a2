"""Full text of feed entries, read before the ingest decision: which entries are teasers,
their pages fetched (robots.txt asked first, the feed fetcher, the host's turn shared with
feed fetches) and their main text extracted, so each article is stored and deduplicated
once, with its whole text.

`news-ingest feeds fetch` reads the pages in its own process before it returns
(`complete_entries`). On workers, entries that want their page go into a "full_text" part
of the feed's job, run by its own task (`feeds.full_text`, `run_full_text_part`), so slow
pages never hold feed fetching; once read, the part becomes an "articles" part and is
ingested like any other.

What a RawArticle's `extra` says afterwards (read by worker/pipeline/metadata.py):
`body_source` "page" (body: the page's text; `summary`: the feed's own text) or "feed"
(body: the feed's text; `full_text_error`: why no page text was used, when one was
wanted), and `language` (entry, channel, page, else detected).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationError
from sqlalchemy import Engine

from schemas import IngestSummary, RawArticle
from worker.errors import FetchError, RejectedInput
from worker.pipeline.language import detect_language
from worker.pipeline.metadata import language_tag
from worker.pipeline.normalize import canonical_url, normalize_as_configured
from worker.resources import Kind, resources
from worker.services.batches import run_articles_part
from worker.services.jobs import SendPart, add_article_parts, claim_open_part
from worker.services.politeness import HostGate, host_gate
from worker.settings import Settings, get_settings
from worker.sources.fetch import FeedClient, FetchResult, fetch_page, new_client
from worker.sources.page import PageArticle, extract_page
from worker.sources.robots import RobotsCache
from worker.storage import full_text as full_text_rows
from worker.storage import jobs as job_rows
from worker.storage.models import utcnow

__all__ = [
    "DESCRIPTION_ONLY_MAX_CHARS",
    "READERS",
    "TEASER_MAX_CHARS",
    "PageReader",
    "PageRefused",
    "add_full_text_parts",
    "complete_entries",
    "drop_unchanged_teasers",
    "feed_text",
    "finish_without_page",
    "full_text_mode",
    "page_reader",
    "retry_failed_pages",
    "run_full_text_part",
    "teaser_reason",
    "wants_page",
]

log = structlog.get_logger(__name__)

# The teaser rule (bench/full_text_bench.py measures it on the saved pages): a feed text
# shorter than TEASER_MAX_CHARS is a teaser: the leads (first paragraph) of the saved
# articles are 10-1,150 characters, median 230, while their whole texts are 200-43,600,
# median 1,900. A description without content (no content:encoded, no Atom content) is a
# teaser up to DESCRIPTION_ONLY_MAX_CHARS: two lead paragraphs reach 1,500 characters.
# Any length that ends in an ellipsis or a "read more" link is one too.
TEASER_MAX_CHARS = 500
DESCRIPTION_ONLY_MAX_CHARS = 1500
_TRUNCATED = re.compile(
    r"(?:…|\.\.\.|\[…\]|\[\.\.\.\]|\(…\)|\(more\)|read more|read the full (?:story|article)"
    r"|continue reading|keep reading|weiterlesen|mehr lesen|lire la suite"
    r"|en savoir plus|leer más|seguir leyendo|leia mais|continua a leggere|lees verder"
    r"|appeared first on .{1,200})\W*$",
    re.IGNORECASE,
)
# A page marked not free whose text is under this many times the feed's (or the minimum)
# is a paywall's stub.
PAYWALL_STUB_FACTOR = 3
# Page reads that failed for these reasons are tried again at the feed's next fetches,
# for a day after the article was stored.
_PASSING_FAILURES = (
    "timeout:", "host_busy:", "connect:", "network:", "dns:", "protocol:", "rate_limited:",
    "http_5", "robots: robots.txt unreachable",
)  # fmt: skip
RETRY_PAGES_FOR = timedelta(days=1)
# Parts of the full-text task: pages of one host come one per second by default, so a
# part this size ends well inside the task's time limit.
PAGES_PER_PART = 100


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", ""})
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body|p|div|article)\b", re.IGNORECASE)


def _looks_like_html(content: bytes) -> bool:
    return _HTML_START.search(content[:4096]) is not None


class PageRefused(Exception):
    """Why a page's text is not used; `str()` is the `full_text_error`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# ---------------------------------------------------------------------------------------
# Which entries want their page


def full_text_mode(feed_mode: str | None, settings: Settings) -> str:
    """A feed's mode: its own, else NEWS_INGEST_FULL_TEXT."""
    return feed_mode or settings.full_text


def feed_text(raw: RawArticle, settings: Settings) -> str:
    """The entry's own text, normalized as it would be stored (empty if none)."""
    try:
        return normalize_as_configured(raw, settings).body
    except RejectedInput:
        return ""


def teaser_reason(raw: RawArticle, text: str) -> str | None:
    """Why the entry's text (`text`, normalized) looks like a teaser, or None."""
    if raw.extra.get("body_from_title") or not text:
        return "title only"
    if len(text) < TEASER_MAX_CHARS:
        return "short"
    if _TRUNCATED.search(text[-300:]):
        return "truncated"
    if raw.extra.get("has_content") is False and len(text) < DESCRIPTION_ONLY_MAX_CHARS:
        return "description only"
    return None


def wants_page(raw: RawArticle, mode: str, text: str) -> bool:
    if mode == "never" or not raw.url:
        return False
    return mode == "always" or teaser_reason(raw, text) is not None


# ---------------------------------------------------------------------------------------
# Reading pages


class PageReader:
    """Reads article pages for one process: the pooled client (the feed fetcher's, with
    its SSRF guard), the host gate shared with feed fetches, and robots.txt per site."""

    def __init__(self, settings: Settings, *, gate: HostGate, client: FeedClient) -> None:
        self.settings = settings
        self.gate = gate
        self.client = client
        self.robots = RobotsCache(fetch=self._fetch_robots, ttl_s=settings.robots_cache_s)
        self._deadline = threading.local()

    def close(self) -> None:
        self.client.close()

    def read(self, url: str, *, deadline: float | None = None) -> tuple[PageArticle, str]:
        """The page's article and its final URL; raises `PageRefused`."""
        self._deadline.value = deadline
        rules = self.robots.rules_for(url)
        if not rules.allows(url):
            raise PageRefused("robots", rules.note or "robots.txt disallows this page")
        delay = rules.crawl_delay_s
        if delay is not None:
            delay = min(delay, self.settings.robots_max_crawl_delay_s)
        result = self._get(url, spacing_s=delay)
        kind = (result.headers.get("content-type") or "text/html").split(";")[0].strip().lower()
        if kind not in _HTML_TYPES and not _looks_like_html(result.content or b""):
            # Static servers label saved pages application/octet-stream: the bytes decide.
            raise PageRefused("not_html", f"the page is {kind}, not HTML")
        try:
            page = extract_page(
                result.content or b"",
                url=result.url,
                content_language=result.headers.get("content-language"),
            )
        # A third-party parser on a hostile page: its failure is this page's, never the
        # feed's (which would be recorded as failed and lose every other entry).
        except Exception as error:
            raise PageRefused("extract_failed", f"{type(error).__name__}: {error}") from error
        return page, result.url

    def _get(self, url: str, *, spacing_s: float | None = None) -> FetchResult:
        host = (urlsplit(url).hostname or "").lower()
        deadline = getattr(self._deadline, "value", None)
        max_wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        with self.gate.hold(host, max_wait_s=max_wait, spacing_s=spacing_s) as turn:
            if not turn.granted:
                if turn.reason == "retry_after":
                    raise PageRefused("host_busy", f"{host} asked us to wait (Retry-After)")
                raise PageRefused("host_busy", f"no turn for {host} in time")
            try:
                return fetch_page(url, settings=self.settings, client=self.client)
            except FetchError as error:
                if error.retry_after_s is not None and error.kind in ("rate_limited", "http_503"):
                    self.gate.set_retry_after(host, error.retry_after_s)
                raise

    def _fetch_robots(self, url: str) -> FetchResult:
        try:
            return self._get(url)
        except PageRefused as refused:  # no turn: treated like an unreachable robots.txt
            raise FetchError("host_busy", str(refused)) from refused


# A forked child makes its own (its client's sockets are the parent's).
READERS: Kind[PageReader] = Kind("page reader", close=PageReader.close)


def page_reader(settings: Settings, *, require_shared: bool) -> PageReader:
    """The process's reader for these settings."""
    key = (
        require_shared,
        settings.allow_private_networks,
        settings.fetch_total_timeout,
        settings.fetch_connect_timeout,
        settings.shared_redis_url,
    )

    def make() -> PageReader:
        gate = host_gate(settings, require_shared=require_shared)
        return PageReader(settings, gate=gate, client=new_client(settings, max_connections=50))

    return resources.get(READERS, key, make)


# ---------------------------------------------------------------------------------------
# Entries


def complete_entries(
    entries: Sequence[RawArticle],
    *,
    mode: str,
    settings: Settings,
    reader: PageReader | None = None,
    deadline: float | None = None,
) -> list[RawArticle]:
    """Every entry with its best text and metadata: pages read for those that want them
    (in threads; the host gate decides how many at once per host), the others marked as
    the feed's text. `deadline` (time.monotonic()) bounds the waits for a host's turn."""
    texts = [feed_text(raw, settings) for raw in entries]
    wanted = [i for i, raw in enumerate(entries) if wants_page(raw, mode, texts[i])]
    done: list[RawArticle] = [finish_without_page(raw, texts[i]) for i, raw in enumerate(entries)]
    if not wanted:
        return done
    reader = reader or page_reader(settings, require_shared=False)

    def complete(index: int) -> None:
        done[index] = with_page(
            entries[index], texts[index], settings=settings, reader=reader, deadline=deadline
        )

    with ThreadPoolExecutor(
        max_workers=min(settings.full_text_workers, len(wanted)), thread_name_prefix="pages"
    ) as pool:
        list(pool.map(complete, wanted))
    return done


def with_page(
    raw: RawArticle,
    text: str,
    *,
    settings: Settings,
    reader: PageReader,
    deadline: float | None = None,
) -> RawArticle:
    """The entry with its page's text, or with the reason it has none."""
    assert raw.url is not None  # wants_page
    started = time.monotonic()
    try:
        page, final_url = reader.read(raw.url, deadline=deadline)
        _check_page(page, text, settings)
    except (PageRefused, FetchError) as error:
        reason = str(error) if isinstance(error, PageRefused) else f"{error.kind}: {error}"
        log.info("page not used", url=raw.url, reason=reason)
        return finish_without_page(raw, text, error=reason)
    extra = dict(raw.extra)
    extra.pop("body_from_title", None)
    extra.update(body_source="page", summary=text)
    if final_url != raw.url:
        extra["page_url"] = final_url
    # The entry's metadata first, the page's where the entry has none.
    for key, value in (
        ("authors", list(page.authors)),
        ("tags", list(page.tags)),
        ("image_url", page.image_url),
    ):
        if value and not extra.get(key):
            extra[key] = value
    extra["language"] = (
        language_tag(extra.get("language")) or page.language or detect_language(page.text)
    )
    if extra["language"] is None:
        del extra["language"]
    log.debug("page read", url=raw.url, chars=len(page.text), s=time.monotonic() - started)
    return raw.model_copy(update={"body": page.text, "content_type": "text/plain", "extra": extra})


def _check_page(page: PageArticle, text: str, settings: Settings) -> None:
    # Marked not free and little text: the stub a paywall shows. Metered sites mark every
    # article so and still serve the whole text (cnn_test_nlp of bench/pages/ does): that
    # text the site gave us is used.
    if page.paywalled and len(page.text) < PAYWALL_STUB_FACTOR * max(
        len(text), settings.full_text_min_chars
    ):
        raise PageRefused(
            "paywall",
            f"the page marks its text as not free (isAccessibleForFree) and shows "
            f"{len(page.text)} characters of it",
        )
    if len(page.text) < settings.full_text_min_chars:
        raise PageRefused(
            "too_little_text",
            f"{len(page.text)} characters of text on the page "
            f"(NEWS_INGEST_FULL_TEXT_MIN_CHARS={settings.full_text_min_chars})",
        )
    if len(page.text) < len(text):
        raise PageRefused(
            "too_little_text",
            f"the page's text ({len(page.text)} characters) is shorter than the feed's "
            f"({len(text)})",
        )


def finish_without_page(raw: RawArticle, text: str, *, error: str | None = None) -> RawArticle:
    """The entry keeping the feed's text: `body_source` "feed", the reason a wanted page
    was not used, and a language (declared, else detected from the text)."""
    extra = dict(raw.extra)
    extra["body_source"] = "feed"
    if error is not None:
        extra["full_text_error"] = error[:500]
    language = language_tag(extra.get("language")) or detect_language(text)
    if language:
        extra["language"] = language
    return raw.model_copy(update={"extra": extra})


def drop_unchanged_teasers(
    *, engine: Engine, feed_id: int, entries: Sequence[RawArticle], settings: Settings
) -> list[RawArticle]:
    """Leave out entries stored already with their page's text whose feed text has not
    changed since: their page is not fetched again on every poll of the feed."""
    if not entries:
        return []
    guids = [raw.guid for raw in entries if raw.guid]
    urls = {raw.url: canonical_url(raw.url) for raw in entries if raw.url}
    with engine.connect() as connection:
        by_guid, by_url = full_text_rows.page_summaries(
            connection=connection,
            feed_id=feed_id,
            guids=guids,
            urls=[url for url in urls.values() if url],
        )
    if not by_guid and not by_url:
        return list(entries)
    fresh = []
    for raw in entries:
        stored = by_guid.get(raw.guid or "")
        if stored is None and raw.url:
            stored = by_url.get(urls.get(raw.url) or "")
        if stored is not None and stored == feed_text(raw, settings):
            continue
        fresh.append(raw)
    return fresh


def retry_failed_pages(
    *, engine: Engine, feed_id: int, entries: Sequence[RawArticle], settings: Settings
) -> list[RawArticle]:
    """Of entries otherwise unchanged, those whose page read failed for a passing reason
    (timeout, a busy host, a 5xx, robots.txt unreachable) in the last RETRY_PAGES_FOR: sent
    again, so the article gets its page's text (an `article.updated`) when the page comes
    back. A 404, robots.txt's refusal or a paywall are not asked again."""
    guids = [raw.guid for raw in entries if raw.guid and raw.url]
    if not guids:
        return []
    with engine.connect() as connection:
        failed = full_text_rows.pages_failed_since(
            connection=connection, feed_id=feed_id, guids=guids,
            since=utcnow() - RETRY_PAGES_FOR,
        )  # fmt: skip
    return [
        raw
        for raw in entries
        if raw.guid in failed and failed[raw.guid].startswith(_PASSING_FAILURES)
    ]


# ---------------------------------------------------------------------------------------
# The worker's task


def add_full_text_parts(
    *,
    engine: Engine,
    job_id: str,
    documents: list[dict[str, Any]],
    mode: str,
    send_part: SendPart,
) -> list[int]:
    """Entries that want their page as "full_text" parts of the job, each queued (to
    `feeds.full_text`) after its row is committed."""
    return add_article_parts(
        engine=engine, job_id=job_id, documents=documents, batch_size=PAGES_PER_PART,
        send_part=send_part, kind="full_text", extra={"mode": mode},
    )  # fmt: skip


def run_full_text_part(
    *,
    engine: Engine,
    job_id: str,
    part_no: int,
    settings: Settings | None = None,
    time_limit_s: float | None = None,
    require_shared_limits: bool = True,
) -> IngestSummary | None:
    """Read the pages of a "full_text" part, store the entries so completed as the part's
    payload (it becomes an "articles" part), then ingest them. Safe to run again: a part
    whose pages were read is only ingested (once); a finished one is skipped."""
    settings = settings or get_settings()
    claim = claim_open_part(engine=engine, job_id=job_id, part_no=part_no)
    if claim is None:
        return None
    return run_claimed_full_text_part(
        engine=engine, part=claim, settings=settings, time_limit_s=time_limit_s,
        require_shared_limits=require_shared_limits,
    )  # fmt: skip


def run_claimed_full_text_part(
    *,
    engine: Engine,
    part: job_rows.PartClaim,
    settings: Settings | None = None,
    time_limit_s: float | None = None,
    require_shared_limits: bool = False,
) -> IngestSummary | None:
    """The body of `run_full_text_part` for a part already claimed (so
    `services.parts` can hand "full_text" parts here)."""
    settings = settings or get_settings()
    if part.kind == "full_text":
        deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
        documents = _complete_documents(part, settings, deadline, require_shared_limits)
        with engine.begin() as connection:
            full_text_rows.settle_full_text_part(
                connection=connection, job_id=part.job_id, part_no=part.part_no,
                documents=documents,
            )  # fmt: skip
    return run_articles_part(
        engine=engine,
        job_id=part.job_id,
        part_no=part.part_no,
        settings=settings,
        count_delivery=False,
    )


def _complete_documents(
    part: job_rows.PartClaim, settings: Settings, deadline: float | None, require_shared: bool
) -> list[dict[str, Any]]:
    mode = str(part.payload.get("mode") or settings.full_text)
    documents: list[Any] = list(part.payload.get("articles") or [])
    parsed: list[tuple[int, RawArticle]] = []
    for index, document in enumerate(documents):
        try:
            parsed.append((index, RawArticle.model_validate(document)))
        except ValidationError:
            continue  # left as it is: the ingest keeps it in rejects with the reason
    entries = [raw for _, raw in parsed]
    if part.attempts > settings.max_task_deliveries:
        reason = (
            f"gave_up: pages not read after {part.attempts - 1} deliveries "
            f"(NEWS_INGEST_MAX_TASK_DELIVERIES={settings.max_task_deliveries})"
        )
        completed = [
            finish_without_page(raw, feed_text(raw, settings), error=reason) for raw in entries
        ]
    else:
        reader = page_reader(settings, require_shared=require_shared)
        completed = complete_entries(
            entries, mode=mode, settings=settings, reader=reader, deadline=deadline
        )
    for (index, _), raw in zip(parsed, completed, strict=True):
        documents[index] = raw.model_dump(mode="json", exclude_defaults=True)
    return documents
