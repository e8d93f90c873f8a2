"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read into the same shape
feedparser gives RSS and Atom, so `feed_parser` turns both into the same RawArticles.

Only the document is read here (no HTTP, no database). Anything malformed is a warning,
never an exception: a field of the wrong type is ignored, an item that is not an object
skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JSON_FEED_TYPES",
    "JsonFeed",
    "looks_like_json_feed",
    "parse_json_feed",
    "rfc3339",
]

JSON_FEED_TYPES = frozenset({"application/feed+json", "application/json"})
_VERSION = re.compile(r"^https?://jsonfeed\.org/version/(\d+(?:\.\d+)?)/?$")
# The start of a JSON object naming a jsonfeed.org version somewhere in its first bytes:
# JSON Feed puts "version" first by convention, not by rule, so the whole head is searched.
_SNIFF = re.compile(rb"jsonfeed\.org/version/")
_SNIFF_BYTES = 4096
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


@dataclass(frozen=True, slots=True)
class JsonFeed:
    """A JSON Feed as feedparser would have given it: `feed` and `entries` mappings with
    feedparser's key names (title, link, id, summary, content, published_parsed, ...)."""

    version: str  # "json10" | "json11", as feedparser names formats
    feed: dict[str, Any]
    entries: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def looks_like_json_feed(content: bytes, content_type: str | None) -> bool:
    """True when the document should be read as JSON Feed: served as such, or a JSON
    object that names a jsonfeed.org version near its start (servers often say text/plain
    or application/octet-stream)."""
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:_SNIFF_BYTES]
    if not head.startswith(b"{"):
        return False
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/feed+json" or bool(_SNIFF.search(head))


def parse_json_feed(content: bytes) -> JsonFeed | None:
    """The feed, or None when the document is not JSON or not a JSON Feed object."""
    try:
        document = json.loads(content.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    warnings: list[str] = []
    match = _VERSION.match(_text(document.get("version")) or "")
    if match is None:
        if not isinstance(document.get("items"), list):
            return None
        warnings.append("JSON Feed without a jsonfeed.org version: read as 1.1")
        version = "json11"
    else:
        version = "json10" if match.group(1) == "1" else "json11"
    language = _text(document.get("language"))
    feed_authors = _authors(document)
    feed: dict[str, Any] = {
        "title": _text(document.get("title")),
        "link": _text(document.get("home_page_url")),
        "subtitle": _text(document.get("description")),
        "language": language,
        "authors": feed_authors,
        "image": _image(document.get("icon") or document.get("favicon")),
    }
    items = document.get("items")
    if not isinstance(items, list):
        warnings.append("JSON Feed without an items list")
        items = []
    entries = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            warnings.append(f"JSON Feed item {position} is not an object: skipped")
            continue
        entries.append(_entry(item, language=language, feed_authors=feed_authors))
    return JsonFeed(version=version, feed=feed, entries=entries, warnings=warnings)


def _entry(
    item: Mapping[str, Any], *, language: str | None, feed_authors: list[dict[str, str]]
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    item_id = item.get("id")
    # 1.0 allows a number as id; keep it as the text the publisher wrote.
    if isinstance(item_id, (str, int)) and not isinstance(item_id, bool):
        entry["id"] = str(item_id).strip() or None
    title = _text(item.get("title"))
    if title is not None:
        entry["title"] = title
        entry["title_detail"] = {"type": "text/plain", "value": title}
    url = _text(item.get("url")) or _text(item.get("external_url"))
    if url:
        entry["link"] = url
        entry["links"] = [{"rel": "alternate", "href": url, "type": "text/html"}]
    item_language = _text(item.get("language")) or language
    content = []
    html = _text(item.get("content_html"), strip=False)
    if html:
        content.append({"type": "text/html", "value": html, "language": item_language})
    plain = _text(item.get("content_text"), strip=False)
    if plain:
        content.append({"type": "text/plain", "value": plain, "language": item_language})
    if content:
        entry["content"] = content
    summary = _text(item.get("summary"))
    if summary:
        entry["summary"] = summary
        entry["summary_detail"] = {"type": "text/plain", "value": summary}
    for ours, theirs in (("published", "date_published"), ("updated", "date_modified")):
        raw = _text(item.get(theirs))
        if raw:
            entry[ours] = raw
            parsed = rfc3339(raw)
            if parsed is not None:
                entry[f"{ours}_parsed"] = parsed.timetuple()
    authors = _authors(item) or feed_authors
    if authors:
        entry["authors"] = authors
        names = [a["name"] for a in authors if a.get("name")]
        if names:
            entry["author"] = ", ".join(names)
    tags = item.get("tags")
    if isinstance(tags, list):
        terms = [t.strip() for t in tags if isinstance(t, str) and t.strip()]
        if terms:
            entry["tags"] = [{"term": term, "scheme": None, "label": None} for term in terms]
    image = _text(item.get("image")) or _text(item.get("banner_image"))
    if image:
        entry["image"] = {"href": image}
        entry["media_thumbnail"] = [{"url": image}]
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        enclosures = [
            {
                "href": href,
                "type": _text(a.get("mime_type")),
                "length": a.get("size_in_bytes"),
            }
            for a in attachments
            if isinstance(a, dict) and (href := _text(a.get("url")))
        ]
        if enclosures:
            entry["enclosures"] = enclosures
    if item_language:
        entry["language"] = item_language
    return entry


def _authors(holder: Mapping[str, Any]) -> list[dict[str, str]]:
    """1.1 `authors`, else 1.0 `author`, as feedparser's [{"name", "href"}]."""
    listed = holder.get("authors")
    candidates = listed if isinstance(listed, list) else [holder.get("author")]
    authors = []
    for author in candidates:
        if not isinstance(author, dict):
            continue
        record = {"name": _text(author.get("name")), "href": _text(author.get("url"))}
        kept = {key: value for key, value in record.items() if value}
        if kept:
            authors.append(kept)
    return authors


def _image(value: Any) -> dict[str, str] | None:
    href = _text(value)
    return {"href": href} if href else None


def _text(value: Any, *, strip: bool = True) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip() if strip else value
    return text if text.strip() else None


def rfc3339(value: str) -> datetime | None:
    """An RFC 3339 date-time (JSON Feed's format; offsets with or without the colon, as
    publishers write them) as UTC. A date-time without an offset is taken as UTC."""
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zulu, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if sign and not zulu:
        offset = (int(off_h) * 60 + int(off_m)) * 60
        moment = datetime.fromtimestamp(
            moment.timestamp() - (offset if sign == "+" else -offset), tz=UTC
        )
    return moment
