"""Metadata of one feed entry, from feedparser's parse: language (the entry's, else the
channel's), authors, tags (categories) and an image (Media RSS, enclosure), as the
RawArticle `extra` keys worker/pipeline/metadata.py reads. Called by the feed parser."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from worker.pipeline.metadata import language_tag

__all__ = ["entry_metadata"]

# "jane@example.com (Jane Doe)": RSS <author> is an address, the name in parentheses.
_RSS_AUTHOR = re.compile(r"^\s*[^\s()]+@[^\s()]+\s*\((.+)\)\s*$")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


def entry_metadata(
    entry: Mapping[str, Any], *, channel_language: str | None, base_url: str
) -> dict[str, Any]:
    """The `extra` keys for one entry; keys without a value are left out. `has_content`
    is False when the entry carried a description alone, no content (content:encoded,
    Atom content): one of the signs of a teaser."""
    metadata: dict[str, Any] = {} if entry.get("content") else {"has_content": False}
    language = _entry_language(entry) or language_tag(channel_language)
    if language:
        metadata["language"] = language
    authors = _authors(entry)
    if authors:
        metadata["authors"] = authors
    tags = _tags(entry)
    if tags:
        metadata["tags"] = tags
    image = _image(entry, base_url)
    if image:
        metadata["image_url"] = image
    return metadata


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    # feedparser puts xml:lang (and a Content-Language header) on each text construct.
    details = [
        *(entry.get("content") or []),
        entry.get("summary_detail"),
        entry.get("title_detail"),
    ]
    for detail in details:
        if isinstance(detail, Mapping):
            language = language_tag(detail.get("language"))
            if language:
                return language
    return language_tag(entry.get("language"))


def _authors(entry: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            name = author.get("name") or ""
            if not name and author.get("email"):
                continue  # an address alone is not a byline
            names.append(str(name))
    if not names and isinstance(entry.get("author"), str):
        names.append(entry["author"])
    cleaned: list[str] = []
    for name in names:
        match = _RSS_AUTHOR.match(name)
        name = (match.group(1) if match else name).strip()
        if name and "@" not in name and name not in cleaned:
            cleaned.append(name)
    return cleaned


def _tags(entry: Mapping[str, Any]) -> list[str]:
    tags: list[str] = []
    for tag in entry.get("tags") or []:
        if isinstance(tag, Mapping):
            term = tag.get("label") or tag.get("term")
            if isinstance(term, str) and term.strip() and term.strip() not in tags:
                tags.append(term.strip())
    return tags


def _image(entry: Mapping[str, Any], base_url: str) -> str | None:
    candidates: list[Any] = []
    for media in entry.get("media_content") or []:
        if isinstance(media, Mapping) and (
            media.get("medium") == "image"
            or str(media.get("type") or "").startswith("image/")
            or (not media.get("medium") and not media.get("type") and _looks_like_image(media))
        ):
            candidates.append(media.get("url"))
    candidates += [
        m.get("url") for m in entry.get("media_thumbnail") or [] if isinstance(m, Mapping)
    ]
    for link in [*(entry.get("enclosures") or []), *(entry.get("links") or [])]:
        if not isinstance(link, Mapping):
            continue
        if link.get("rel", "enclosure") == "enclosure" and str(link.get("type") or "").startswith(
            "image/"
        ):
            candidates.append(link.get("href") or link.get("url"))
    image = entry.get("image")
    if isinstance(image, Mapping):
        candidates.append(image.get("href") or image.get("url"))
    for candidate in candidates:
        url = _http_url(candidate, base_url)
        if url:
            return url
    return None


def _looks_like_image(media: Mapping[str, Any]) -> bool:
    path = urlsplit(str(media.get("url") or "")).path.lower()
    return path.endswith(_IMAGE_EXTENSIONS)


def _http_url(value: Any, base_url: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        url = urljoin(base_url, value.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ch in "\"'<>`" for ch in url) or len(url) > 2048:
        return None
    return url
