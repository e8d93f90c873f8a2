"""Read and write OPML subscription lists (`feeds import` / `feeds export`).

Parsed with the stdlib's expat with every entity declaration refused and no external
entities or DTDs loaded (what defusedxml does): no XXE, no billion laughs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

__all__ = ["OpmlError", "OpmlFeed", "parse_opml", "render_opml"]

# XML 1.0 forbids most C0 controls even as character references; drop them on output.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# For OPML that is not well-formed XML (an unescaped & in a URL is the usual culprit).
# Both linear in the document (issue 19: the old forms took 42 s for 360 KB): a tag ends
# at the next `<` whether or not a `>` closes it first; an attribute name starts only where
# a name can (not inside a longer one) and is taken whole; an unclosed quote runs to the
# end of the tag instead of being retried from every later position.
_LOOSE_OUTLINE = re.compile(rb"<outline\b([^<>]*)>", re.IGNORECASE)
_LOOSE_ATTRIBUTE = re.compile(
    rb"""(?<![-\w:.])([A-Za-z_:][-\w:.]*+)\s*+=\s*+(?:"([^"]*)(?:"|\Z)|'([^']*)(?:'|\Z))"""
)


class OpmlError(ValueError):
    """The data is not an OPML document we can read."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None
    # Listed by its site's address only (htmlUrl, no xmlUrl): the feed is to be discovered.
    site: bool = False


class _EntityRefused(OpmlError):
    pass


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Every feed (`xmlUrl`) in the document, nested folders flattened, first title wins
    for a URL listed twice. Only http(s) URLs (and feed:// forms of them) are returned.
    An outline with only a site's address (`htmlUrl`) is returned with `site=True`."""
    try:
        outlines = _strict_outlines(data)
    except _EntityRefused:
        raise
    except expat.ExpatError as exc:
        # Real-world exports are often not well-formed; read the outline tags leniently
        # rather than refuse a list of hundreds of feeds over one stray ampersand.
        if b"<opml" not in data[:4096].lower():
            raise OpmlError(f"not an OPML document: {exc}") from exc
        outlines = _loose_outlines(data)
    feeds: dict[str, OpmlFeed] = {}
    for attributes in outlines:
        lowered = {k.lower(): v for k, v in attributes.items()}
        url = _feed_url(lowered.get("xmlurl", ""))
        site = False
        if url is None and not lowered.get("xmlurl", "").strip():
            url, site = _feed_url(lowered.get("htmlurl", "")), True
        if url is None:
            continue
        title = (lowered.get("title") or lowered.get("text") or "").strip() or None
        key = _dedupe_key(url)
        if key not in feeds:
            feeds[key] = OpmlFeed(url=url, title=title, site=site)
        elif feeds[key].title is None and title:
            feeds[key] = OpmlFeed(url=feeds[key].url, title=title, site=feeds[key].site)
    return list(feeds.values())


def render_opml(
    feeds: Iterable[tuple[str, str | None]], *, title: str = "news-ingest feeds"
) -> bytes:
    """An OPML 2.0 document listing `feeds` as (url, title) pairs."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(datetime.now(UTC), usegmt=True)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for url, feed_title in feeds:
        label = _attr(feed_title or url)
        lines.append(f'    <outline type="rss" text={label} title={label} xmlUrl={_attr(url)}/>')
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _strict_outlines(data: bytes) -> list[dict[str, str]]:
    outlines: list[dict[str, str]] = []
    root: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        if not root:
            root.append(name)
            if name.lower() != "opml":
                raise OpmlError(f"not an OPML document: root element is <{name}>")
        if name.lower() == "outline":
            outlines.append(attributes)

    def refuse_entity(*_: object) -> NoReturn:
        raise _EntityRefused("OPML with entity declarations is refused (XML entity attacks)")

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_entity
    parser.Parse(data, True)
    if not root:
        raise OpmlError("empty OPML document")
    return outlines


def _loose_outlines(data: bytes) -> list[dict[str, str]]:
    outlines = []
    for match in _LOOSE_OUTLINE.finditer(data):
        attributes: dict[str, str] = {}
        for name, double, single in _LOOSE_ATTRIBUTE.findall(match.group(1)):
            raw = double or single
            attributes[name.decode("ascii", "replace")] = html.unescape(
                raw.decode("utf-8", "replace")
            )
        outlines.append(attributes)
    return outlines


def _feed_url(raw: str) -> str | None:
    url = raw.strip()
    lowered = url.lower()
    # feed://host/path and feed:https://host/path are old browser conventions for feeds.
    if lowered.startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _dedupe_key(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def _text(value: str) -> str:
    return html.escape(_XML_INVALID.sub("", value), quote=False)


def _attr(value: str) -> str:
    # quoteattr escapes &, <, > and quotes; newlines and tabs as references so they survive
    # attribute-value normalization.
    return quoteattr(_XML_INVALID.sub("", value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
