"""Feed autodiscovery: from a site's address to the feeds it offers.

The page's `<link rel="alternate">` feeds first (the publisher's own list, in its order),
then the usual paths (`/feed`, `/rss`, `/atom.xml`, ...). Every candidate is fetched and
parsed before it is offered, so what comes back is a feed, not a guess. The HTTP fetch is
the caller's (`fetch`): the service layer passes one that goes through the SSRF-guarded
client and the per-host politeness gate, so this module holds only the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from worker.errors import FetchError
from worker.sources.feed_parser import ParsedFeed, parse_feed
from worker.sources.fetch import FetchResult

__all__ = [
    "COMMON_PATHS",
    "DiscoveredFeed",
    "Discovery",
    "FetchDocument",
    "alternate_links",
    "discover_feeds",
]

FetchDocument = Callable[[str], FetchResult]
FoundBy = Literal["direct", "link", "path"]

# Where sites put their feed when the page does not say: WordPress, Ghost, Hugo, Jekyll,
# Blogger, Substack, Medium-style and hand-rolled sites, most common first.
COMMON_PATHS = (
    "/feed",
    "/rss",
    "/atom.xml",
    "/index.xml",
    "/feed.xml",
    "/rss.xml",
    "/feed.json",
    "/atom",
    "/index.rss",
    "/feeds/posts/default",
    "/?feed=rss2",
)
# Relative to a page below the site root (a blog at /blog/): tried before the root's.
_SECTION_PATHS = ("feed", "rss", "atom.xml", "index.xml", "feed.xml", "rss.xml", "feed.json")
_FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
        "application/xml",
        "text/xml",
        "application/x.atom+xml",
        "application/x-atom+xml",
        "application/x-rss+xml",
    }
)
# Only the head of a page is read for links: a huge page costs no more than this.
_HTML_HEAD_CHARS = 512 * 1024
_MAX_LINK_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed found from a site's address, checked by fetching and parsing it."""

    url: str
    title: str | None
    format: str | None  # feedparser's name: rss20, atom10, json11, ...
    found_by: FoundBy
    entries: int
    comments: bool = False  # a comments feed: offered, never chosen first

    def public(self) -> dict[str, Any]:
        """The `feeds discover --json` record."""
        return {
            "url": self.url,
            "title": self.title,
            "format": self.format,
            "found_by": self.found_by,
            "entries": self.entries,
            "comments": self.comments,
        }


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a site's address led to: feeds best first, and every address asked."""

    url: str
    feeds: list[DiscoveredFeed]
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # candidates that were not feeds

    @property
    def best(self) -> DiscoveredFeed | None:
        return self.feeds[0] if self.feeds else None

    def public(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "feeds": [feed.public() for feed in self.feeds],
            "checked": list(self.checked),
            "problems": list(self.problems),
        }


def discover_feeds(url: str, *, fetch: FetchDocument, all_found: bool = False) -> Discovery:
    """The feeds `url` leads to, best first. `url` itself is fetched first (a FetchError
    there propagates: the address cannot be read); if it is a feed, that is the answer.
    Else the page's alternate links are checked; then, if none was a feed, the common
    paths until one is (all of them with `all_found`, keeping every distinct feed)."""
    checked: list[str] = [url]
    problems: list[str] = []
    page = fetch(url)
    parsed = _as_feed(page)
    if parsed is not None:
        return Discovery(url, [_found(_address(url, page), parsed, "direct")], checked, problems)

    feeds: list[DiscoveredFeed] = []
    seen = {_key(url), _key(page.url)}
    html = _decoded(page)
    links = alternate_links(html, base=page.url) if html is not None else []
    for candidate, _title in links[:_MAX_LINK_CANDIDATES]:
        if _key(candidate) in seen:
            continue
        seen.add(_key(candidate))
        found = _check(candidate, "link", fetch, checked, problems)
        if found is not None:
            feeds.append(found)
    # The usual paths only when the page listed no working feed: a site that says where
    # its feeds are is not probed further (politeness), even for `all_found`.
    if not feeds:
        for candidate in _path_candidates(page.url):
            if _key(candidate) in seen:
                continue
            seen.add(_key(candidate))
            found = _check(candidate, "path", fetch, checked, problems)
            if found is None:
                continue
            if any(_same_feed(found, other) for other in feeds):
                continue  # /feed and /rss are often one feed under two names
            feeds.append(found)
            if not all_found:
                break
    # Stable: the publisher's order within each kind; comments feeds last.
    order: dict[FoundBy, int] = {"direct": 0, "link": 1, "path": 2}
    feeds.sort(key=lambda feed: (feed.comments, order[feed.found_by]))
    return Discovery(url, feeds, checked, problems)


