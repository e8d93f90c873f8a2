"""Small dialect-aware helpers for bulk Core statements on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, BigInteger, Connection, Table, Text, any_, bindparam
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


def copy_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk-insert rows whose keys are known to be free (checked under the dedup lock).

    On Postgres this is a COPY into the table within the current transaction: several
    times cheaper than row-by-row INSERTs for wide article rows. Elsewhere, executemany.
    """
    if not rows:
        return
    if not is_postgres(connection):
        connection.execute(table.insert(), list(rows))
        return
    from psycopg.types.json import Json

    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(tuple(
                Json(row[name]) if name in json_columns and row[name] is not None else row[name]
                for name in columns
            ))
