"""The shared near-duplicate index: LSH band keys in the `story_bands` table.

Each key maps to the first article that had it, so a probe returns at most one row per key
(bounded cost at any corpus size); later articles add only the keys that are new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, text, update

from worker.storage.models import Article, CommonParagraph, StoryBand, table_of
from worker.storage.sql import copy_tuples, in_chunks, is_postgres

story_bands = table_of(StoryBand)
common_paragraphs = table_of(CommonParagraph)
articles = table_of(Article)

# Transaction-level advisory lock serialising the dedup decision (lookups through inserts)
# between workers on Postgres. The section is a handful of bulk statements per batch, while
# the CPU work (parsing, normalizing, sketching) runs before it, in parallel.
DEDUP_LOCK_KEY = 7366002


def lock_for_dedup(*, connection: Connection) -> None:
    """Serialise dedup decisions on Postgres; on SQLite BEGIN IMMEDIATE already does."""
    if is_postgres(connection):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DEDUP_LOCK_KEY})


def find_band_owners(*, connection: Connection, band_keys: Sequence[int]) -> dict[int, int]:
    """band key -> article id, for the keys that are already indexed."""
    owners: dict[int, int] = {}
    keys = sorted(set(band_keys))
    for condition in in_chunks(connection, story_bands.c.band_key, keys):
        query = select(story_bands.c.band_key, story_bands.c.article_id).where(condition)
        owners.update(connection.execute(query).all())  # one fetch, not a row at a time
    return owners


def add_bands(*, connection: Connection, rows: Iterable[tuple[int, int]]) -> None:
    """Index (band_key, article_id) pairs whose keys were read as free under the dedup
    lock, so a plain bulk insert (COPY on Postgres) is safe."""
    copy_tuples(connection, story_bands, ("band_key", "article_id"), sorted(rows))


@dataclass(slots=True)
class ParagraphStories:
    """The distinct stories a paragraph was seen in, counted up to three, each by the first
    article of that story that had the paragraph (a candidate for later copies)."""

    article_id: int
    story_id: int
    other_article_id: int | None = None  # the first article of a second story with it
    other_story_id: int | None = None
    shared: bool = False  # seen in three or more stories

    @property
    def count(self) -> int:
        if self.shared:
            return 3
        return 1 if self.other_story_id in (None, self.story_id) else 2

    @property
    def article_ids(self) -> tuple[int, ...]:
        return (
            (self.article_id,)
            if self.other_article_id is None
            else (self.article_id, self.other_article_id)
        )

    def add(self, article_id: int, story_id: int) -> bool:
        """Count one more article's story; True if that changed anything."""
        if self.shared or story_id == self.story_id or story_id == self.other_story_id:
            return False
        if self.count == 1:  # no second story yet, or it was merged into the first
            self.other_article_id, self.other_story_id = article_id, story_id
        else:
            self.shared = True
        return True

    def merge_story(self, story_id: int, *, into: int) -> None:
        if self.story_id == story_id:
            self.story_id = into
        if self.other_story_id == story_id:
            self.other_story_id = into


def paragraph_stories(
    *, connection: Connection, paragraph_hashes: Sequence[int]
) -> dict[int, ParagraphStories]:
    """paragraph hash -> the stories it was seen in, for the known hashes. Stories are read
    through the articles, so merged stories count as one. Most hashes of a new text are
    unknown: the articles are read only for the rows found."""
    rows = []
    for condition in in_chunks(
        connection, common_paragraphs.c.paragraph_hash, sorted(set(paragraph_hashes))
    ):
        rows += connection.execute(
            select(
                common_paragraphs.c.paragraph_hash,
                common_paragraphs.c.article_id,
                common_paragraphs.c.other_article_id,
                common_paragraphs.c.shared,
            ).where(condition)
        ).all()
    ids = sorted(
        {row.article_id for row in rows}
        | {row.other_article_id for row in rows if row.other_article_id is not None}
    )
    story_of: dict[int, int] = {}
    for condition in in_chunks(connection, articles.c.id, ids):
        story_of.update(
            connection.execute(select(articles.c.id, articles.c.story_id).where(condition)).all()
        )
    return {
        row.paragraph_hash: ParagraphStories(
            row.article_id,
            story_of.get(row.article_id, row.article_id),
            row.other_article_id,
            None
            if row.other_article_id is None
            else story_of.get(row.other_article_id, row.other_article_id),
            row.shared,
        )
        for row in rows
    }


def record_paragraphs(
    *,
    connection: Connection,
    added: dict[int, ParagraphStories],
    changed: dict[int, ParagraphStories],
) -> None:
    """Write the batch's paragraph counts: new hashes in bulk, changed ones by key. Both
    were computed from rows read under the dedup lock, so nothing can conflict."""
    copy_tuples(
        connection,
        common_paragraphs,
        ("paragraph_hash", "article_id", "other_article_id", "shared"),
        [
            (key, state.article_id, state.other_article_id, state.shared)
            for key, state in sorted(added.items())
        ],
    )
    if changed:
        connection.execute(
            update(common_paragraphs)
            .where(common_paragraphs.c.paragraph_hash == bindparam("key"))
            .values(other_article_id=bindparam("other"), shared=bindparam("is_shared")),
            [
                {"key": key, "other": state.other_article_id, "is_shared": state.shared}
                for key, state in sorted(changed.items())
            ],
        )
