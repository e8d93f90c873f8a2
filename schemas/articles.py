"""Articles as they arrive (`RawArticle`, the queue contract) and as they are exported."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A hard ceiling any producer must respect; the configurable, usually lower limit is
# NEWS_INGEST_MAX_ARTICLE_BYTES, checked by the worker before any work is done.
MAX_BODY_CHARS = 16 * 1024 * 1024


class RawArticle(BaseModel):
    """One article as it arrived, untouched, with its provenance. Only `body` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    body: str = Field(max_length=MAX_BODY_CHARS, description="Plain text or HTML.")
    url: str | None = Field(default=None, max_length=8192)
    guid: str | None = Field(default=None, max_length=2048)
    title: str | None = Field(default=None, max_length=65536)
    content_type: Literal["text/plain", "text/html"] = "text/plain"
    published_at: str | None = Field(
        default=None,
        max_length=256,
        description="ISO 8601 with any offset (or RFC 822 from feeds); kept as sent, parsed "
        "by the normalizer so an unparseable date keeps the article with a warning.",
    )
    source: str | None = Field(
        default=None, max_length=8192, description="Seed directory, feed URL or producer name."
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Free metadata. Seeds set `path`; feeds set `feed_url` and `entry_link`.",
    )


class SightingPublic(BaseModel):
    """One arrival of an article: which source, which file or URL, which guid, when."""

    source: str | None
    location: str | None
    guid: str | None
    seen_at: datetime


class ArticlePublic(BaseModel):
    """One stored article as exported and shown by the API."""

    id: int
    title: str
    body: str
    url: str | None
    published_at: datetime | None
    content_hash: str
    story_id: int
    duplicate_of: int | None
    similarity: float | None = None
    sightings: list[SightingPublic] = Field(default_factory=list)
    # Full text and metadata (feed articles; producers may set them in RawArticle.extra).
    summary: str | None = Field(
        default=None, description="The feed's own text (the body itself when body_source is feed)."
    )
    body_source: Literal["feed", "page"] | None = Field(
        default=None, description="feed: the feed's text; page: the linked page's main text."
    )
    full_text_error: str | None = Field(
        default=None, description="Why the page's text was not used (404, robots, paywall, ...)."
    )
    language: str | None = Field(default=None, description="ISO 639-1 code, e.g. de.")
    authors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="Categories and sections.")
    image_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        # Stored rows hold null for no authors or tags, and no separate summary when the
        # body is the feed's own text.
        if isinstance(data, dict):
            data = dict(data)
            for key in ("authors", "tags"):
                if data.get(key) is None:
                    data[key] = []
            if data.get("summary") is None and data.get("body_source") == "feed":
                data["summary"] = data.get("body")
        return data
