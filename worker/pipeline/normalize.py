"""Normalize a RawArticle: clean plain text, a title, a UTC date and a canonical URL.

Pure functions over strings (no database, no Celery). Bump NORMALIZER_VERSION whenever the
output for some input changes, so `news-ingest renormalize` knows what to redo.
"""

from __future__ import annotations

import ipaddress
import re
import time
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from html import unescape as _unescape_html
from types import ModuleType
from urllib.parse import quote, unquote_plus, urlsplit

import ftfy
from selectolax.lexbor import LexborHTMLParser

from schemas.articles import RawArticle
from worker.errors import RejectedInput
from worker.pipeline.safe_fields import GUID_SCHEMES, safe_link
from worker.settings import DEFAULT_BOILERPLATE, Settings, get_settings

_kernel: ModuleType | None
try:  # the C kernel (setup.py); without it the Python code gives the same results, slower
    from worker.pipeline import _fingerprint as _kernel
except ImportError:  # pragma: no cover - built wherever a C compiler is
    _kernel = None

__all__ = [
    "NORMALIZER_VERSION",
    "NormalizedArticle",
    "canonical_url",
    "clean_text",
    "derive_title",
    "fingerprint_text",
    "fingerprint_words",
    "html_to_text",
    "normalize_article",
    "parse_published",
]

NORMALIZER_VERSION: int = 1


@dataclass(frozen=True, slots=True)
class NormalizedArticle:
    """One article after normalization: what identity, dedup and storage work on."""

    title: str
    body: str
    url: str | None
    guid: str | None
    published_at: datetime | None
    warnings: tuple[str, ...]


def normalize_as_configured(raw: RawArticle, settings: Settings) -> NormalizedArticle:
    """`normalize_article` with the settings in force (NEWS_INGEST_BOILERPLATE,
    NEWS_INGEST_TITLE_MAX_CHARS): ingest, renormalize and the feed's checks clean alike."""
    return normalize_article(
        raw,
        boilerplate=frozenset(word.lower() for word in settings.boilerplate),
        title_max_chars=settings.title_max_chars,
    )


def normalize_article(
    raw: RawArticle,
    *,
    boilerplate: Collection[str] = DEFAULT_BOILERPLATE,
    title_max_chars: int = 200,
    cpu_budget_s: float | None = None,
) -> NormalizedArticle:
    """Normalize one article; raise RejectedInput when no text is left, or when it used
    more than `cpu_budget_s` of CPU (default NEWS_INGEST_ARTICLE_CPU_BUDGET_S), checked
    between stages: no signal, so it works in any thread."""
    budget = _CpuBudget(
        cpu_budget_s if cpu_budget_s is not None else get_settings().article_cpu_budget_s
    )
    warnings: list[str] = []
    keys = _boilerplate_keys(_as_frozenset(boilerplate))
    if raw.content_type == "text/html":
        paragraphs = _html_paragraphs(raw.body, _HTML_ROUNDS)
        budget.check("parsing its HTML")
        body = _clean("\n\n".join(paragraphs), keys, strip_markup=True)
    else:
        body = _clean(raw.body, keys, strip_markup=False)
        if "<" in body and _MARKUP.search(body):
            # Producers often send HTML labelled text/plain; tags must not reach storage.
            # Judged on the cleaned text (a removed control character can complete a tag),
            # and only paragraphs with markup are parsed, so plain paragraphs keep theirs.
            warnings.append("body looked like HTML: converted to text")
            budget.check("cleaning its text")
            body = _clean(_parse_marked_paragraphs(body), keys, strip_markup=True)
    budget.check("cleaning its body")
    if not body:
        raise RejectedInput("empty body after normalization")

    # A feed that declared its title plain text: "<" and "&" in it are characters, not markup.
    plain = raw.extra.get("title_type") == "text/plain"
    title = _clean_title(raw.title, title_max_chars, plain=plain) if raw.title else ""
    if not title:
        title = derive_title(body, max_chars=title_max_chars)
    budget.check("making its title")

    published_at, date_warning = parse_published(raw.published_at)
    if date_warning:
        warnings.append(date_warning)

    guid = None
    if raw.guid is not None:
        # No markup, and no link a client could follow to a script (safe_fields).
        guid = safe_link(raw.guid, GUID_SCHEMES)
        if guid is None and raw.guid.strip():
            warnings.append("guid dropped: a URL scheme other than http, https, ftp, urn, tag")

    return NormalizedArticle(
        title=title,
        body=body,
        url=canonical_url(raw.url, keep_fragment=bool(raw.extra.get("fragment_identifies"))),
        guid=guid,
        published_at=published_at,
        warnings=tuple(warnings),
    )


