"""The `sources` registry: seed directories, feeds and producers, looked up by name."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from worker.storage.models import Source, table_of, utcnow
from worker.storage.sql import in_chunks, insert

sources = table_of(Source)


def ensure_sources(*, connection: Connection, names: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Ids of the named sources ((kind, name) pairs), registering the ones not seen yet."""
    wanted = {name: kind for kind, name in names}
    if not wanted:
        return {}
    ids = _ids(connection, list(wanted))
    missing = [
        {
            "kind": wanted[name],
            "name": name,
            "created_at": utcnow(),
            "status": "active",
            "enabled": True,
            "error_count": 0,
        }
        for name in sorted(wanted)
        if name not in ids
    ]
    if missing:
        statement = insert(connection, sources).on_conflict_do_nothing(index_elements=["name"])
        connection.execute(statement, missing)
        ids.update(_ids(connection, [str(row["name"]) for row in missing]))
    return ids


def lookup_sources(*, connection: Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids of the named sources that are registered (read-only)."""
    return _ids(connection, sorted(set(names)))


def _ids(connection: Connection, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for condition in in_chunks(connection, sources.c.name, names):
        found.update(
            {
                row.name: row.id
                for row in connection.execute(select(sources.c.name, sources.c.id).where(condition))
            }
        )
    return found
