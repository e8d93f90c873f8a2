"""Entry dates feedparser gets wrong, read again from the text the feed wrote.

feedparser knows the US zone names only: "Sun, 19 May 2002 15:21:36 BST" (British summer
time) or "... CEST" parse as UTC, an hour or two off, silently. ISO 8601's basic format
("20031231T101455Z") loses its time of day. Everything else is left to feedparser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz
from typing import Any

__all__ = ["corrected_entry_time"]

# Zone abbreviations publishers use that feedparser's RFC 822 table lacks (hours east of
# UTC). Ambiguous ones (IST: India or Ireland; BST is British far more often than
# Bangladesh in feeds) are left out unless one reading dominates.
_EXTRA_ZONES = {
    "bst": 1.0, "cet": 1.0, "cest": 2.0, "eet": 2.0, "eest": 3.0, "wet": 0.0, "west": 1.0,
    "msk": 3.0, "jst": 9.0, "kst": 9.0, "hkt": 8.0, "sgt": 8.0, "awst": 8.0, "acst": 9.5,
    "acdt": 10.5, "aest": 10.0, "aedt": 11.0, "nzst": 12.0, "nzdt": 13.0, "hst": -10.0,
    "akst": -9.0, "akdt": -8.0, "nst": -3.5, "ndt": -2.5, "utc": 0.0,
}  # fmt: skip
_NAMED_ZONE = re.compile(r"^(?P<head>.*\d{1,2}:\d{2}(?::\d{2})?)\s+(?P<zone>[A-Za-z]{3,4})$")
_ISO_BASIC = re.compile(
    r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})?(?:\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_SOURCES = (
    ("published", "published_parsed"),
    ("updated", "updated_parsed"),
    ("created", "created_parsed"),
)


def corrected_entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's date (published, else updated, else created) when its text is one of
    the forms above, as UTC; None to let feedparser's reading stand."""
    # A plain dict view: FeedParserDict.get maps a missing updated to published, with a
    # DeprecationWarning.
    fields = dict(entry.items())
    for text_key, parsed_key in _SOURCES:
        text = fields.get(text_key)
        if not isinstance(text, str) or not text.strip():
            if fields.get(parsed_key) is not None:
                return None  # feedparser's choice comes first; nothing of ours to correct
            continue
        return _reread(text.strip())
    return None


def _reread(text: str) -> datetime | None:
    named = _NAMED_ZONE.match(text)
    if named is not None:
        hours = _EXTRA_ZONES.get(named.group("zone").lower())
        if hours is None:
            return None
        parts = parsedate_tz(named.group("head") + " +0000")
        if parts is None:
            return None
        try:
            local = datetime(*parts[:6], tzinfo=UTC)
        except (ValueError, TypeError):
            return None
        return local - timedelta(hours=hours)
    basic = _ISO_BASIC.match(text)
    if basic is not None:
        year, month, day, hour, minute, second, zone = basic.groups()
        try:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                tzinfo=UTC,
            )
        except ValueError:
            return None
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            moment -= sign * offset
        return moment
    return None