class _CpuBudget:
    """The CPU time (this thread's) one article may use; `check` between stages."""

    __slots__ = ("limit_s", "started")

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.started = time.thread_time()

    def check(self, stage: str) -> None:
        used = time.thread_time() - self.started
        if used > self.limit_s:
            raise RejectedInput(
                f"normalization used {used:.3f} s of CPU by the end of {stage}, over "
                f"NEWS_INGEST_ARTICLE_CPU_BUDGET_S={self.limit_s:g}"
            )


# --------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------

_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
# C0 controls except \t and \n (\r, \v and \f are turned into \n before this runs), and DEL.
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Thirty `in` tests (memchr) cost ~3 us per 3 KB where the regex scan costs ~13 us.
_CONTROL_CHARS = tuple(map(chr, [*range(0x09), *range(0x0B, 0x20), 0x7F]))
# After mojibake repair: C1 controls, invisible format characters that only get in the way
# (soft hyphen, zero-width space, word joiner, BOM, bidi embeddings/overrides/isolates),
# lone surrogates and non-characters. ZWJ/ZWNJ stay: emoji and several scripts need them.
_UNICODE_NOISE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
_BLANK_LINES = re.compile(r"\n\s*\n")
_SURROGATES = re.compile("[\ud800-\udfff]")
_WORDS = re.compile(r"[^\W_]+")

# Signs that a paragraph may hold mojibake: C1 controls, Â/Ã (the usual UTF-8 lead bytes
# read as Latin-1), a UTF-8 lead byte followed by the right number of continuation bytes
# as cp1252/Latin-1 show them, MacRoman's ‚Ä, and surrogates. ftfy then decides what to
# change. ftfy.badness.is_bad would cost ~800 us per 3 KB; this costs 3-40 us because it
# runs over the UTF-8 bytes, where every branch starts with a fixed lead byte.
#
# _CONT: one character of U+0080-U+00BF, or one that cp1252 puts at 0x80-0x9f, in UTF-8.
_CONT = (
    rb"(?:\xc2[\x80-\xbf]|\xc5[\x92\x93\xa0\xa1\xb8\xbd\xbe]|\xc6\x92|\xcb[\x86\x9c]"
    rb"|\xe2\x80[\x93\x94\x98-\x9a\x9c-\x9e\xa0-\xa2\xa6\xb0\xb9\xba]|\xe2\x82\xac|\xe2\x84\xa2)"
)
_MOJIBAKE_HINT = re.compile(
    # C1 controls; Â and Ã; MacRoman's ‚Ä; surrogates
    rb"\xc2[\x80-\x9f]|\xc3[\x82\x83]|\xe2\x80\x9a\xc3\x84|\xed[\xa0-\xbf]"
    # U+00C4-U+00DF, U+00E0-U+00EF, U+00F0-U+00F4: lead bytes of 2, 3 and 4
    + rb"|\xc3[\x84-\x9f]%(c)s|\xc3[\xa0-\xaf]%(c)s{2}|\xc3[\xb0-\xb4]%(c)s{3}" % {b"c": _CONT}
)


def _looks_mojibaked(paragraph: str) -> bool:
    return _MOJIBAKE_HINT.search(paragraph.encode("utf-8", "surrogatepass")) is not None


# Encoding repair only: keep curly quotes, ligatures, full-width forms and literal entities.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    normalization="NFC",
    explain=False,
)
_MAX_FIX_ROUNDS = 4


def clean_text(text: str, *, boilerplate: Collection[str]) -> str:
    """Clean plain text: paragraphs separated by exactly one blank line, each on one line.

    CRLF/CR become LF; control characters, terminal escapes and invisible format characters
    are removed; mojibake is repaired (only where it looks likely: ftfy is slow); text is
    NFC; whitespace is folded inside paragraphs; lines equal to a boilerplate phrase
    (compared case-insensitively, ignoring punctuation and spacing) are dropped.
    Idempotent: cleaning the output again returns it unchanged.
    """
    return _clean(text, _boilerplate_keys(_as_frozenset(boilerplate)), strip_markup=False)


