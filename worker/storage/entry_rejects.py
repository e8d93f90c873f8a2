"""Feed entries rejected once (`feed_entry_rejects`), by guid and text: the next fetch of
their feed leaves them out instead of rejecting them (or dying on them) again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from worker.storage.models import FeedEntryReject, utcnow
from worker.storage.sql import in_chunks, insert

__all__ = ["rejected_entries", "remember_rejected_entries"]

entry_rejects = cast(Table, FeedEntryReject.__table__)


def remember_rejected_entries(
    *, connection: Connection, rows: Iterable[tuple[int, str, str, str]]
) -> int:
    """Record (source_id, guid_key, content_key, reason) rows; known ones are left as they
    are. Returns how many rows were given."""
    now = utcnow()
    values: list[dict[str, Any]] = [
        {
            "source_id": source_id,
            "guid_key": guid_key,
            "content_key": content_key,
            "reason": reason[:2000],
            "created_at": now,
        }
        for source_id, guid_key, content_key, reason in rows
    ]
    if values:
        statement = insert(connection, entry_rejects).on_conflict_do_nothing(
            index_elements=["source_id", "guid_key", "content_key"]
        )
        connection.execute(statement, values)
    return len(values)


def rejected_entries(
    *, connection: Connection, source_id: int, guid_keys: Sequence[str]
) -> set[tuple[str, str]]:
    """The (guid_key, content_key) pairs of this feed's entries that were rejected."""
    found: set[tuple[str, str]] = set()
    for condition in in_chunks(connection, entry_rejects.c.guid_key, sorted(set(guid_keys))):
        query = select(entry_rejects.c.guid_key, entry_rejects.c.content_key).where(
            entry_rejects.c.source_id == source_id, condition
        )
        found.update((row.guid_key, row.content_key) for row in connection.execute(query))
    return found
