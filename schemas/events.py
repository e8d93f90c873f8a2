"""Outbound events: what downstream consumers read from the `news-ingest:events` stream
and from webhooks. Delivery is at least once; `idempotency_key` identifies an event."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class ArticleEvent(BaseModel):
    """An article was stored (`article.created`, as a new story or a near copy joining one)
    or its text changed under the same URL or guid (`article.updated`)."""

    type: Literal["article.created", "article.updated"]
    idempotency_key: str
    article_id: int
    story_id: int
    duplicate_of: int | None
    similarity: float | None
    content_hash: str
    url: str | None
    title: str
    published_at: datetime | None
    source: str | None
    occurred_at: datetime
