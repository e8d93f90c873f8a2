"""An entry's link as its publisher means it: the original behind an aggregator's
redirector, relative links resolved against the right base, fragments kept where they
are what tells entries apart.

Works on feedparser-shaped entries (JSON Feed ones are built in the same shape), before
`feed_parser` checks that the result is a safe http(s) URL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

__all__ = ["ambiguous_without_fragment", "entry_link", "original_link", "site_base"]

# Aggregators that link through their own redirector and name the original beside it:
# FeedBurner (feedburner:origLink), Pheedo (pheedo:origLink), and others that copied the
# element. feedparser exposes them as "<prefix>_origlink"; a feed that declares the
# namespace under another prefix still ends in "origlink".
_ORIGINAL_SUFFIX = "origlink"


def original_link(entry: Mapping[str, Any]) -> str | None:
    """The publisher's own link an aggregator named beside its redirector, if any."""
    for key, value in entry.items():
        if (
            isinstance(key, str)
            and key.lower().endswith(_ORIGINAL_SUFFIX)
            and isinstance(value, str)
            and _is_http(value.strip())
        ):
            return value.strip()
    return None


def site_base(site_link: Any, *, feed_url: str) -> str:
    """The base for an entry's relative links when no xml:base applies: the channel's own
    link (itself resolved against the feed URL), else the feed URL."""
    if isinstance(site_link, str) and site_link.strip():
        try:
            candidate = urljoin(feed_url, site_link.strip())
        except ValueError:
            return feed_url
        if _is_http(candidate):
            return candidate
    return feed_url


def entry_link(entry: Mapping[str, Any], *, base: str) -> str | None:
    """The entry's link, absolute where it can be: the original link first, else the link
    feedparser gives (already resolved against any xml:base in scope), resolved against
    `base` (from `site_base`) when still relative. Non-http links (at://, urn:, tag:) come
    back as they are; the caller keeps them as a guid, never as the URL."""
    original = original_link(entry)
    if original is not None:
        return original
    link = entry.get("link")
    if not isinstance(link, str) or not link.strip():
        return None
    link = link.strip()
    try:
        if urlsplit(link).scheme:
            return link
        return urljoin(base, link)
    except ValueError:
        return link


def ambiguous_without_fragment(links: Sequence[str | None]) -> set[int]:
    """Positions in `links` whose fragment is what tells them apart: two or more links of
    one document equal but for their #fragments (a live blog's posts, a changelog's
    versions). Their fragment must survive URL canonicalization, or they merge."""
    groups: dict[str, set[str]] = defaultdict(set)
    members: dict[str, list[int]] = defaultdict(list)
    for position, link in enumerate(links):
        if not link:
            continue
        head, _, fragment = link.partition("#")
        groups[head].add(fragment)
        members[head].append(position)
    return {
        position
        for head, fragments in groups.items()
        if len(fragments) > 1
        for position in members[head]
        if "#" in (links[position] or "")
    }


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
