"""Turn one fetched RSS/Atom document into RawArticles, with feedparser doing the parsing.

Never raises on bad input: what cannot be read becomes a warning on the feed. HTML stays
HTML here (sanitized by feedparser as a first layer); the normalizer turns it into text.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import charset_normalizer
import feedparser
from pydantic import ValidationError

from schemas.articles import RawArticle
from worker.sources.entry_dates import corrected_entry_time
from worker.sources.entry_links import ambiguous_without_fragment, entry_link, site_base
from worker.sources.entry_meta import entry_metadata
from worker.sources.fetch import http_date
from worker.sources.json_feed import JsonFeed, looks_like_json_feed, parse_json_feed

__all__ = ["ParsedFeed", "parse_cache_headers", "parse_feed"]

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TITLE_MAX = 65536
_GUID_MAX = 2048
_URL_MAX = 8192
# A date this far past the fetch is a publisher's clock or timezone bug, not a schedule.
_FUTURE_SLACK = timedelta(days=1)
_SY_PERIOD_S = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
# Characters that have no business raw in a URL and could break out of an HTML attribute
# wherever a URL is shown: tab/CR/LF dropped (as browsers do), the rest percent-encoded.
_URL_ESCAPES: dict[int, str | None] = {ord(c): None for c in "\t\r\n"}
_URL_ESCAPES.update({ord(c): f"%{ord(c):02X}" for c in " \"'<>`\x7f"})
_URL_ESCAPES.update({c: f"%{c:02X}" for c in range(0x20) if chr(c) not in "\t\r\n"})
# Browsers ignore tabs and newlines inside a URL, so "javascri<TAB>pt:" is a script URL.
_URL_IGNORED = str.maketrans("", "", "\t\n\r")
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ATTRIBUTE = re.compile(r'([^\s=<>"/]+)="([^"]*)"')
_INLINE_IMAGE = re.compile(r"data:image/(?:png|gif|jpe?g|webp|avif);", re.IGNORECASE)
# Labels that browsers read as windows-1252 (WHATWG Encoding); servers send them for
# cp1252 text with curly quotes in 0x80-0x9F all the time.
_LEGACY_SINGLE_BYTE = frozenset({"ascii", "latin_1", "iso8859-1", "cp1252"})


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded; `warnings` say what was wrong with it."""

    title: str | None
    site_url: str | None
    entries: list[RawArticle]
    warnings: list[str]
    ttl_s: int | None
    newest_entry_at: datetime | None
    entry_times: list[datetime]  # UTC, oldest first; future-dated entries left out
    # feedparser's name for the format ("rss20", "atom10", ...); None: not a feed at all.
    version: str | None = None


