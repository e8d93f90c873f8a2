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
import json
import os
import statistics
import subprocess

import psycopg
from ingest_bench import (
    PG_ADMIN,
    STORED_TABLES,
    drop_database,
    dump_table,
    fresh_database,
    make_seeds,
    timed_copy,
    timed_copy_into_copies,
)

# variant -> {table: columns stored as NULL, or None for the table left out}
VARIANTS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "everything stored": {},
    "without the raw input": {"articles": ("raw",)},
    "without the raw input and the signature": {"articles": ("raw", "signature")},
    "without outbox events": {"outbox_events": None},
    "articles only": {table: None for table in STORED_TABLES if table != "articles"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    seeds = make_seeds(args.n)
    database = fresh_database()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    env = {
        **os.environ,
        "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://"),
        "NEWS_INGEST_LOG_LEVEL": "WARNING",
    }
    try:
        subprocess.run(["news-ingest", "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            ["news-ingest", "run", str(seeds), "--json"], env=env, check=True, capture_output=True
        )
        with psycopg.connect(url) as connection:
            stored = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
            variants = {
                name: {
                    table: dump_table(connection, table, nulled=spec.get(table) or ())
                    for table in STORED_TABLES
                    if not (table in spec and spec[table] is None)
                }
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
                times[name].append(timed_copy_into_copies(url, dumps, nullable))
    finally:
        drop_database(database)
    copy_s = statistics.median(copies)
    result = {
        "n": stored,
        "raw_copy_rows_per_s": round(stored / copy_s),
        "variants": {
            name: {
                "articles_per_s": round(stored / statistics.median(spent)),
                "ratio_to_copy": round(copy_s / statistics.median(spent), 3),
            }
            for name, spent in times.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
