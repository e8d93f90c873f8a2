"""The main text and metadata of one article page (an entry's link), by trafilatura.

trafilatura 2.x: on the public 181-page news extraction benchmark (ScrapingHub's
article-extraction-benchmark) it scores shingle F1 ~0.95-0.96, readability-lxml 0.92 and
goose3 0.90; on the saved pages of bench/full_text_bench.py it scores 0.96 with
`favor_precision` (0.92 without: more navigation and related-story lines kept). Knows
nothing of HTTP, the database or Celery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import trafilatura
from trafilatura.settings import Document

from worker.pipeline.metadata import language_tag

__all__ = ["PageArticle", "extract_page"]

# schema.org's paywall markup, which publishers add for search engines: the article's
# text is not free (services.full_text tells a paywall's stub from a metered page).
_NOT_FREE = re.compile(r'"isAccessibleForFree"\s*:\s*"?(?:false|False|FALSE)"?')
_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)")
_META_LANG = re.compile(
    rb"<meta\b[^>]*?(?:http-equiv\s*=\s*[\"']?content-language|property\s*=\s*[\"']?og:locale)"
    rb"[^>]*?content\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)",
    re.IGNORECASE,
)
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class PageArticle:
    """What a page yielded: `text` (paragraphs separated by a blank line; empty when no
    main text was found) and whatever metadata it declares."""

    text: str
    title: str | None = None
    language: str | None = None
    authors: tuple[str, ...] = field(default=())
    tags: tuple[str, ...] = field(default=())
    image_url: str | None = None
    paywalled: bool = False


def extract_page(html: bytes, *, url: str, content_language: str | None = None) -> PageArticle:
    """Extract the article from a page's bytes (trafilatura sniffs the charset)."""
    head = html[:_HEAD_BYTES]
    paywalled = b"isAccessibleForFree" in html and bool(
        _NOT_FREE.search(html.decode("utf-8", "replace"))
    )
    document = trafilatura.bare_extraction(  # a Document (as_dict is False)
        html,
        url=url,
        favor_precision=True,
        include_comments=False,
        with_metadata=True,
    )
    language = _page_language(head) or language_tag(content_language)
    if not isinstance(document, Document):
        return PageArticle(text="", language=language, paywalled=paywalled)
    text = "\n\n".join(line.strip() for line in (document.text or "").split("\n") if line.strip())
    authors = tuple(name.strip() for name in (document.author or "").split(";") if name.strip())
    tags: list[str] = []
    for value in [*(document.categories or []), *(document.tags or [])]:
        # meta keywords arrive as one comma-separated string
        for tag in str(value).split(","):
            if tag.strip() and tag.strip() not in tags:
                tags.append(tag.strip())
    return PageArticle(
        text=text,
        title=document.title or None,
        language=language or language_tag(document.language),
        authors=authors,
        tags=tuple(tags),
        image_url=_http_url(document.image, url),
        paywalled=paywalled,
    )


def _page_language(head: bytes) -> str | None:
    for pattern in (_HTML_LANG, _META_LANG):
        match = pattern.search(head)
        if match:
            language = language_tag(match.group(1).decode("ascii"))
            if language:
                return language
    return None


def _http_url(value: str | None, base: str) -> str | None:
    if not value:
        return None
    try:
        absolute = urljoin(base, value.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return absolute
