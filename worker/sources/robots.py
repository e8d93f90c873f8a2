"""robots.txt (RFC 9309): fetched once per site, cached, asked before any article page.

A missing robots.txt (any 4xx) allows everything; one that cannot be read (5xx, timeout,
refused connection, a redirect to a refused address) disallows everything until the cache
entry expires, as RFC 9309 asks. Rules are matched by protego (Scrapy's parser: Google's
wildcard and longest-match semantics, which urllib.robotparser does not implement), for
the user agent token "news-ingest". Knows nothing of the host gate: the caller's `fetch`
takes the turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from worker.errors import FetchError
from worker.sources.fetch import FetchResult

__all__ = ["ROBOTS_AGENT", "RobotsCache", "RobotsRules", "origin_of"]

ROBOTS_AGENT = "news-ingest"
# RFC 9309 2.5: a crawler must parse at least 500 KiB.
_MAX_ROBOTS_BYTES = 512 * 1024
# An unreadable robots.txt is asked again sooner than a readable one.
_UNREACHABLE_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """One site's robots.txt as it applies to us."""

    parser: Protego | None  # None: no rules (everything allowed) or `disallow_all`
    disallow_all: bool = False
    crawl_delay_s: float | None = None
    note: str | None = None  # why everything is disallowed

    def allows(self, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, ROBOTS_AGENT))


def origin_of(url: str) -> str:
    """scheme://host[:port]: robots.txt applies per origin."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def parse_robots(content: bytes) -> RobotsRules:
    text = content[:_MAX_ROBOTS_BYTES].decode("utf-8", "replace")
    parser = Protego.parse(text)
    delay = parser.crawl_delay(ROBOTS_AGENT)
    return RobotsRules(parser=parser, crawl_delay_s=float(delay) if delay else None)


class RobotsCache:
    """robots.txt rules per origin for this process, each kept `ttl_s` seconds.

    `fetch(url)` GETs robots.txt (through the feed fetcher and the host's turn) and raises
    `FetchError`; concurrent callers for one origin wait for one fetch.
    """

    def __init__(self, *, fetch: Callable[[str], FetchResult], ttl_s: float) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._rules: dict[str, tuple[float, RobotsRules]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def rules_for(self, url: str) -> RobotsRules:
        origin = origin_of(url)
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            cached = self._rules.get(origin)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            rules, ttl = self._load(origin)
            self._rules[origin] = (time.monotonic() + ttl, rules)
            return rules

    def _load(self, origin: str) -> tuple[RobotsRules, float]:
        try:
            result = self._fetch(f"{origin}/robots.txt")
        except FetchError as error:
            status = int(error.kind[5:]) if error.kind.startswith("http_") else None
            if status is not None and 400 <= status < 500 and status != 429:
                return RobotsRules(parser=None), self._ttl_s  # "unavailable": no rules
            note = f"robots.txt unreachable ({error.kind}): treated as disallowing all"
            return RobotsRules(parser=None, disallow_all=True, note=note), min(
                self._ttl_s, _UNREACHABLE_TTL_S
            )
        return parse_robots(result.content or b""), self._ttl_s
