"""The shared near-duplicate index: LSH band keys in the `story_bands` table.

Each key maps to the first article that had it, so a probe returns at most one row per key
(bounded cost at any corpus size); later articles add only the keys that are new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, update

from worker.pipeline.candidates import ParagraphStories
from worker.pipeline.identity import Identity, KnownArticles
from worker.storage import articles as article_rows
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


def paragraph_stories(
    *, connection: Connection, paragraph_hashes: Sequence[int]
) -> dict[int, ParagraphStories]:
    """paragraph hash -> the stories it was seen in, for the known hashes. Stories are read
    through the articles, so merged stories count as one. Most hashes of a new text are
    unknown: the articles are read only for the rows found."""
    rows: list[Any] = []
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


class CandidateStore:
    """`pipeline.candidates.CandidateReader` on a connection: everything the story decision
    reads, in one place."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def band_owners(self, band_keys: list[int]) -> dict[int, int]:
        return find_band_owners(connection=self.connection, band_keys=band_keys)

    def sketches(self, article_ids: set[int]) -> dict[int, tuple[int, bytes, int]]:
        return article_rows.load_sketches(connection=self.connection, article_ids=article_ids)

    def story_sketches(
        self, story_ids: set[int], *, per_story: int
    ) -> dict[int, tuple[int, bytes, int]]:
        return article_rows.load_story_sketches(
            connection=self.connection, story_ids=story_ids, per_story=per_story
        )

    def bodies(self, article_ids: set[int]) -> dict[int, str]:
        return article_rows.load_bodies(connection=self.connection, article_ids=article_ids)

    def paragraph_stories(self, paragraph_hashes: list[int]) -> dict[int, ParagraphStories]:
        return paragraph_stories(connection=self.connection, paragraph_hashes=paragraph_hashes)


def load_known_articles(*, connection: Connection, identities: Sequence[Identity]) -> KnownArticles:
    """The stored articles a batch with these identities may be exact copies of: by content
    hash, canonical URL, or (source, guid)."""
    return KnownArticles(
        article_rows.find_by_identity(
            connection=connection,
            content_hashes=sorted({identity.content_hash for identity in identities}),
            urls=sorted({identity.url for identity in identities if identity.url}),
            source_guids=sorted(
                {
                    (identity.source_id, identity.guid)
                    for identity in identities
                    if identity.guid and identity.source_id is not None
                }
            ),
        )
    )
