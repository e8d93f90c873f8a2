"""Identity of an article: the keys that make two arrivals exact copies of each other."""

from __future__ import annotations

import hashlib


def content_hash(body: str) -> str:
    """SHA-256 of the normalized body: equal for exact copies, whatever their source."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def fallback_guid(title: str | None, body: str) -> str:
    """Entry identity when a feed gives neither guid nor link: a hash of title and content."""
    digest = hashlib.sha1(f"{title or ''}\x00{body}".encode()).hexdigest()
    return f"sha1:{digest}"