def parse_feed(
    content: bytes,
    *,
    feed_url: str,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed document fetched from `feed_url` (the final URL, after redirects)."""
    warnings: list[str] = []
    if fetched_at is not None and fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=UTC)  # naive means UTC, as everywhere here
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if not content.strip():
        return _empty(["empty document: not a feed"])
    if looks_like_json_feed(content, lowered.get("content-type")):
        json_feed = parse_json_feed(content)
        if json_feed is not None:
            return _parsed_json_feed(json_feed, feed_url=feed_url, fetched_at=fetched_at)

    charset, charset_note = _choose_charset(content, lowered.get("content-type"))
    if charset_note:
        warnings.append(charset_note)
    content, charset = _prepared_for_feedparser(content, charset, warnings)
    # We pick the charset (header, XML declaration, sniffing) and hand feedparser a
    # content type that makes it use exactly that; its RFC 3023 rules would read text/xml
    # without a charset as US-ASCII and ignore the XML declaration.
    # No content-location: feedparser would resolve relative links against the feed URL
    # before the channel's link could be tried (entry_links does it in the right order).
    response_headers = {
        "content-type": f"application/xml; charset={charset}" if charset else "application/xml",
    }
    if "content-language" in lowered:
        response_headers["content-language"] = lowered["content-language"]
    try:
        # A file object, never bytes: feedparser open()s a bytes argument as a *path* when
        # it can, so a body reading "/etc/passwd" would parse a local file.
        # resolve_relative_uris=False only stops feedparser re-parsing every HTML body to
        # absolutize links inside it (a quarter of its time; the normalizer keeps text,
        # not links). Entry links, ids and xml:base are still resolved, and the script-URL
        # blanking that pass did is done by _scrub_script_urls for every attribute.
        parsed = feedparser.parse(
            io.BytesIO(content), response_headers=response_headers, resolve_relative_uris=False
        )
    # A third-party parser on hostile input, and our promise is "never raises": any
    # failure becomes the feed's warning.
    except Exception as exc:  # feedparser on hostile bytes: a failed fetch, never a crash
        return _empty([*warnings, f"feed could not be parsed: {type(exc).__name__}: {exc}"])

    if parsed.get("bozo"):
        warnings.append(f"feed parsed with errors: {parsed.get('bozo_exception')}")
    feed_meta = parsed.get("feed", {})
    if not parsed.get("version") and not parsed.get("entries"):
        served_as = lowered.get("content-type", "no content type")
        warnings.append(f"not an RSS or Atom feed (served as {served_as}): no entries found")

    now = fetched_at or datetime.now(UTC)
    entries, entry_times = _entries(
        parsed.get("entries", []), feed_url, fetched_at, warnings,
        base=site_base(feed_meta.get("link"), feed_url=feed_url),
        channel_language=feed_meta.get("language"),
    )  # fmt: skip
    current_times = [t for t in entry_times if t <= now + _FUTURE_SLACK]
    if len(current_times) < len(entry_times):
        future = len(entry_times) - len(current_times)
        warnings.append(f"{future} entries dated in the future; not used for scheduling")
    current_times.sort()

    return ParsedFeed(
        title=_clean_text(feed_meta.get("title")),
        site_url=_safe_http_url(feed_meta.get("link"), base=feed_url),
        entries=entries,
        warnings=warnings,
        ttl_s=_ttl_seconds(feed_meta),
        newest_entry_at=current_times[-1] if current_times else None,
        entry_times=current_times,
        version=parsed.get("version") or None,
    )


def _empty(warnings: list[str]) -> ParsedFeed:
    return ParsedFeed(None, None, [], warnings, None, None, [])


def _parsed_json_feed(
    document: JsonFeed, *, feed_url: str, fetched_at: datetime | None
) -> ParsedFeed:
    """A JSON Feed through the same entry rules as RSS and Atom."""
    warnings = list(document.warnings)
    entries, entry_times = _entries(
        document.entries, feed_url, fetched_at, warnings,
        base=site_base(document.feed.get("link"), feed_url=feed_url),
    )  # fmt: skip
    now = fetched_at or datetime.now(UTC)
    current_times = sorted(t for t in entry_times if t <= now + _FUTURE_SLACK)
    return ParsedFeed(
        title=_clean_text(document.feed.get("title")),
        site_url=_safe_http_url(document.feed.get("link"), base=feed_url),
        entries=entries,
        warnings=warnings,
        ttl_s=None,
        newest_entry_at=current_times[-1] if current_times else None,
        entry_times=current_times,
        version=document.version,
    )


# ---------------------------------------------------------------------------------------
# Before feedparser: a prolog it reads in linear time, character references XML allows

# feedparser's replace_doctype runs `^\s*<!ENTITY([^>]*?)>` (MULTILINE) over everything
# before the root element: quadratic in the newlines there (40 KB of them: 5 s). The prolog
# is rebuilt here so that it holds no whitespace run, no comment and no processing
# instruction, and one line per entity declaration of at most one DOCTYPE.
_XML_DECLARATION = re.compile(rb"<\?xml\s[^<>]{0,1024}\?>")
_SPACE_RUN = re.compile(rb"\s+")
_ENTITY_LINE = re.compile(rb"\s*<!ENTITY")
_DOCTYPE_MAX_BYTES = 64 * 1024
_DOCTYPE_MAX_ENTITIES = 100
# Where feedparser thinks the root element starts.
_FEEDPARSER_ROOT = re.compile(rb"<\w")
# A numeric character reference; one to a code point XML does not allow (a lone surrogate
# like &#xD800;) makes expat refuse the whole document, so it becomes U+FFFD instead.
_CHARACTER_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,16}));")
_WIDE_CODECS = {
    b"<\x00?\x00": "utf-16-le",
    b"\x00<\x00?": "utf-16-be",
    b"<\x00\x00\x00": "utf-32-le",
    b"\x00\x00\x00<": "utf-32-be",
}


def _prepared_for_feedparser(
    content: bytes, charset: str | None, warnings: list[str]
) -> tuple[bytes, str | None]:
    """The document as feedparser should see it: UTF-16/32 transcoded to UTF-8 (so the
    byte-level steps below apply), its prolog rebuilt (linear for feedparser), and
    character references to code points XML forbids replaced by U+FFFD."""
    wide = _wide_codec(content, charset)
    if wide is not None:
        text = content.decode(wide, errors="replace").removeprefix("\ufeff")
        content, charset = _without_declaration(text.encode("utf-8")), "utf-8"
    elif charset is None:
        return content, charset  # EBCDIC or unknown: left to feedparser as it was
    content = _linear_prolog(content)
    if b"&#" in content:
        replaced = 0

        def checked(match: re.Match[bytes]) -> bytes:
            nonlocal replaced
            hex_digits, decimal = match.groups()
            code = int(hex_digits, 16) if hex_digits else int(decimal)
            if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
                return match.group(0)
            if 0x10000 <= code <= 0x10FFFF:
                return match.group(0)
            replaced += 1
            return b"&#xFFFD;"

        content = _CHARACTER_REFERENCE.sub(checked, content)
        if replaced:
            warnings.append(
                f"{replaced} character reference(s) to code points XML forbids "
                "(lone surrogates, controls) replaced by U+FFFD"
            )
    return content, charset


def _wide_codec(content: bytes, charset: str | None) -> str | None:
    if charset is not None:
        name = charset.lower().replace("_", "-")
        if name.startswith(("utf-16", "utf-32")):
            return charset
        return None
    return _WIDE_CODECS.get(content[:4])


def _without_declaration(content: bytes) -> bytes:
    # A declaration naming UTF-16 would now lie; UTF-8 is XML's default.
    match = _XML_DECLARATION.match(content)
    return content[match.end() :] if match else content


def _linear_prolog(content: bytes) -> bytes:
    """`content` with what precedes its root element rebuilt: the XML declaration, at
    most one DOCTYPE (whitespace collapsed, one entity declaration per line; dropped if
    over 64 KiB or 100 entities), nothing else. One pass over the prolog."""
    # The charset is already chosen (a BOM decides it) and handed to feedparser.
    content = content.removeprefix(codecs.BOM_UTF8)
    if content[:1] == b"<" and content[1:2] not in (b"?", b"!"):
        return content  # the root comes first: nothing to do (the common case)
    size = len(content)
    declaration = b""
    doctype: bytes | None = None
    pos = 0
    match = _XML_DECLARATION.match(content)
    if match:
        declaration, pos = match.group(0), match.end()
    while pos < size:
        space = _SPACE_RUN.match(content, pos)
        if space:
            pos = space.end()
        if content.startswith(b"<!--", pos):
            end = content.find(b"-->", pos + 4)
            pos = size if end < 0 else end + 3
        elif content.startswith(b"<?", pos):
            end = content.find(b"?>", pos + 2)
            pos = size if end < 0 else end + 2
        elif content.startswith(b"<!DOCTYPE", pos) or content.startswith(b"<!doctype", pos):
            end = _doctype_end(content, pos)
            if doctype is None:
                doctype = content[pos:end]
            pos = end
        else:
            break
    rest = content[pos:]
    if rest[:1] != b"<" or rest[1:2] in (b"!", b"?"):
        # Text or other declarations before the root (not well-formed XML anyway):
        # dropped up to where feedparser would see the root start.
        root = _FEEDPARSER_ROOT.search(rest)
        rest = rest[root.start() :] if root else b""
    parts = [declaration] if declaration else []
    if doctype is not None and len(doctype) <= _DOCTYPE_MAX_BYTES:
        doctype = _ENTITY_LINE.sub(b"\n<!ENTITY", _SPACE_RUN.sub(b" ", doctype))
        if doctype.count(b"\n") <= _DOCTYPE_MAX_ENTITIES:
            parts.append(doctype)
    parts.append(rest)
    return b"\n".join(parts)


def _doctype_end(content: bytes, start: int) -> int:
    """Where a DOCTYPE declaration ends: after `]>` if it has an internal subset."""
    close = content.find(b">", start)
    bracket = content.find(b"[", start)
    if close < 0:
        return len(content)
    if 0 <= bracket < close:
        subset_end = content.find(b"]", bracket)
        close = content.find(b">", subset_end) if subset_end >= 0 else -1
        if close < 0:
            return len(content)
    return close + 1


# ---------------------------------------------------------------------------------------
# Entries


def _entries(
    raw_entries: list[Any],
    feed_url: str,
    fetched_at: datetime | None,
    warnings: list[str],
    *,
    base: str,
    channel_language: str | None = None,
) -> tuple[list[RawArticle], list[datetime]]:
    drafts: list[dict[str, Any]] = []
    for position, entry in enumerate(raw_entries, start=1):
        title_is_html = _detail_type(entry.get("title_detail")) in _HTML_TYPES
        title = _clean_text(entry.get("title"))
        if title and title_is_html:
            title = _scrub_script_urls(title)
        body, content_type = _richest_body(entry)
        if content_type == "text/html":
            body = _scrub_script_urls(body)
        if not body.strip() and not title:
            warnings.append(f"entry {position} skipped: no title and no content")
            continue
        given = entry_link(entry, base=base)
        link = _safe_http_url(given, base=feed_url)
        published = _entry_time(entry)
        drafts.append(
            {
                "position": position,
                "title": title,
                "body": body,
                "content_type": content_type,
                "link": link,
                "guid": _entry_guid(entry, link, title, body, permalink=given),
                "published": published,
                "title_is_html": title_is_html,
                "dropped_link": given if given and not link else None,
                "metadata": entry_metadata(
                    entry, channel_language=channel_language, base_url=feed_url
                ),
            }
        )
    for position in ambiguous_without_fragment([draft["link"] for draft in drafts]):
        drafts[position]["fragment_identifies"] = True

    # A guid repeated inside one document: give every holder a content-derived suffix, so
    # the result does not depend on entry order and the next fetch yields the same guids.
    repeated = {g for g, n in Counter(d["guid"] for d in drafts).items() if n > 1}
    seen: set[str] = set()
    articles: list[RawArticle] = []
    times: list[datetime] = []
    for draft in drafts:
        guid = draft["guid"]
        if guid in repeated:
            fingerprint = _sha1(
                "\n".join([draft["link"] or "", draft["title"] or "", draft["body"]])
            )
            guid = f"{guid}#{fingerprint[:12]}"
            warnings.append(
                f"entry {draft['position']}: guid {draft['guid'][:200]!r} repeated in the document; "
                f"stored as {guid[:200]!r}"
            )
        if guid in seen:
            warnings.append(f"entry {draft['position']} skipped: exact copy of an earlier entry")
            continue
        seen.add(guid)
        article = _raw_article(draft, guid, feed_url, fetched_at, warnings)
        if article is None:
            continue
        articles.append(article)
        if draft["published"] is not None:
            times.append(draft["published"])
    return articles, times


def _raw_article(
    draft: dict[str, Any],
    guid: str,
    feed_url: str,
    fetched_at: datetime | None,
    warnings: list[str],
) -> RawArticle | None:
    extra: dict[str, Any] = {"feed_url": feed_url, "entry_link": draft["link"]}
    extra.update(draft.get("metadata") or {})
    published = draft["published"]
    if published is None:
        extra["date_missing"] = True
        if fetched_at is not None:
            extra["fetched_at"] = fetched_at.astimezone(UTC).isoformat()
    if draft["title_is_html"]:
        extra["title_type"] = "text/html"
    elif draft["title"] and "<" in draft["title"]:
        extra["title_type"] = "text/plain"  # "x <y> z" as written, not a tag to strip
    if draft["dropped_link"]:
        extra["link_dropped"] = "not an http(s) URL"
    if draft.get("fragment_identifies"):
        # Links equal but for their #fragment: the fragment is what tells these apart.
        extra["fragment_identifies"] = True
    try:
        return RawArticle(
            url=draft["link"],
            guid=guid,
            title=draft["title"],
            body=draft["body"],
            content_type=draft["content_type"],
            published_at=published.isoformat() if published else None,
            source=feed_url,
            extra=extra,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        warnings.append(
            f"entry {draft['position']} skipped: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        )
        return None


def _richest_body(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The longest of content[] and summary; HTML wins a tie (same text, more structure)."""
    candidates: list[tuple[int, int, str, str]] = []
    for detail in entry.get("content") or []:
        value = detail.get("value") or ""
        kind = _detail_type(detail)
        candidates.append((len(value), kind in _HTML_TYPES, value, kind))
    summary = entry.get("summary")
    if summary:
        kind = _detail_type(entry.get("summary_detail"))
        candidates.append((len(summary), kind in _HTML_TYPES, summary, kind))
    if not candidates:
        return "", "text/plain"
    _, is_html, value, _ = max(candidates, key=lambda c: (c[0], c[1]))
    return value, "text/html" if is_html else "text/plain"


def _detail_type(detail: Mapping[str, Any] | None) -> str:
    return str((detail or {}).get("type") or "text/plain").lower()


def _entry_guid(
    entry: Mapping[str, Any],
    link: str | None,
    title: str | None,
    body: str,
    *,
    permalink: str | None = None,
) -> str:
    guid = (entry.get("id") or "").strip()
    if guid:
        # An id is opaque, but UIs render RSS guids as links: nothing executable is kept.
        if len(guid) > _GUID_MAX or _dangerous_scheme(guid):
            return "sha1:" + _sha1(guid)
        return guid
    if link:
        return link if len(link) <= _GUID_MAX else "sha1:" + _sha1(link)
    # A permalink that is not http (at://, urn:, tag:) still names the entry: its guid.
    if permalink and not _dangerous_scheme(permalink) and len(permalink) <= _GUID_MAX:
        return permalink
    return "sha1:" + _sha1((title or "") + "\n" + body)


def _entry_time(entry: dict[str, Any]) -> datetime | None:
    corrected = corrected_entry_time(entry)  # zones and forms feedparser misreads
    if corrected is not None:
        return corrected
    # feedparser has already applied the offset or named zone: these are UTC struct_times.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get maps a missing updated_parsed to published_parsed
        # with a DeprecationWarning.
        value = dict.get(entry, key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                continue
    return None


def _clean_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:_TITLE_MAX] or None


def _sha1(text: str) -> str:
    # An identity, not a security boundary; sha1 is what the guid fallback is documented as.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _dangerous_scheme(value: str) -> bool:
    head = re.sub(r"[\x00-\x20]+", "", value[:64]).lower()
    return head.startswith(("javascript:", "vbscript:", "data:", "livescript:"))


def _scrub_script_urls(html: str) -> str:
    """Blank attribute values that are script URLs, which feedparser's sanitizer leaves in
    all but a/area href (form action, img src, cite, background, poster, ...).

    feedparser re-serializes sanitized markup as `name="value"` with <, > and " escaped
    inside values, so tags and attributes can be found reliably with two patterns.
    """
    hint = html.translate(_URL_IGNORED).lower()
    if "script:" not in hint and "data:" not in hint and "&#" not in hint:
        return html
    return _TAG.sub(lambda tag: _ATTRIBUTE.sub(_blank_script_url, tag.group(0)), html)


def _blank_script_url(attribute: re.Match[str]) -> str:
    value = unescape(attribute.group(2))
    if _dangerous_scheme(value) and not _INLINE_IMAGE.match(value.strip()):
        return f'{attribute.group(1)}=""'
    return attribute.group(0)


def _safe_http_url(link: Any, *, base: str) -> str | None:
    """An absolute http(s) URL, or None: javascript:, data: and the like never become URLs."""
    if not isinstance(link, str):
        return None
    link = link.strip()
    if not link or _dangerous_scheme(link):
        return None
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    absolute = absolute.translate(_URL_ESCAPES)
    return absolute if len(absolute) <= _URL_MAX else None


def _ttl_seconds(feed_meta: Mapping[str, Any]) -> int | None:
    """RSS <ttl> (minutes); failing that, the syndication module's updatePeriod/Frequency."""
    ttl = str(feed_meta.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl) * 60
    period = _SY_PERIOD_S.get(str(feed_meta.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = str(feed_meta.get("sy_updatefrequency") or "1").strip()
    times = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
    return max(1, period // times)


# ---------------------------------------------------------------------------------------
# Character set


def _choose_charset(content: bytes, content_type: str | None) -> tuple[str | None, str | None]:
    """(charset to decode with, a warning or None): BOM, then header, then XML declaration,
    then sniffing. Returns None to let feedparser sniff non-ASCII-compatible documents."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF32_LE, "utf-32le"),
        (codecs.BOM_UTF32_BE, "utf-32be"),
        (codecs.BOM_UTF16_LE, "utf-16le"),
        (codecs.BOM_UTF16_BE, "utf-16be"),
    ):
        if content.startswith(bom):
            return name, None
    if content[:4] in (
        b"<\x00?\x00",
        b"\x00<\x00?",
        b"<\x00\x00\x00",
        b"\x00\x00\x00<",
        b"Lo\xa7\x94",
    ):
        return None, None  # UTF-16/32 or EBCDIC without a BOM: feedparser's XML sniffing

    notes: list[str] = []
    for label, where in (
        (_charset_param(content_type), "HTTP header"),
        (_xml_declared(content), "XML declaration"),
    ):
        if not label:
            continue
        codec = _codec_name(label)
        if codec is None:
            notes.append(f"unknown charset {label!r} in the {where}")
            continue
        if codec in _LEGACY_SINGLE_BYTE and not content.isascii() and _is_utf8(content):
            notes.append(
                f"charset {label!r} in the {where}, but the content is UTF-8; read as UTF-8"
            )
            return "utf-8", "; ".join(notes)
        if codec in _LEGACY_SINGLE_BYTE:
            return "windows-1252", "; ".join(notes) or None
        if _decodes(content, codec):
            return codec, "; ".join(notes) or None
        notes.append(f"content is not valid {label!r} as declared in the {where}")

    if content.isascii() or _is_utf8(content):
        return "utf-8", "; ".join(notes) or None
    guess = charset_normalizer.from_bytes(content[:65536]).best()
    sniffed = _codec_name(guess.encoding) if guess is not None else None
    if sniffed is None or not _decodes(content, sniffed):
        sniffed = "windows-1252"
    notes.append(f"charset not declared; sniffed {sniffed}")
    return sniffed, "; ".join(notes)


def _charset_param(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _xml_declared(content: bytes) -> str | None:
    match = _XML_ENCODING.match(content[:1024])
    return match.group(1).decode("ascii") if match else None


def _codec_name(label: str) -> str | None:
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    if name == "gb2312":
        return "gb18030"  # a superset, as browsers and feedparser do
    return name


def _is_utf8(content: bytes) -> bool:
    return _decodes(content, "utf-8")


def _decodes(content: bytes, codec: str) -> bool:
    try:
        content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


# ---------------------------------------------------------------------------------------
# Cache headers


def parse_cache_headers(headers: Mapping[str, str]) -> int | None:
    """Freshness lifetime in seconds the server gave: Cache-Control max-age, else Expires
    minus Date. None when it gave none, or said no-store / no-cache. s-maxage is for
    shared caches, not for us."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives: dict[str, str | None] = {}
    for part in (lowered.get("cache-control") or "").split(","):
        name, sep, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"') if sep else None
    if "no-store" in directives or "no-cache" in directives:
        return None
    max_age = directives.get("max-age")
    if max_age is not None and max_age.isdigit():
        return int(max_age)

    expires = lowered.get("expires")
    if not expires:
        return None
    expires_at = http_date(expires)
    if expires_at is None:
        return 0  # RFC 9111: an invalid Expires (e.g. "0", "-1") means already expired
    date = http_date(lowered.get("date") or "") or datetime.now(UTC)
    return max(0, int((expires_at - date).total_seconds()))
