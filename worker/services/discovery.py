"""Subscribing by a site's address: discover its feeds (every request through the SSRF
guard and the host's politeness gate) and register the best one, or all of them.

Used by `news-ingest feeds add`/`feeds discover`, `POST /feeds` and OPML import, so one
address leads to the same feed whichever way it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog
from sqlalchemy import Connection, Engine

from worker.errors import FetchError
from worker.services.politeness import HostGate, host_gate
from worker.settings import Settings, get_settings
from worker.sources.discover import Discovery, discover_feeds
from worker.sources.fetch import FeedClient, FetchResult, fetch_feed, new_client
from worker.sources.schedule import RETRY_AFTER_MAX_S
from worker.storage import feeds as feed_rows
from worker.storage.feeds import FeedSource

__all__ = ["NoFeedFound", "Subscription", "discover", "subscribe"]

log = structlog.get_logger(__name__)

# How long discovery waits for a host's turn per request before giving up on it.
_TURN_WAIT_S = 30.0


class NoFeedFound(ValueError):
    """The address was read, and neither it nor anything it leads to is a feed."""

    def __init__(self, discovery: Discovery) -> None:
        tried = len(discovery.checked)
        super().__init__(
            f"no feed found at {discovery.url} (checked {tried} address{'es' * (tried != 1)})"
        )
        self.discovery = discovery


@dataclass(frozen=True, slots=True)
class Subscription:
    """What `subscribe` registered: each feed with whether it was new, and how it was found
    (`discovery` None: the address could not be checked and was registered as given)."""

    feeds: list[tuple[FeedSource, bool]]
    discovery: Discovery | None
    notes: list[str] = field(default_factory=list)


def discover(
    url: str,
    *,
    settings: Settings | None = None,
    all_found: bool = False,
    client: FeedClient | None = None,
) -> Discovery:
    """The feeds `url` leads to (nothing registered). Raises FetchError when `url` itself
    cannot be read, ValueError when it is not an http(s) URL."""
    settings = settings or get_settings()
    feed_rows.feed_url(url)  # a readable ValueError for what can never be fetched
    gate = host_gate(settings, require_shared=False)
    if client is not None:
        return discover_feeds(url, fetch=_polite_fetch(client, gate, settings), all_found=all_found)
    with new_client(settings) as own:
        return discover_feeds(url, fetch=_polite_fetch(own, gate, settings), all_found=all_found)


def subscribe(
    *,
    engine: Engine,
    url: str,
    title: str | None = None,
    interval_s: int | None = None,
    all_found: bool = False,
    settings: Settings | None = None,
) -> Subscription:
    """Register the feed `url` is, or the best one (all with `all_found`) it leads to.

    An address that cannot be read now (DNS, connection, timeout, HTTP error) is
    registered as given, with a note: the scheduler's backoff copes with a feed that is
    down, and registering must work before a site is up. Raises NoFeedFound when the
    address was read and leads to no feed, FetchError when the server said it is not
    there (4xx, 410), ValueError for a URL that is not http(s)."""
    settings = settings or get_settings()
    add = _add_feed
    try:
        found = discover(url, settings=settings, all_found=all_found)
    except FetchError as error:
        if error.kind == "gone" or error.kind.startswith("http_4"):
            raise
        note = f"could not check {url} ({error}); registered as given"
        log.warning("feed address not checked", url=url, kind=error.kind, error=str(error))
        with engine.begin() as connection:
            return Subscription(
                [add(connection=connection, url=url, title=title, interval_s=interval_s)],
                None,
                [note],
            )
    if not found.feeds:
        raise NoFeedFound(found)
    chosen = found.feeds if all_found else found.feeds[:1]
    registered = []
    with engine.begin() as connection:
        for feed in chosen:
            registered.append(
                add(
                    connection=connection,
                    url=feed.url,
                    title=title or feed.title,
                    interval_s=interval_s,
                )
            )
    return Subscription(registered, found)


def _add_feed(
    *, connection: Connection, url: str, title: str | None, interval_s: int | None
) -> tuple[FeedSource, bool]:
    return feed_rows.add_feed(connection=connection, url=url, title=title, interval_s=interval_s)


def _polite_fetch(
    client: FeedClient, gate: HostGate, settings: Settings
) -> Callable[[str], FetchResult]:
    def fetch(url: str) -> FetchResult:
        host = (urlsplit(url).hostname or "").lower()
        with gate.hold(host, max_wait_s=_TURN_WAIT_S) as turn:
            if not turn.granted:
                raise FetchError(
                    "rate_limited" if turn.reason == "retry_after" else "busy",
                    f"{host} is not taking requests now ({turn.reason}); try again later",
                    retry_after_s=turn.wait_s,
                )
            try:
                return fetch_feed(url, settings=settings, client=client)
            except FetchError as error:
                if error.retry_after_s is not None and error.kind in ("rate_limited", "http_503"):
                    gate.set_retry_after(host, min(error.retry_after_s, RETRY_AFTER_MAX_S))
                raise

    return fetch
