"""What the HTTP API sends and takes besides the schemas/ contracts: pages, stories, feeds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas import ArticlePublic


def check_feed_url(url: str) -> str:
    """An http or https URL with a host, stripped; ValueError says what is wrong."""
    url = url.strip()
    if len(url) > 2048:
        raise ValueError("longer than 2048 characters")
    if any(
        ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" or "\ud800" <= ch <= "\udfff" for ch in url
    ):
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:
        raise ValueError(f"not a URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError("must be an http or https URL with a host")
    return url


class JobAccepted(BaseModel):
    job_id: str


class ArticlePage(BaseModel):
    """One page of `GET /articles`; pass `next_cursor` as `cursor` for the next one."""

    items: list[ArticlePublic]
    next_cursor: str | None = Field(description="Null on the last page.")


class StoryPublic(BaseModel):
    """A story: the articles that are near copies of its first one (`id`)."""

    id: int
    title: str
    member_count: int
    members: list[ArticlePublic] = Field(description="The first 1000 members, in id order.")


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="An http or https feed URL.")
    title: str | None = Field(default=None, max_length=1000)
    interval_s: int | None = Field(
        default=None,
        ge=300,
        le=24 * 3600,
        description="A fixed fetch interval; by default it adapts to how often the feed "
        "publishes (5 min .. 24 h).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return check_feed_url(url)

    @field_validator("title")
    @classmethod
    def _storable(cls, title: str | None) -> str | None:
        # JSON can carry what a text column cannot hold: NUL and lone surrogates.
        if title is not None and any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in title):
            raise ValueError("must not contain NUL or unpaired surrogate characters")
        return title


class FeedPublic(BaseModel):
    """A registered feed, as `news-ingest feeds list --json` shows it."""

    id: int
    url: str
    title: str | None = None
    status: str = Field(description="active, error, gone (410) or removed.")
    enabled: bool
    etag: str | None = None
    last_modified: str | None = None
    last_fetched_at: datetime | None = None
    next_fetch_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    retry_after_until: datetime | None = None
    interval_s: int | None = None
    fetch_interval_s: int | None = None
    warnings: list[str] | None = None
    created_at: datetime | None = None
    interval_reason: str | None = Field(
        default=None, description="Why fetch_interval_s is what it is (see the README)."
    )
    gap_detected_at: datetime | None = Field(
        default=None, description="The last fetch that saw none of the entries seen before."
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, str]
