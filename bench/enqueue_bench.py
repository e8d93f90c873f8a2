"""Producer side: how soon `news-ingest enqueue DIR` of many files gives the workers their
first batch, and how long it takes to queue them all (no worker runs, so nothing competes).

    python bench/enqueue_bench.py [--n 100000]

Makes N seed files (as bench/ingest_bench.py does), creates a fresh Postgres database, and
runs `news-ingest enqueue` against a Redis database of its own, watching the queue's length.
Both times include the command's start-up (~0.6 s of imports). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import PG_ADMIN, REDIS, drop_database, fresh_database, make_seeds

QUEUE = "news-ingest"  # worker.app's task_default_queue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()

    import redis

    seeds = make_seeds(args.n)
    database = fresh_database()
    broker = redis.Redis.from_url(REDIS)
    broker.flushdb()
    env = {
        **os.environ,
        "BROKER_URL": REDIS,
        "NEWS_INGEST_LOG_LEVEL": "WARNING",
        "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        + f"/{database}",
    }
    try:
        subprocess.run(["news-ingest", "db", "upgrade"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        process = subprocess.Popen(
            ["news-ingest", "enqueue", str(seeds), "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first = None
        while process.poll() is None:
            if first is None and broker.llen(QUEUE):
                first = time.perf_counter() - started
            time.sleep(0.005)
        total = time.perf_counter() - started
        if process.returncode:
            raise SystemExit(f"enqueue failed with exit code {process.returncode}")
        messages = broker.llen(QUEUE)
    finally:
        broker.flushdb()
        drop_database(database)
    print(
        json.dumps(
            {
                "files": args.n,
                "first_batch_queued_s": round(first or total, 2),
                "all_queued_s": round(total, 2),
                "messages": messages,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
