"""Small dialect-aware helpers for bulk Core statements on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from psycopg import adapters, postgres
from psycopg.adapt import Dumper
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    any_,
    bindparam,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeDecorator

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
        if isinstance(values[0], int):
            # untyped for SQLAlchemy, which would otherwise take the string for a list
            array = _BigintArray("{" + ",".join(map(str, values)) + "}")
            yield column == any_(bindparam(None, array, type_=NullType()))
            return
        yield column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(Text())))
        return
    for chunk in chunks(values, _SQLITE_CHUNK):
        yield column.in_(list(chunk))


class _BigintArray(str):
    """A bigint[] parameter in its text form ("{1,2,3}"), sent as a typed bigint[]: psycopg
    dumps a list of ints element by element in Python, several times slower for the
    thousands of band keys of a batch. (Sent as text and cast in SQL instead, the array
    would be parsed again for every row a sequential scan filters.)"""


class _BigintArrayDumper(Dumper):
    oid = postgres.types["int8"].array_oid

    def dump(self, obj: _BigintArray) -> bytes:
        return obj.encode()


adapters.register_dumper(_BigintArray, _BigintArrayDumper)


def is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def copy_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk-insert rows whose keys are known to be free (checked under the dedup lock).

    On Postgres this is a binary COPY into the table within the current transaction:
    several times cheaper than row-by-row INSERTs for wide article rows, and about twice as
    fast as a text COPY, which has to escape every body and hex-encode every bytea. Elsewhere,
    executemany.
    """
    if not rows:
        return
    if not is_postgres(connection):
        connection.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    values = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    copy_tuples(connection, table, columns, map(values, rows))


def copy_tuples(
    connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """`copy_rows` of rows given as tuples in the order of `columns`: for the narrow index
    rows written by the thousand, where building a dict per row costs more than the COPY."""
    if not is_postgres(connection):
        rows = list(rows)
        if rows:
            connection.execute(
                table.insert(), [dict(zip(columns, row, strict=True)) for row in rows]
            )
        return
    json_positions = [
        position
        for position, name in enumerate(columns)
        if isinstance(_base_type(table.c[name].type), JSON)
    ]
    names = ", ".join(f'"{name}"' for name in columns)
    types = [_copy_type(table.c[name].type) for name in columns]
    binary = None not in types
    driver = connection.connection.driver_connection
    assert driver is not None, "COPY needs a live DBAPI connection"
    statement = f'COPY "{table.name}" ({names}) FROM STDIN' + (" (FORMAT BINARY)" if binary else "")
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        if binary:
            copy.set_types(types)
        for row in rows:
            if json_positions:
                row = list(row)
                for position in json_positions:
                    if row[position] is not None:
                        row[position] = Json(row[position])
            copy.write_row(row)


def _base_type(column_type: Any) -> Any:
    return column_type.impl if isinstance(column_type, TypeDecorator) else column_type


def _copy_type(column_type: Any) -> str | None:
    """The Postgres type name a binary COPY needs for a column, None if not mapped here."""
    column_type = _base_type(column_type)
    if isinstance(column_type, DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    for kind, name in _COPY_TYPES:
        if isinstance(column_type, kind):
            return name
    return None


# Most specific first: BigInteger and SmallInteger are Integers, Text is a String.
_COPY_TYPES: tuple[tuple[type, str], ...] = (
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (Boolean, "bool"),
    (Float, "float8"),
    (LargeBinary, "bytea"),
    (JSON, "json"),
    (String, "text"),
)
