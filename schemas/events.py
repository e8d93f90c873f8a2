"""Outbound events: what downstream consumers read from the `news-ingest:events` stream
and from webhooks. Delivery is at least once; `idempotency_key` identifies an event."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field


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
    # Full text and metadata (null when unknown): where the body came from (`feed` or
    # `page`), why a page was not used, the language (ISO 639-1), bylines, categories, image.
    body_source: Literal["feed", "page"] | None = None
    full_text_error: str | None = None
    language: str | None = None
    authors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    image_url: str | None = None

    METADATA_FIELDS: ClassVar[tuple[str, ...]] = (
        "body_source", "full_text_error", "language", "authors", "tags", "image_url",
    )  # fmt: skip