def _clean(text: str, keys: _BoilerplateKeys, *, strip_markup: bool) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text:
        text = _ANSI_ESCAPE.sub("", text)
    if any(char in text for char in _CONTROL_CHARS):
        text = _ASCII_CONTROLS.sub("", text.replace("\x0b", "\n").replace("\x0c", "\n"))
    if not text.isascii():
        if "\u2029" in text:
            text = text.replace("\u2029", "\n\n")
        if "\u2028" in text:
            text = text.replace("\u2028", "\n")

    paragraphs: list[str] = []
    for block in _BLANK_LINES.split(text):
        lines = block.split("\n")
        if keys.phrases:
            lines = [line for line in lines if not _is_boilerplate(line, keys)]
        paragraph = " ".join(lines)
        if paragraph.isascii():
            if _needs_folding(paragraph):
                paragraph = " ".join(paragraph.split())
            if strip_markup:
                paragraph = _neutralize_markup(paragraph)
        else:
            paragraph = _fix_unicode(paragraph, strip_markup=strip_markup)
        if paragraph and not (keys.phrases and _is_boilerplate(paragraph, keys)):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _needs_folding(paragraph: str) -> bool:
    # ASCII only (other controls are gone by now): skip the split/join, the costliest step
    # for text that is already clean.
    return (
        "  " in paragraph
        or "\t" in paragraph
        or paragraph.startswith(" ")
        or paragraph.endswith(" ")
    )


def _fix_unicode(paragraph: str, *, strip_markup: bool) -> str:
    # Iterate to a fixed point so that cleaning the output again changes nothing (removing
    # a character can, in rare cases, put two others side by side that ftfy or NFC fold).
    for _ in range(_MAX_FIX_ROUNDS):
        fixed = paragraph
        if _looks_mojibaked(fixed):
            fixed = ftfy.fix_text(fixed, _FTFY_CONFIG)
        fixed = _UNICODE_NOISE.sub("", fixed)
        fixed = unicodedata.normalize("NFC", fixed)
        fixed = " ".join(fixed.split())
        if strip_markup:
            fixed = _neutralize_markup(fixed)
        if fixed == paragraph:
            break
        paragraph = fixed
    return paragraph


@dataclass(frozen=True, slots=True)
class _BoilerplateKeys:
    phrases: frozenset[str]
    max_line_chars: int


def _as_frozenset(boilerplate: Collection[str]) -> frozenset[str]:
    return boilerplate if isinstance(boilerplate, frozenset) else frozenset(boilerplate)


@lru_cache(maxsize=64)
def _boilerplate_keys(boilerplate: frozenset[str]) -> _BoilerplateKeys:
    phrases = frozenset(key for key in map(_boilerplate_key, boilerplate) if key)
    # A line much longer than the longest phrase cannot be one: skip the regex for it.
    longest = max(map(len, phrases), default=0)
    return _BoilerplateKeys(phrases=phrases, max_line_chars=longest + 40)


def _boilerplate_key(line: str) -> str:
    return " ".join(_WORDS.findall(line.casefold()))


def _is_boilerplate(line: str, keys: _BoilerplateKeys) -> bool:
    return len(line) <= keys.max_line_chars and _boilerplate_key(line) in keys.phrases


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

# Elements whose content is never text a reader sees (or is executable, or is raw text
# that would otherwise come out as literal markup): dropped with everything inside.
_DROPPED_ELEMENTS = [
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
    "noscript", "noembed", "noframes", "template", "svg", "math", "textarea", "title",
    "xmp", "plaintext", "head", "select", "button", "canvas", "audio", "video", "map",
]  # fmt: skip
_BLOCK_ELEMENTS = (
    "address|article|aside|blockquote|br|caption|dd|details|dialog|div|dl|dt|fieldset"
    "|figcaption|figure|footer|form|h[1-6]|header|hgroup|hr|li|main|nav|ol|p|pre|section"
    "|summary|table|td|th|tr|ul"
)
# A paragraph break, put in the markup before parsing: \x1e is a control character, so it
# cannot be part of the text (it is removed from the input first) and costs nothing to
# find afterwards. Inserting nodes through the DOM is exact too but 2-3x slower.
_BREAK = "\x1e"
# Starts with a literal "<" so the regex engine can skip ahead (a bare lookahead is 5x slower).
_BLOCK_TAG = re.compile(rf"<(?=/?(?:{_BLOCK_ELEMENTS})[\s/>])", re.IGNORECASE)
# What looks like markup in text: a complete tag or a comment. Used to treat mislabelled
# text/plain as HTML and to parse double-escaped HTML (`&lt;p&gt;`) once more.
_MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?>|<!--")
# The same once more escaped (`&lt;script&gt;`): parsed again so it is decoded, then dropped.
_ESCAPED_MARKUP = re.compile(r"&lt;/?[a-zA-Z][a-zA-Z0-9:-]*(?:\s(?:(?!&[lg]t;)[^<>])*)?/?&gt;")
# Any tag opening at all; after parsing, such a "<" is removed so no tag can leak.
_TAG_OPEN = re.compile(r"(?<!<)<+(?=[a-zA-Z/!?])")
_HTML_ROUNDS = 3

