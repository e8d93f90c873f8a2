"""The shared near-duplicate index: LSH band keys in the `story_bands` table.

Each key maps to the first article that had it, so a probe returns at most one row per key
(bounded cost at any corpus size); later articles add only the keys that are new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select, text

from worker.storage.models import CommonParagraph, StoryBand
from worker.storage.sql import copy_rows, in_chunks, insert, is_postgres

story_bands = StoryBand.__table__
common_paragraphs = CommonParagraph.__table__

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
        owners.update({row.band_key: row.article_id for row in connection.execute(query)})
    return owners


def add_bands(*, connection: Connection, rows: Iterable[tuple[int, int]]) -> None:
    """Index (band_key, article_id) pairs whose keys were read as free under the dedup
    lock, so a plain bulk insert (COPY on Postgres) is safe."""
    values = [{"band_key": key, "article_id": article_id} for key, article_id in sorted(rows)]
    copy_rows(connection, story_bands, values)


def shared_paragraphs(*, connection: Connection, paragraph_hashes: Sequence[int]) -> dict[int, tuple[int, bool]]:
    """paragraph hash -> (first story, seen in another story too), for the known hashes."""
    found: dict[int, tuple[int, bool]] = {}
    for condition in in_chunks(connection, common_paragraphs.c.paragraph_hash,
                               sorted(set(paragraph_hashes))):
        query = select(common_paragraphs.c.paragraph_hash, common_paragraphs.c.story_id,
                       common_paragraphs.c.shared).where(condition)
        found.update({row.paragraph_hash: (row.story_id, row.shared)
                      for row in connection.execute(query)})
    return found


def record_paragraphs(*, connection: Connection, stories_by_hash: dict[int, set[int]]) -> None:
    """Note the stories each paragraph was seen in: a paragraph already known from another
    story becomes shared. One statement per batch."""
    if not stories_by_hash:
        return
    rows = [{"paragraph_hash": key, "story_id": min(stories), "shared": len(stories) > 1}
            for key, stories in sorted(stories_by_hash.items())]
    statement = insert(connection, common_paragraphs)
    statement = statement.on_conflict_do_update(
        index_elements=["paragraph_hash"],
        set_={"shared": True},
        where=(common_paragraphs.c.story_id != statement.excluded.story_id)
        | statement.excluded.shared,
    )
    connection.execute(statement, rows)
