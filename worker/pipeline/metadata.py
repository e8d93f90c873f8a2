"""Article metadata as stored and exported: read from a RawArticle's `extra` (set by the
feed parser, the full-text stage or a producer), checked and bounded, as article columns.

Keys a RawArticle may carry in `extra`: `language` (any BCP 47 tag: stored as its
lowercase primary subtag), `authors` and `tags` (lists of strings), `image_url` (http or
https), `summary` (the feed's own text when the body came from the page), `body_source`
(`feed` | `page`) and `full_text_error`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict
from urllib.parse import urlsplit

from schemas import RawArticle

__all__ = [
    "METADATA_COLUMNS",
    "ArticleMetadata",
    "article_metadata",
    "language_tag",
    "metadata_columns",
    "public_metadata",
]

METADATA_COLUMNS = (
    "summary",
    "body_source",
    "full_text_error",
    "language",
    "authors",
    "tags",
    "image_url",
)
BODY_SOURCES = frozenset({"feed", "page"})
_MAX_AUTHORS = 20
_MAX_TAGS = 50
_MAX_NAME_CHARS = 200
_MAX_URL_CHARS = 2048
_MAX_ERROR_CHARS = 500
_PRIMARY_SUBTAG = re.compile(r"^[a-z]{2,3}$")
_SPACE = re.compile(r"\s+")
# Characters a text column or a JSON consumer chokes on: NUL, other C0 controls, surrogates.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def language_tag(value: object) -> str | None:
    """The lowercase primary subtag of a language tag ("de-AT", "de_AT", "DE" -> "de"),
    or None for anything that is not one ("x-klingon", "", 42)."""
    if not isinstance(value, str):
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if _PRIMARY_SUBTAG.match(primary) else None


def _text(value: object, max_chars: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = _SPACE.sub(" ", _UNSTORABLE.sub("", value)).strip()
    return value[:max_chars] or None


def _names(value: object, limit: int) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    names: list[str] = []
    seen: set[str] = set()
    for item in value:
        name = _text(item, _MAX_NAME_CHARS)
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
        if len(names) >= limit:
            break
    return names or None


def _http_url(value: object) -> str | None:
    url = _text(value, _MAX_URL_CHARS)
    if url is None or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


class ArticleMetadata(TypedDict):
    """The metadata columns of an article row, as `article_metadata` reads them."""

    summary: str | None
    body_source: str | None
    full_text_error: str | None
    language: str | None
    authors: list[str] | None
    tags: list[str] | None
    image_url: str | None


def article_metadata(extra: dict[str, Any]) -> ArticleMetadata:
    """The metadata columns from a RawArticle's `extra`: every column present, None where
    the article says nothing (or something unusable)."""
    source = extra.get("body_source")
    summary = extra.get("summary")
    return {
        # The summary is kept only when it is not the body itself.
        "summary": summary if isinstance(summary, str) and source == "page" else None,
        "body_source": source if source in BODY_SOURCES else None,
        "full_text_error": _text(extra.get("full_text_error"), _MAX_ERROR_CHARS),
        "language": language_tag(extra.get("language")),
        "authors": _names(extra.get("authors"), _MAX_AUTHORS),
        "tags": _names(extra.get("tags"), _MAX_TAGS),
        "image_url": _http_url(extra.get("image_url")),
    }


def metadata_columns(raw: RawArticle | None) -> ArticleMetadata:
    """`article_metadata` of an arrival's RawArticle (all None without one)."""
    return article_metadata(raw.extra if raw is not None else {})


def public_metadata(
    row: Mapping[str, Any], *, fields: Iterable[str] = METADATA_COLUMNS
) -> dict[str, Any]:
    """The metadata of a stored article (a row, or `article_metadata`) as exported: lists
    never null, and `summary` the body itself when the body is the feed's own text."""
    public: dict[str, Any] = {}
    for key in fields:
        value = row.get(key)
        if key in ("authors", "tags"):
            value = list(value or [])
        elif key == "summary" and value is None and row.get("body_source") == "feed":
            value = row.get("body")
        public[key] = value
    return public
