"""What each part of what the ingest stores costs its ceiling: COPY the rows one ingest
stored into empty copies of their tables, whole and with a part left out, against the raw
COPY of the same articles (`ingest_bench.timed_copy`), interleaved over a few rounds.

    python bench/storage_ceiling.py [--n 20000] [--rounds 3]

Stores N bench articles with `news-ingest run` into a fresh Postgres database first. Each
variant's ratio to the raw COPY is the best ratio `ingest_bench.py` could show if the ingest
stored only that and spent nothing in Python: it is what a decision on what to store buys.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import time

import psycopg
from ingest_bench import PG_ADMIN, drop_database, fresh_database, make_seeds, timed_copy

TABLES = ("articles", "story_bands", "common_paragraphs", "sightings", "outbox_events")

# variant -> {table: columns stored as NULL, or None for the table left out}
VARIANTS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "everything stored": {},
    "without the raw input": {"articles": ("raw",)},
    "without the raw input and the signature": {"articles": ("raw", "signature")},
    "without outbox events": {"outbox_events": None},
    "articles only": {table: None for table in TABLES if table != "articles"},
}


def dump(connection: psycopg.Connection, table: str, nulled: tuple[str, ...]) -> bytes:
    columns = [
        f"NULL::{kind}" if name in nulled else name
        for name, kind in connection.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,))
    ]
    buffer = io.BytesIO()
    with connection.cursor().copy(
            f"COPY (SELECT {', '.join(columns)} FROM {table}) TO STDOUT (FORMAT BINARY)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    return buffer.getvalue()


def timed_variant(url: str, dumps: dict[str, bytes], nullable: dict[str, tuple[str, ...]]) -> float:
    with psycopg.connect(url) as connection:
        for table in dumps:
            connection.execute(f"CREATE TABLE ceiling_{table} (LIKE {table} INCLUDING ALL)")
            for column in nullable.get(table, ()):
                connection.execute(f"ALTER TABLE ceiling_{table} ALTER COLUMN {column} DROP NOT NULL")
        connection.commit()
        started = time.perf_counter()
        for table, data in dumps.items():
            with connection.cursor().copy(f"COPY ceiling_{table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
        connection.commit()
        elapsed = time.perf_counter() - started
        for table in dumps:
            connection.execute(f"DROP TABLE ceiling_{table}")
        connection.commit()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    seeds = make_seeds(args.n)
    database = fresh_database()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    env = {**os.environ, "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://"),
           "NEWS_INGEST_LOG_LEVEL": "WARNING"}
    try:
        subprocess.run(["news-ingest", "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(["news-ingest", "run", str(seeds), "--json"], env=env, check=True,
                       capture_output=True)
        with psycopg.connect(url) as connection:
            stored = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
            variants = {
                name: {table: dump(connection, table, spec.get(table) or ())
                       for table in TABLES if not (table in spec and spec[table] is None)}
                for name, spec in VARIANTS.items()
            }
        copies: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            copies.append(timed_copy(seeds, database))
            with psycopg.connect(url) as connection:
                connection.execute("DROP TABLE copy_scratch")
            for name, dumps in variants.items():
                nullable = {t: c for t, c in VARIANTS[name].items() if c is not None}
                times[name].append(timed_variant(url, dumps, nullable))
    finally:
        drop_database(database)
    copy_s = statistics.median(copies)
    result = {
        "n": stored,
        "raw_copy_rows_per_s": round(stored / copy_s),
        "variants": {
            name: {"articles_per_s": round(stored / statistics.median(spent)),
                   "ratio_to_copy": round(copy_s / statistics.median(spent), 3)}
            for name, spent in times.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
