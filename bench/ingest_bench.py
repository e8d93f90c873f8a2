"""End-to-end ingestion benchmark: Celery + Redis + Postgres against a raw COPY of the same
rows, measured in one run on one machine (the machine is shared and noisy: read ratios).

    python bench/ingest_bench.py [--n 20000] [--workers-concurrency 2] [--skip-sqlite]

Steps: make N distinct realistic seed files (../shared/eval/make_bulk.py); on a fresh
Postgres database, start one `celery -A worker.app worker -c 2`, time
`news-ingest enqueue DIR --wait` (first pass: all new; second pass: all duplicates) while
sampling the RSS of every worker process; time a psycopg COPY of the same article rows into
a scratch table, and a COPY of every row the first pass stored into empty copies of its
tables (the ceiling of the ratio: Postgres' share of the work alone); time `news-ingest run DIR` on SQLite. Prints one JSON document and appends
a row to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def make_seeds(n: int) -> Path:
    target = ROOT / "bench" / "out" / f"bulk{n}"
    if not target.exists() or len(list(target.glob("*.txt"))) != n:
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [sys.executable, str(SHARED / "eval" / "make_bulk.py"), str(target), str(n)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return target


def fresh_database() -> str:
    import psycopg

    name = f"news_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rss_tree_kib(pid: int) -> dict[int, int]:
    """RSS of a process and all its descendants, by pid."""
    result: dict[int, int] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                result[current] = int(line.split()[1])
        pending += [int(child) for child in children]
    return result


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, {}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid, kib in rss_tree_kib(self.pid).items():
                self.peak[pid] = max(self.peak.get(pid, 0), kib)
            time.sleep(0.2)


def timed_enqueue(seeds: Path, env: dict[str, str], batch_size: int | None) -> tuple[float, dict]:
    command = ["news-ingest", "enqueue", str(seeds), "--wait", "--json"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    # `enqueue --wait --json` prints {"job_id"} first, the final summary last.
    return time.perf_counter() - started, json.loads(output.splitlines()[-1])


def timed_copy(seeds: Path, database: str) -> float:
    """COPY the same article rows (title, body, published_at, content_hash, raw text) into a
    scratch table: the floor any ingestion into Postgres is compared with."""
    import hashlib

    import psycopg

    rows = []
    for path in sorted(seeds.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        date, _, body = text.strip().partition(" ")[2].partition(" ")
        rows.append((path.name, body[:200], body, date, hashlib.sha256(body.encode()).hexdigest()))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(url) as connection:
        # The body compressed as `articles.body` is (lz4 where the server has it, see
        # migration 0004): the floor must not pay for a slower compressor than we do.
        method = connection.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'articles'::regclass "
            "AND attname = 'body'"
        ).fetchone()
        compression = " COMPRESSION lz4" if method and method[0] == "l" else ""
        connection.execute(
            "CREATE TABLE copy_scratch (id bigserial PRIMARY KEY, name text, "
            f"title text, body text{compression}, published_at date, "
            "content_hash text UNIQUE)"
        )
        connection.commit()
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY copy_scratch (name, title, body, published_at, content_hash) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


# What one ingest stores per article, beyond the article row: its band keys, paragraph
# counts, sighting and outbox event.
STORED_TABLES = ("articles", "story_bands", "common_paragraphs", "sightings", "outbox_events")


def timed_write_floor(database: str, job_id: str) -> float:
    """COPY the rows the first pass stored (its articles and their index rows, sightings and
    events) into empty copies of their tables, indexes and compression included: what
    writing them costs Postgres with no Python work at all. The ratio this allows is the
    ceiling of the ingest's ratio to the raw COPY."""
    import psycopg

    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(url) as connection:
        dumps = {
            table: dump_table(
                connection, table, where=f"job_id = '{job_id}'" if table == "sightings" else None
            )
            for table in STORED_TABLES
        }
    return timed_copy_into_copies(url, dumps)


def dump_table(
    connection,
    table: str,
    *,
    where: str | None = None,  # type: ignore[no-untyped-def]
    nulled: tuple[str, ...] = (),
) -> bytes:
    """A table's rows as a binary COPY, with the `nulled` columns' values left out (NULL)."""
    import io

    columns = [
        f"NULL::{kind}" if name in nulled else name
        for name, kind in connection.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        )
    ]
    query = f"SELECT {', '.join(columns)} FROM {table}" + (f" WHERE {where}" if where else "")
    buffer = io.BytesIO()
    with connection.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    return buffer.getvalue()