# The HTML5 tree builder walks the stack of open elements for most block start tags, so
# parse time grows with the square of the nesting depth (100k nested <div> take ~20 s).
# Deeper documents than this go through a linear tag stripper instead.
_MAX_HTML_DEPTH = 512
# The name is possessive (`*+`): with a plain `*` the name and the attributes after it
# could split a long run of letters every which way, quadratic for `<a` + 40 KB of letters
# and no `>` (19 s). Every other pattern here can match a character in one way only.
_TAG_TOKEN = re.compile(r"<(/?)([a-zA-Z][^\s/<>]*+)[^<>]*?(/?)>")
_NOT_NESTING = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dd",
        "dt",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "tbody",
        "thead",
        "tfoot",
        "colgroup",
        "rb",
        "rt",
        "rp",
    ]
)


def html_to_text(html: str) -> str:
    """Plain text of an HTML document or fragment: entities decoded, block elements (p,
    div, br, h1-h6, li, ...) as paragraph breaks, no script/style/iframe/... content, and
    no tag left in the output (double-escaped markup is parsed again, at most 3 times)."""
    text = "\n\n".join(_html_paragraphs(html, _HTML_ROUNDS))
    return _clean(text, _NO_BOILERPLATE, strip_markup=True)


def _html_paragraphs(html: str, rounds: int) -> list[str]:
    if any(char in html for char in _CONTROL_CHARS):
        html = html.replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
        html = _ASCII_CONTROLS.sub("", html)
    if not html.isascii():
        # Lone surrogates cannot be encoded for the parser. C1 controls stay: they are
        # what ftfy needs to repair mojibake later.
        html = _SURROGATES.sub("", html)
    if html.count("<") > _MAX_HTML_DEPTH and _nesting_depth(html) > _MAX_HTML_DEPTH:
        text = _strip_tags_linear(html)
    else:
        text = _parse_text(html)
    paragraphs: list[str] = []
    for chunk in text.split(_BREAK):
        paragraph = " ".join(chunk.split())
        if not paragraph:
            continue
        if rounds > 1 and _has_markup(paragraph):
            paragraphs.extend(_html_paragraphs(paragraph, rounds - 1))
        else:
            paragraphs.append(paragraph)
    return paragraphs


def _parse_text(html: str) -> str:
    tree = LexborHTMLParser(_BLOCK_TAG.sub(_BREAK + "<", html))
    tree.strip_tags(_DROPPED_ELEMENTS, recursive=True)
    body = tree.body
    return body.text(deep=True) if body is not None else ""


def _has_markup(text: str) -> bool:
    return ("<" in text and _MARKUP.search(text) is not None) or (
        "&lt;" in text and _ESCAPED_MARKUP.search(text) is not None
    )


def _parse_marked_paragraphs(text: str) -> str:
    paragraphs: list[str] = []
    for paragraph in text.split("\n\n"):
        if "<" in paragraph and _MARKUP.search(paragraph):
            paragraphs.extend(_html_paragraphs(paragraph, _HTML_ROUNDS))
        else:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _nesting_depth(html: str) -> int:
    """An upper estimate of how deep the elements of `html` nest (linear time)."""
    depth = deepest = 0
    for match in _TAG_TOKEN.finditer(html):
        name = match.group(2).lower()
        if name in _NOT_NESTING:
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        elif not match.group(3):
            depth += 1
            deepest = max(deepest, depth)
    return deepest


_LINEAR_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<[!?][^>]*>?|<(/?)([a-zA-Z][^\s/>]*)[^>]*>?", re.DOTALL
)
_RAW_TEXT_ELEMENTS = frozenset(
    ["script", "style", "iframe", "noscript", "noembed", "noframes", "textarea", "title", "xmp"]
)
_BLOCK_NAMES = re.compile(rf"(?:{_BLOCK_ELEMENTS})\Z", re.IGNORECASE)


def _strip_tags_linear(html: str) -> str:
    """Text of pathologically nested HTML without building a tree. Coarser than the
    parser (no implied end tags) but linear, and drops the same elements' content."""
    dropped = frozenset(_DROPPED_ELEMENTS)
    out: list[str] = []
    skipping: str | None = None  # a dropped element whose end tag we are looking for
    skip_depth = 0
    pos = 0
    while pos < len(html):
        match = _LINEAR_TOKEN.search(html, pos)
        if match is None:
            if skipping is None:
                out.append(_unescape_html(html[pos:]))
            break
        if skipping is None:
            out.append(_unescape_html(html[pos : match.start()]))
        pos = match.end()
        name = (match.group(2) or "").lower()
        if not name:
            continue  # comment, doctype or processing instruction
        closing = bool(match.group(1))
        if skipping is not None:
            if name == skipping:
                skip_depth += -1 if closing else 1
                if skip_depth == 0:
                    skipping = None
            continue
        if closing:
            if _BLOCK_NAMES.match(name):
                out.append(_BREAK)
            continue
        if name == "plaintext":
            break  # everything after <plaintext> is raw text: drop it
        if name in _RAW_TEXT_ELEMENTS:
            end = re.compile(rf"</{name}[\s/>]", re.IGNORECASE).search(html, pos)
            pos = end.end() if end else len(html)
        elif name in dropped:
            skipping, skip_depth = name, 1
        elif _BLOCK_NAMES.match(name):
            out.append(_BREAK)
    return "".join(out)