def alternate_links(html: str, *, base: str) -> list[tuple[str, str | None]]:
    """(absolute URL, title) of each feed a page lists with <link rel="alternate">, in
    document order, resolved against its <base href> when it has one."""
    collector = _LinkCollector()
    try:
        collector.feed(html[:_HTML_HEAD_CHARS])
        collector.close()
    except (AssertionError, ValueError):  # html.parser on hopeless markup; keep what it got
        pass
    page_base = urljoin(base, collector.base_href) if collector.base_href else base
    found: list[tuple[str, str | None]] = []
    keys: set[str] = set()
    for href, title in collector.links:
        try:
            absolute = urljoin(page_base, href.strip())
        except ValueError:
            continue
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        absolute = urlunsplit(parts._replace(fragment=""))
        if absolute not in keys:
            keys.add(absolute)
            found.append((absolute, title))
    return found


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str | None]] = []
        self.base_href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and self.base_href is None and values.get("href"):
            self.base_href = values["href"]
            return
        if tag not in ("link", "a"):
            return
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").split(";", 1)[0].strip().lower()
        href = values.get("href", "")
        if "alternate" in rels and kind in _FEED_TYPES and href.strip():
            self.links.append((href, values.get("title") or None))

    handle_startendtag = handle_starttag


def _path_candidates(page_url: str) -> Iterable[str]:
    parts = urlsplit(page_url)
    origin = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    path = parts.path or "/"
    if path not in ("", "/"):
        section = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
        if section != "/":
            for name in _SECTION_PATHS:
                yield urljoin(urlunsplit((parts.scheme, parts.netloc, section, "", "")), name)
    for suffix in COMMON_PATHS:
        yield urljoin(origin, suffix)


def _check(
    url: str,
    found_by: FoundBy,
    fetch: FetchDocument,
    checked: list[str],
    problems: list[str],
) -> DiscoveredFeed | None:
    checked.append(url)
    try:
        document = fetch(url)
    except FetchError as error:
        problems.append(f"{url}: {error}")
        return None
    parsed = _as_feed(document)
    if parsed is None:
        served = document.headers.get("content-type") or "no content type"
        problems.append(f"{url}: not a feed (served as {served})")
        return None
    return _found(_address(url, document), parsed, found_by)


def _address(asked: str, document: FetchResult) -> str:
    """Where to subscribe: the new URL after permanent redirects only; a temporary one
    (302/307) may point somewhere else tomorrow, so the address asked is kept."""
    return document.moved_to or asked


def _as_feed(document: FetchResult) -> ParsedFeed | None:
    if document.status == 304 or not document.content:
        return None
    parsed = parse_feed(document.content, feed_url=document.url, headers=document.headers)
    if parsed.version is None and not parsed.entries:
        return None
    return parsed


def _found(url: str, parsed: ParsedFeed, found_by: FoundBy) -> DiscoveredFeed:
    title = parsed.title
    lowered = f"{title or ''} {urlsplit(url).path} {urlsplit(url).query}".lower()
    return DiscoveredFeed(
        url=url,
        title=title,
        format=parsed.version,
        found_by=found_by,
        entries=len(parsed.entries),
        comments="comment" in lowered,
    )


def _same_feed(one: DiscoveredFeed, other: DiscoveredFeed) -> bool:
    return (one.title, one.format, one.entries) == (other.title, other.format, other.entries)


def _decoded(document: FetchResult) -> str | None:
    if not document.content:
        return None
    kind = (document.headers.get("content-type") or "").lower()
    charset = "utf-8"
    if "charset=" in kind:
        charset = kind.split("charset=", 1)[1].split(";", 1)[0].strip().strip("\"'") or charset
    try:
        return document.content.decode(charset, errors="replace")
    except LookupError:
        return document.content.decode("utf-8", errors="replace")


def _key(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )
