"""What may be stored in the short fields a client shows next to an article (issue 19):
a guid, a sighting's location, a producer's source name. Nothing there may render as a
link to a script or as markup.

- Link-like values (they start with a URL scheme) keep only http, https and ftp (a guid
  also urn: and tag:, the usual Atom ids); any other scheme (`javascript:`, `data:`,
  `vbscript:`, `file:`, ...) drops the value. A scheme is read as browsers read it: ASCII
  tabs, newlines and leading controls ignored, any case.
- Every value loses ASCII control characters and each `<` that would open a tag (`<`
  before a letter, `/`, `!` or `?`), the rule the body's last line of defence applies:
  `<img onerror=...>` is stored as `img onerror=...>`, inert as text and as HTML.
"""

from __future__ import annotations

import re

__all__ = ["GUID_SCHEMES", "LINK_SCHEMES", "plain_label", "safe_link"]

LINK_SCHEMES = frozenset({"http", "https", "ftp"})
GUID_SCHEMES = LINK_SCHEMES | {"urn", "tag"}

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_TAG_OPEN = re.compile(r"<+(?=[a-zA-Z/!?])")
# Two letters at least: `C:\seeds\a.txt` is a path, not a URL.
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+):")


def plain_label(value: str) -> str:
    """`value` without control characters or tag openings (linear; never raises)."""
    if not value.isprintable():
        value = _CONTROLS.sub("", value)
    return _TAG_OPEN.sub("", value) if "<" in value else value


def safe_link(value: str | None, schemes: frozenset[str] = LINK_SCHEMES) -> str | None:
    """`value` as a plain label, or None if it reads as a URL with a scheme outside
    `schemes`. A value without a scheme (a path, an opaque id) is kept."""
    if value is None:
        return None
    cleaned = plain_label(value).strip()
    match = _SCHEME.match(cleaned)
    if match is not None and match.group(1).lower() not in schemes:
        return None
    return cleaned or None