def _neutralize_markup(paragraph: str) -> str:
    # Last line of defence after parsing: what still opens a tag loses its "<".
    return _TAG_OPEN.sub("", paragraph) if "<" in paragraph else paragraph


_NO_BOILERPLATE = _BoilerplateKeys(phrases=frozenset(), max_line_chars=0)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")


def _clean_title(title: str, max_chars: int, *, plain: bool = False) -> str:
    # A title with tags or entities is treated as HTML; feeds send both kinds.
    if not plain and ("<" in title or ("&" in title and _ENTITY.search(title))):
        text = " ".join(_html_paragraphs(title, _HTML_ROUNDS))
        cleaned = _clean(text, _NO_BOILERPLATE, strip_markup=True)
    else:
        cleaned = _clean(title, _NO_BOILERPLATE, strip_markup=False)
    return _cut_at_word(cleaned.replace("\n\n", " "), max_chars)


# --------------------------------------------------------------------------------------
# Title
# --------------------------------------------------------------------------------------

# Where a sentence may end: . ! or ? (plus closing quotes or brackets). It does if a space
# and a capital, digit or opening quote follow, or the paragraph ends, and the word before
# is not an initial, an initialism (U.S.) or an abbreviated title (Mr., Gen.).
_SENTENCE_END = re.compile("[.!?]+[\"'\u2019\u201d)\\]]*")
_SENTENCE_NEXT = re.compile("\\s+[\"'\u2018\u201c(\\[]?[A-Z0-9]|\\s*$")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "vs",
        "lt",
        "col",
        "sgt",
        "rev",
        "prof",
        "capt",
        "gen",
        "sen",
        "rep",
        "gov",
        "messrs",
    ]
)
_ELLIPSIS = "\u2026"
_TRIM_BEFORE_ELLIPSIS = " ,;:-\u2013\u2014([{\"'\u201c\u2018/"


def derive_title(body: str, *, max_chars: int = 200) -> str:
    """The first sentence of the body's first paragraph, without its final period, cut at
    a word boundary to at most `max_chars` characters. A cut title ends with "…", which
    counts towards `max_chars`."""
    # Only the start matters: anything past the limit is cut anyway.
    first = body.lstrip()[: 4 * max_chars + 256].split("\n\n", 1)[0]
    first = " ".join(first.split())
    sentence = first
    for match in _SENTENCE_END.finditer(first):
        if _ends_sentence(first, match):
            sentence = first[: match.end()]
            break
    # Drop a final period, but keep the one of "U.S.".
    if sentence.endswith(".") and len(sentence) > 1 and sentence[-2].isalnum():
        sentence = sentence if sentence[-2].isupper() else sentence[:-1]
    return _cut_at_word(sentence, max_chars)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if not _SENTENCE_NEXT.match(text, match.end()):
        return False
    word = text[: match.start()].rsplit(" ", 1)[-1].lstrip("\"'(\u2018\u201c[")
    if match.group(0)[0] != ".":
        return bool(word)
    return len(word) > 1 and "." not in word and word.lower() not in _ABBREVIATIONS


def _cut_at_word(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return text[: max(max_chars, 0)]
    budget = max_chars - 1  # room for the ellipsis
    head = text[:budget]
    if not text[budget].isspace():
        space = head.rfind(" ")
        if space > 0:
            head = head[:space]  # never end on part of a word
    head = head.rstrip(_TRIM_BEFORE_ELLIPSIS) or text[:budget].rstrip() or text[:budget]
    return head + _ELLIPSIS


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------

_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=2)
_MAX_DATE_CHARS = 128
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_START = re.compile(r"\d{4}-?\d{2}")
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:[+-]\d{2}(?::?\d{2})?|Z)$)")
_TRAILING_COMMENT = re.compile(r"\s*\(([^()]*)\)$")
_TRAILING_ZONE = re.compile(r"\s([A-Za-z]{1,5})$")
_NUMERIC_OFFSET = re.compile(r"(?:[+-]\d{2}:?\d{2}|Z)$")
# Zone abbreviations seen in feeds. Ambiguous ones (IST) are left out on purpose; CST is
# the US one, as in RFC 822.
_ZONE_OFFSETS = {
    "UT": "+0000", "UTC": "+0000", "GMT": "+0000", "Z": "+0000", "WET": "+0000",
    "EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500", "MST": "-0700",
    "MDT": "-0600", "PST": "-0800", "PDT": "-0700", "AKST": "-0900", "AKDT": "-0800",
    "HST": "-1000", "AST": "-0400", "ADT": "-0300", "NST": "-0330", "NDT": "-0230",
    "BST": "+0100", "WEST": "+0100", "CET": "+0100", "MET": "+0100", "CEST": "+0200",
    "MEST": "+0200", "EET": "+0200", "EEST": "+0300", "MSK": "+0300", "SGT": "+0800",
    "HKT": "+0800", "AWST": "+0800", "JST": "+0900", "KST": "+0900", "ACST": "+0930",
    "ACDT": "+1030", "AEST": "+1000", "AEDT": "+1100", "NZST": "+1200", "NZDT": "+1300",
}  # fmt: skip
_HUMAN_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%Y/%m/%d")


