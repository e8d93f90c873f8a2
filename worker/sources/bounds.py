"""Linear pre-scans of raw input that bound what a decoder will be asked to build.

A JSON document is measured (nesting depth, number of values) and an XML document's
element nesting is measured from the bytes alone, before `json.loads` or feedparser build
anything: a 600 KB task message of 200,000 tiny items took a worker to 511 MB once decoded,
100,000 levels of nesting raised RecursionError in the worker's consumer, and deeply nested
feed markup cost feedparser ~80 MB per MB. Every scan here is a few vectorised passes
(bytes, numpy) over the input, a chunk at a time: linear in time, a few MiB of memory, so a
hostile input cannot make the scan itself costly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["JsonShape", "json_refusal", "json_shape", "xml_depth"]

# The scans go through the input a chunk at a time, so their own memory is a few MiB
# whatever the input's size (a regex substitution over a 10 MiB body of 1.7 million values
# held ~240 MB of pieces).
_CHUNK = 1 << 20

_QUOTE = ord('"')
_OPENS = np.zeros(256, dtype=np.int8)
_OPENS[list(b"[{")] = 1
_CLOSES = np.zeros(256, dtype=np.int8)
_CLOSES[list(b"]}")] = 1
_COMMA = ord(",")

# XML: comments, CDATA sections, processing instructions and the DOCTYPE hold no elements
# (each match runs to the end of the input when unterminated, so a run of unterminated
# ones is not rescanned from each of them; possessive quantifiers: no backtracking).
_XML_OPAQUE = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<\?.*?(?:\?>|\Z)|<!(?:[^<>]++|<[^<>]*+>)*+(?:>|\Z)",
    re.DOTALL,
)
_NAME_START = np.zeros(256, dtype=bool)
_NAME_START[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:")] = True
_NAME_START[0x80:] = True


@dataclass(frozen=True, slots=True)
class JsonShape:
    """What decoding a JSON document would build: its size, its number of values (an
    upper bound: containers and comma-separated members) and its nesting depth (None when
    not measured because the value count already exceeded the limit)."""

    size: int
    values: int
    depth: int | None


def json_shape(data: bytes, *, max_values: int | None = None) -> JsonShape:
    """Measure a JSON document without decoding it: brackets and commas outside strings,
    found with vectorised passes over the bytes. `max_values` is accepted for symmetry
    with `json_refusal`; the depth comes at no extra cost, so it is always measured."""
    del max_values
    # Escapes parse left to right, so dropping `\\` pairs first, then `\"`, leaves only
    # the quotes that open and close strings.
    unescaped = np.frombuffer(data.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    values = 0 if not data or data.isspace() else 1
    inside = 0  # whether the previous chunk ended inside a string
    depth = deepest = 0
    for start in range(0, len(unescaped), _CHUNK):
        chunk = unescaped[start : start + _CHUNK]
        parity = np.bitwise_xor.accumulate((chunk == _QUOTE).view(np.uint8)) ^ inside
        inside = int(parity[-1])
        outside = parity == 0
        opens = _OPENS[chunk] & outside
        steps = opens - (_CLOSES[chunk] & outside)
        values += int(np.count_nonzero(opens)) + int(np.count_nonzero((chunk == _COMMA) & outside))
        running = np.cumsum(steps, dtype=np.int32)
        deepest = max(deepest, depth + int(running.max()))
        depth += int(running[-1])
    return JsonShape(size=len(data), values=values, depth=deepest)


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
    bytes: `<name` opens a level, `</` and `/>` close one. An approximation good enough for
    a bound (a stray `/>` in text closes a level that was never opened)."""
    text = np.frombuffer(_XML_OPAQUE.sub(b"", data), dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(text), _CHUNK):
        # One byte of overlap: a tag's first two bytes may straddle the chunks.
        chunk = text[start : start + _CHUNK + 1]
        head, tail = chunk[:-1], chunk[1:]
        if len(tail) == 0:
            break
        lt, slash = head == ord("<"), head == ord("/")
        opening = lt & _NAME_START[tail]
        closing = (lt & (tail == ord("/"))) | (slash & (tail == ord(">")))
        steps = opening.view(np.int8) - closing.view(np.int8)
        running = np.cumsum(steps, dtype=np.int32)
        deepest = max(deepest, depth + int(running.max()))
        depth += int(running[-1])
    return max(deepest, 0)