def timed_copy_into_copies(
    url: str, dumps: dict[str, bytes], nullable: dict[str, tuple[str, ...]] | None = None
) -> float:
    """Seconds to COPY `dump_table` dumps into empty copies of their tables (indexes and
    compression included; `nullable` columns lose NOT NULL), in one transaction. The copies
    are dropped afterwards."""
    import psycopg

    with psycopg.connect(url) as connection:
        for table in dumps:
            connection.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
            for column in (nullable or {}).get(table, ()):
                connection.execute(f"ALTER TABLE floor_{table} ALTER COLUMN {column} DROP NOT NULL")
        connection.commit()
        started = time.perf_counter()
        for table, data in dumps.items():
            with connection.cursor().copy(f"COPY floor_{table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
        connection.commit()
        elapsed = time.perf_counter() - started
        for table in dumps:
            connection.execute(f"DROP TABLE floor_{table}")
        connection.commit()
    return elapsed


def timed_sqlite_run(seeds: Path) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch}/news.db"}
        started = time.perf_counter()
        out = subprocess.run(
            ["news-ingest", "run", str(seeds), "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return time.perf_counter() - started, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--no-results", action="store_true", help="Do not append to RESULTS.md")
    args = parser.parse_args()

    seeds = make_seeds(args.n)
    database = fresh_database()
    pg_url = (
        PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        + f"/{database}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "BROKER_URL": REDIS,
        "NEWS_INGEST_LOG_LEVEL": "WARNING",
    }
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    subprocess.run(["news-ingest", "db", "upgrade"], env=env, check=True, capture_output=True)
    worker = subprocess.Popen(
        [
            "celery",
            "-A",
            "worker.app",
            "worker",
            "-c",
            str(args.concurrency),
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sampler = RssSampler(worker.pid)
    sampler.start()
    try:
        time.sleep(3)  # worker boot; not part of any timing
        first_s, first = timed_enqueue(seeds, env, args.batch_size)
        second_s, second = timed_enqueue(seeds, env, args.batch_size)
    finally:
        sampler.stop.set()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    copy_s = timed_copy(seeds, database)
    floor_s = timed_write_floor(database, first["job_id"])
    drop_database(database)
    sqlite_s, _sqlite = (None, None) if args.skip_sqlite else timed_sqlite_run(seeds)

    peak_mib = {pid: round(kib / 1024, 1) for pid, kib in sampler.peak.items()}
    result = {
        "n": args.n,
        "celery_postgres_articles_per_s": round(args.n / first_s),
        "copy_rows_per_s": round(args.n / copy_s),
        "ratio_to_copy": round(copy_s / first_s, 3),
        # the same COPY of everything the first pass stored: the best ratio possible
        "stored_rows_copy_articles_per_s": round(args.n / floor_s),
        "stored_rows_copy_ratio_to_copy": round(copy_s / floor_s, 3),
        "second_pass_duplicates_per_s": round(args.n / second_s),
        "second_pass_duplicates": second["duplicates"],
        "first_pass": first,
        "sqlite_run_articles_per_s": round(args.n / sqlite_s) if sqlite_s else None,
        "peak_rss_mib_per_worker_process": sorted(peak_mib.values(), reverse=True),
    }
    print(json.dumps(result, indent=2))
    if not args.no_results:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        line = (
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {commit} | {args.n} | "
            f"{result['celery_postgres_articles_per_s']} | {result['copy_rows_per_s']} | "
            f"{result['ratio_to_copy']} | {result['second_pass_duplicates_per_s']} | "
            f"{result['sqlite_run_articles_per_s']} | "
            f"{max(peak_mib.values()) if peak_mib else '?'} | {platform.node()}, {os.cpu_count()} cores | "
            f"{result['stored_rows_copy_articles_per_s']} ({result['stored_rows_copy_ratio_to_copy']}) |\n"
        )
        results = ROOT / "bench" / "RESULTS.md"
        if not results.exists():
            results.write_text(
                "# Benchmark results\n\nAppended by `python bench/ingest_bench.py`. Throughputs "
                "in articles (rows) per second, measured in one run; the machine is shared, so "
                "compare ratios.\n\n| date (UTC) | commit | N | celery+pg art/s | COPY rows/s | "
                "ratio | 2nd pass dup/s | sqlite run art/s | peak RSS MiB/process | machine | "
                "stored rows COPY art/s (ratio) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n"
            )
        with results.open("a") as out:
            out.write(line)


if __name__ == "__main__":
    main()