def parse_published(value: str | None) -> tuple[datetime | None, str | None]:
    """(UTC datetime, warning) for a publication date: ISO 8601 with any offset, a bare
    YYYY-MM-DD (midnight UTC), RFC 822/2822 with a numeric offset or a zone name.
    A time without a zone is taken as UTC. Missing, impossible, unparseable, before 1900
    or more than two days ahead: (None, why)."""
    if value is None or not value.strip():
        return None, "date missing"
    text = value.strip()
    shown = repr(text[:64])[1:-1]
    if len(text) > _MAX_DATE_CHARS:
        return None, f"date invalid: {shown}"
    try:
        moment, warning = _parse_datetime(text)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None, f"date invalid: {shown}"
    if moment < _EARLIEST:
        return None, f"date before 1900: {shown}"
    if moment > datetime.now(UTC) + _FUTURE_SLACK:
        return None, f"date in the future: {shown}"
    return moment, warning


def _parse_datetime(text: str) -> tuple[datetime, str | None]:
    if _BARE_DATE.fullmatch(text):
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC), None
    if _ISO_START.match(text):
        iso, warning = _numeric_zone(text.upper())
        moment = datetime.fromisoformat(_SPACE_BEFORE_OFFSET.sub("", iso))
        return _assume_utc(moment), warning
    rfc, warning = _numeric_zone(text)
    try:
        return _assume_utc(parsedate_to_datetime(rfc)), warning
    except (TypeError, ValueError, IndexError):
        pass
    for pattern in _HUMAN_DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC), None
        except ValueError:
            continue
    raise ValueError(text)


def _numeric_zone(text: str) -> tuple[str, str | None]:
    """Replace a trailing zone name (or "(zone)" comment) by its numeric offset."""
    comment = _TRAILING_COMMENT.search(text)
    if comment:
        rest = text[: comment.start()]
        text = rest if _NUMERIC_OFFSET.search(rest) else f"{rest} {comment.group(1)}"
    zone = _TRAILING_ZONE.search(text)
    if zone is None:
        return text, None
    name = zone.group(1).upper()
    if name in ("AM", "PM"):
        return text, None
    if name in _ZONE_OFFSETS:
        return f"{text[: zone.start()]} {_ZONE_OFFSETS[name]}", None
    return text[: zone.start()], f"date zone unknown: {name[:8]}, assumed UTC"


def _assume_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "gclsrc", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_ga",
        "_gl", "_hsenc", "_hsmi", "hsctatracking", "mkt_tok", "oly_anon_id",
        "oly_enc_id", "vero_id", "vero_conv", "wickedid", "ref_src", "ref_url", "ocid",
        "__twitter_impression", "s_cid", "cmpid", "spm", "trk", "trkcampaign",
    }
)  # fmt: skip
_URL_EDGE_JUNK = "".join(map(chr, range(0x21))) + "\u00a0\u200b\ufeff"
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PERCENT_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$'()*+,;=-._~"


def canonical_url(url: str | None, *, keep_fragment: bool = False) -> str | None:
    """The canonical form of an http(s) URL, or None for anything else or for garbage.

    Lower-case scheme and host (IDNA hosts as punycode), no userinfo, no default port, no
    fragment, no tracking parameters (utm_*, fbclid, gclid, ...; the others keep their
    order), "/" for an empty path, percent-escapes upper-cased and unreserved ones decoded.
    Idempotent; never raises. `keep_fragment`: for a feed's entries whose links differ
    only by their fragment (see sources.entry_links), the fragment is their identity.
    """
    if url is None:
        return None
    try:
        canonical = _canonical_url(url)
        if keep_fragment and canonical is not None and "#" in url:
            fragment = url.split("#", 1)[1].strip()
            if fragment:
                return f"{canonical}#{quote(fragment, safe=_PATH_SAFE + '?')}"
        return canonical
    except ValueError:  # includes UnicodeError: bad IDNA labels, ports, IPv6 literals
        return None


