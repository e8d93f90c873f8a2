"""Small dialect-aware helpers for bulk Core statements on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, Text, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

# SQLite allows 32766 bound variables per statement; stay well below it.
_SQLITE_CHUNK = 10_000


def insert(connection: Connection, table: Table) -> Any:
    """An INSERT that knows ON CONFLICT for the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_chunks(
    connection: Connection, column: ColumnElement[Any], values: Sequence[Any]
) -> Iterator[ColumnElement[bool]]:
    """`column IN values` as few conditions as the dialect allows: one `= ANY(array)` on
    Postgres (a single bind however many values), chunks of IN lists on SQLite."""
    if not values:
        return
    if connection.dialect.name == "postgresql":
        element_type = BigInteger() if isinstance(values[0], int) else Text()
        yield column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(element_type)))
        return
    for chunk in chunks(values, _SQLITE_CHUNK):
        yield column.in_(list(chunk))


def is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"
