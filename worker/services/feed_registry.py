"""The feed registry as `news-ingest feeds`, `run URL` and `/feeds` read and change it:
register, list, remove, and each feed's own full-text mode. Fetching is services.feeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine

from worker.storage import feeds as feed_rows
from worker.storage import full_text as full_text_rows
from worker.storage.feeds import FeedSource

__all__ = [
    "FeedImport",
    "FeedRegistration",
    "SourceKindTaken",
    "add_feeds",
    "full_text_modes",
    "get_feed",
    "get_feed_by_url",
    "list_feeds",
    "register_feed",
    "remove_feed",
]


class SourceKindTaken(Exception):
    """A URL a feed was asked for already names a source of another kind."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(f"{name} is already a source of kind {kind!r}, not a feed")
        self.name = name
        self.kind = kind


@dataclass(frozen=True, slots=True)
class FeedRegistration:
    feed: FeedSource
    created: bool  # False: it was registered already (and subscribed again if removed)


@dataclass(frozen=True, slots=True)
class FeedImport:
    """What registering many feeds at once (an OPML import) did."""

    added: int
    existing: int
    invalid: list[str]  # URLs that are not usable feed URLs


def list_feeds(*, engine: Engine, include_removed: bool = False) -> list[FeedSource]:
    """Registered feeds in id order (removed ones only with `include_removed`)."""
    with engine.connect() as connection:
        return feed_rows.list_feeds(connection=connection, include_removed=include_removed)


def get_feed(*, engine: Engine, feed_id: int) -> FeedSource | None:
    with engine.connect() as connection:
        return feed_rows.get_feed(connection=connection, feed_id=feed_id)


def get_feed_by_url(*, engine: Engine, url: str) -> FeedSource | None:
    """The feed registered under `url` (normalized as stored); ValueError if `url` is not
    a usable feed URL."""
    with engine.connect() as connection:
        return feed_rows.get_feed_by_url(connection=connection, url=url)


def register_feed(
    *, engine: Engine, url: str, title: str | None = None, interval_s: int | None = None
) -> FeedRegistration:
    """Register a feed (due at once), or take the new title or interval for a known one.
    ValueError: not a usable feed URL; SourceKindTaken: the URL names another source."""
    name = feed_rows.feed_url(url)
    with engine.begin() as connection:
        other = feed_rows.other_kind_named(connection=connection, name=name)
        if other is not None:
            raise SourceKindTaken(name, other)
        # Looked up first rather than trusting add_feed's flag: INSERT .. ON CONFLICT DO
        # NOTHING reports rowcount -1 through psycopg, so "created" reads False there.
        known = feed_rows.get_feed_by_url(connection=connection, url=name)
        stored, _ = feed_rows.add_feed(  # credentials in the URL are kept apart
            connection=connection, url=url, title=title, interval_s=interval_s
        )
    return FeedRegistration(feed=stored, created=known is None)


def add_feeds(*, engine: Engine, feeds: Iterable[tuple[str, str | None]]) -> FeedImport:
    """Register many (url, title) feeds in one transaction."""
    with engine.begin() as connection:
        added, existing, invalid = feed_rows.add_feeds(connection=connection, feeds=feeds)
    return FeedImport(added=added, existing=existing, invalid=invalid)


def remove_feed(*, engine: Engine, feed_id: int) -> str | None:
    """Stop fetching a feed: "deleted" when nothing refers to it, "disabled" when it is
    kept as the provenance of its articles; None if there is no such feed."""
    with engine.begin() as connection:
        return feed_rows.remove_feed(connection=connection, feed_id=feed_id)


def full_text_modes(
    *, engine: Engine, feed_ids: Iterable[int], set_to: str | None = None
) -> dict[int, str | None]:
    """Each feed's own full-text mode (None: the NEWS_INGEST_FULL_TEXT default), after
    setting it to `set_to` first when that is given."""
    modes: dict[int, str | None] = {}
    with engine.begin() as connection:
        for feed_id in feed_ids:
            if set_to is not None:
                full_text_rows.set_feed_full_text_mode(
                    connection=connection, feed_id=feed_id, mode=set_to
                )
            modes[feed_id] = full_text_rows.feed_full_text_mode(
                connection=connection, feed_id=feed_id
            )
    return modes