def _canonical_url(url: str) -> str | None:
    url = _TAB_NEWLINE.sub("", url.strip(_URL_EDGE_JUNK))
    if not url:
        return None
    # As in browsers, a backslash is a path separator in http(s) URLs; leaving it would let
    # "http://good.example\@evil.example" mean different hosts to us and to a browser.
    parts = urlsplit(url.replace("\\", "/"))
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = _canonical_host(parts.hostname or "")
    if host is None:
        return None
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _normalize_escapes(quote(parts.path, safe=_PATH_SAFE)) or "/"
    query = _strip_tracking(parts.query)
    return f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"


def _canonical_host(host: str) -> str | None:
    host = host.removesuffix(".")
    if not host:
        return None
    if ":" in host:
        return f"[{ipaddress.IPv6Address(host).compressed}]"  # ValueError if not one
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    host = host.lower()
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return host


def _strip_tracking(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote_plus(pair.split("=", 1)[0]).strip().lower()
        if name.startswith("utm_") or name in _TRACKING_PARAMS:
            continue
        kept.append(_normalize_escapes(quote(pair, safe=_QUERY_SAFE)))
    return "&".join(kept)


def _normalize_escapes(component: str) -> str:
    if "%" not in component:
        return component
    return _PERCENT_ESCAPE.sub(_normalize_escape, component)


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0).upper()


# --------------------------------------------------------------------------------------
# Fingerprint for near-duplicate shingling
# --------------------------------------------------------------------------------------

_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ",
    }
)  # fmt: skip
# ASCII punctuation becomes a space, except the apostrophe, which is dropped: "don't" and
# "dont" are one word, "rock 'n' roll" is three either way. Bytes.translate is ~2x faster.
_ASCII_PUNCTUATION = b'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
_ASCII_FOLD = bytes.maketrans(_ASCII_PUNCTUATION, b" " * len(_ASCII_PUNCTUATION))
_NOT_WORD = re.compile(r"[^\w\s]")


def fingerprint_text(body: str) -> str:
    """Lower-case words of `body` with typography folded (NFKC; curly quotes, dashes,
    ellipsis and no-break spaces as ASCII), punctuation removed, single spaces: two copies
    that differ only in typography get the same fingerprint."""
    return " ".join(fingerprint_words(body))


def fingerprint_words(body: str) -> list[str]:
    """The words of `fingerprint_text(body)`."""
    text = body.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).lower()
        text = text.replace("'", "")
        text = _NOT_WORD.sub(_drop_mark_else_space, text).replace("_", " ")
        # Removing an apostrophe can leave a letter next to a combining mark: compose them
        # so that the fingerprint of a fingerprint is itself.
        return unicodedata.normalize("NFKC", text).split()
    return text.encode("ascii").translate(_ASCII_FOLD, b"'").decode("ascii").split()


# A dateline opening the first paragraph: "SYDNEY (AAP) - ", "CANBERRA, Jan 5 (Reuters) -- ",
# "PERTH: ", "(AFP) ", "HOBART — ". Upper-case place names only, so an ordinary first word
# followed by a colon is not taken for one.
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z.'’-]*(?: [A-Z][A-Z.'’-]*){0,3}"
    r"(?:, [A-Z][a-z]{2,8}\.? \d{1,2})?"
    r"(?: \([A-Za-z][A-Za-z .]{0,20}\))?"
    r" ?(?:-{1,2}|[–—:]) "
    r"|\([A-Z][A-Za-z .]{0,20}\) )"
)


# A link to another article set in the text: "Related: ...", "READ MORE: ...".
_LINK_LINE = re.compile(
    r"^(?:related|read more|read also|also read|see also|more on this|recommended|watch|listen)"
    r"\s*(?::|\u2014|\u2013| -) ",
    re.IGNORECASE,
)
# A note added to a story after it ran ("Update: ...", "Editor's note: ..."): new text, often
# the lead of another story, that a reprint of the story may or may not carry.
_ADDENDUM = re.compile(
    r"^(?:update[ds]?|updated at [^:]{1,20}|editor[’']?s note|latest|correction|clarification)"
    r"\s*(?::|\u2014|\u2013| -) ",
    re.IGNORECASE,
)
# Paragraphs shorter than this are page furniture far more often than text ("Photo: AAP",
# "Print this page", "By Jane Doe", "Updated 3:45pm", "Most read").
CHROME_MAX_WORDS = 7


