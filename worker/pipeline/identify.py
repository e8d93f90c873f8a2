"""Identity of an article: the keys that make two arrivals exact copies of each other."""

from __future__ import annotations

import hashlib


def content_hash(body: str) -> str:
    """SHA-256 of the normalized body: equal for exact copies, whatever their source."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
