"""Linear pre-scans of raw input that bound what a decoder will be asked to build.

A JSON document is measured (nesting depth, number of values) and an XML document's
element nesting is measured from the bytes alone, before `json.loads` or feedparser build
anything: a 600 KB task message of 200,000 tiny items took a worker to 511 MB once decoded,
100,000 levels of nesting raised RecursionError in the worker's consumer, and deeply nested
feed markup cost feedparser ~80 MB per MB. Every scan here is a few passes of C-level
`re`/`bytes` operations over the input (possessive quantifiers: no backtracking), so a
hostile input cannot make the scan itself quadratic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

__all__ = ["JsonShape", "json_refusal", "json_shape", "xml_depth"]

# A JSON string once its escaped backslashes and quotes are gone, or an unterminated one
# running to the end: every quote starts a match that consumes, so a run of unterminated
# strings is not retried from each of its quotes.
_JSON_STRING = re.compile(rb'"[^"]*+(?:"|\Z)')
_STRUCTURAL = b"[]{},"
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in _STRUCTURAL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}()")
_STEP = tuple(1 if b in b"[{(" else -1 if b in b"]})" else 0 for b in range(256))

# XML: comments, CDATA sections, processing instructions and the DOCTYPE hold no elements
# (each match runs to the end of the input when unterminated, for the same reason).
_XML_OPAQUE = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z)|<!(?:[^<>]++|<[^<>]*+>)*+(?:>|\Z)",
    re.DOTALL,
)
_XML_OPEN = re.compile(rb"<(?=[A-Za-z_:\x80-\xff])")


@dataclass(frozen=True, slots=True)
class JsonShape:
    """What decoding a JSON document would build: its size, its number of values (an
    upper bound: containers and comma-separated members) and its nesting depth (None when
    not measured because the value count already exceeded the limit)."""

    size: int
    values: int
    depth: int | None


def json_shape(data: bytes, *, max_values: int | None = None) -> JsonShape:
    """Measure a JSON document without decoding it. Depth is measured only when the value
    count is within `max_values` (it walks the brackets, which that count bounds)."""
    # Escapes parse left to right, so dropping `\\` pairs first, then `\"`, leaves only the
    # quotes that open and close strings.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structural = _JSON_STRING.sub(b"", unescaped).translate(None, _NOT_STRUCTURAL)
    opened = structural.count(b"[") + structural.count(b"{")
    values = opened + structural.count(b",") + (1 if data.strip() else 0)
    if max_values is not None and values > max_values:
        return JsonShape(size=len(data), values=values, depth=None)
    brackets = structural.translate(None, b",")
    depth = max(accumulate(_STEP[b] for b in brackets), default=0) if brackets else 0
    return JsonShape(size=len(data), values=values, depth=max(depth, 0))


def json_refusal(
    data: bytes, *, max_bytes: int, max_depth: int, max_values: int, what: str = "document"
) -> tuple[str, JsonShape] | None:
    """Why a JSON document must not be decoded (naming the setting that bounds it), with
    its measured shape; None when it is within the limits."""
    if len(data) > max_bytes:
        shape = JsonShape(size=len(data), values=0, depth=None)
        return (
            f"{what} of {len(data)} bytes exceeds NEWS_INGEST_MAX_MESSAGE_BYTES={max_bytes}",
            shape,
        )
    shape = json_shape(data, max_values=max_values)
    if shape.values > max_values:
        return (
            f"{what} of {shape.values} JSON values exceeds "
            f"NEWS_INGEST_MAX_MESSAGE_ITEMS={max_values}",
            shape,
        )
    if shape.depth is not None and shape.depth > max_depth:
        return (
            f"{what} nested {shape.depth} levels deep exceeds "
            f"NEWS_INGEST_MAX_JSON_DEPTH={max_depth}",
            shape,
        )
    return None


def xml_depth(data: bytes) -> int:
    """The deepest element nesting of an XML (or HTML-ish) document, measured from its
    bytes: start tags open a level, end tags and `/>` close one. An approximation good
    enough for a bound (a stray `/>` in text closes a level that was never opened)."""
    text = _XML_OPAQUE.sub(b"", data.translate(None, b"()"))
    tokens = _XML_OPEN.sub(b"(", text.replace(b"</", b")").replace(b"/>", b")"))
    brackets = tokens.translate(None, _NOT_BRACKET).translate(None, b"[]{}")
    return max(max(accumulate(_STEP[b] for b in brackets), default=0), 0)