# A publisher's notice, in `fingerprint_text` form: the rights line, the disclaimer, the
# syndication credit, the subscription pitch, the helpline and the corrections footer that
# outlets append to every story. Such a paragraph says nothing about the story it follows,
# so once two stories share one it is left out of their comparison (see
# `pipeline.candidates.Candidates`) instead of making them look alike.
_STRONG_NOTICE = re.compile(
    r"\b(?:copyright|all rights reserved"
    r"|(?:may|must) not be (?:re ?)?(?:published|produced|printed|copied|broadcast"
    r"|distributed|redistributed|rewritten|reproduced)"
    r"|without (?:the )?(?:prior |express )*written (?:permission|consent)"
    r"|views (?:and|or) opinions expressed|if you or someone you know"
    r"|(?:is|was) (?:distributed|syndicated|supplied) by"
    r"|subscribe (?:today|now|to our)|sign up (?:to|for) our|(?:story|news) tip"
    r"|corrections? policy|community guidelines|reporting by \w+(?: \w+){0,6} editing by"
    r")\b"
)
# Weaker signs count only two together: news stories mention advice and newsletters too.
_WEAK_NOTICE = re.compile(
    r"\b(?:does not constitute|general in nature|(?:financial|legal|medical|professional) advice"
    r"|do(?:es)? not (?:necessarily )?(?:reflect|represent)|(?:originally|first) published"
    r"|newsletter|follow us|our (?:website|app)|terms of (?:use|service)|privacy policy"
    r"|helpline|crisis line|call \w+ on \d|seek (?:independent )?(?:professional )?advice"
    r"|not intended|no responsibility|at the time of (?:writing|publication)"
    r")\b"
)
# Footers are short; a long paragraph matching them is a story about such things.
NOTICE_MAX_WORDS = 90


def looks_like_notice(fingerprint: str) -> bool:
    """Whether a paragraph (`fingerprint_text` form) reads like a publisher's notice rather
    than part of a story (see `_STRONG_NOTICE`)."""
    if fingerprint.count(" ") >= NOTICE_MAX_WORDS:
        return False
    if _STRONG_NOTICE.search(fingerprint):
        return True
    return len({match.group(0) for match in _WEAK_NOTICE.finditer(fingerprint)}) >= 2


def fingerprint_paragraphs(body: str) -> list[str]:
    """`fingerprint_text` of the paragraphs of a normalized body that carry its text, for
    near-duplicate comparison (the stored body keeps everything): without a dateline at the
    start, links to other articles, notes added after the first paragraph ("Update: ...")
    and very short lines, so that a reprint adding a dateline, a byline, an update or share
    and "related" lines compares as the text it reprints. A body made only of short lines
    keeps them all."""
    paragraphs = body.split("\n\n")
    if paragraphs:
        paragraphs[0] = _DATELINE.sub("", paragraphs[0], count=1)
    if _kernel is not None and body.isascii():
        folded = [_kernel.fold(paragraph.encode("ascii")) for paragraph in paragraphs]
        texts = [(text.decode("ascii"), words) for text, words in folded]
    else:
        texts = [(" ".join(words), len(words)) for words in map(fingerprint_words, paragraphs)]
    found = [
        (text, words, paragraph, index)
        for index, ((text, words), paragraph) in enumerate(zip(texts, paragraphs, strict=True))
        if words
    ]
    kept = [
        text
        for text, words, paragraph, index in found
        if words > CHROME_MAX_WORDS
        and not _LINK_LINE.match(paragraph)
        and not (index and _ADDENDUM.match(paragraph))
    ]
    return kept or [text for text, _, _, _ in found]


def _drop_mark_else_space(match: re.Match[str]) -> str:
    # Combining marks are not \w in Python's re but are parts of words (Indic vowel
    # signs, accents NFKC cannot compose): keep them rather than split the word.
    char = match.group(0)
    return char if unicodedata.category(char)[0] == "M" else " "


def story_paragraphs(body: str) -> list[str]:
    """The paragraphs of a normalized body that `fingerprint_paragraphs` compares, as written
    (case kept, so that names can be told from words): the dateline, links, notes added
    after the first paragraph and very short lines left out, as there."""
    paragraphs = body.split("\n\n")
    if paragraphs:
        paragraphs[0] = _DATELINE.sub("", paragraphs[0], count=1)
    found = [
        (paragraph, len(fingerprint_words(paragraph)), index)
        for index, paragraph in enumerate(paragraphs)
    ]
    found = [item for item in found if item[1]]
    kept = [
        paragraph
        for paragraph, words, index in found
        if words > CHROME_MAX_WORDS
        and not _LINK_LINE.match(paragraph)
        and not (index and _ADDENDUM.match(paragraph))
    ]
    return kept or [paragraph for paragraph, _, _ in found]
