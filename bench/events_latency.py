"""End-to-end event latency and relay throughput, with the real processes.

    python bench/events_latency.py [--files 1000] [--rate 100] [--mode queue|inline]
                                   [--relay-poll 0.5] [--relay-events 20000]

1. Latency: a fresh Postgres database and a Redis database of its own (db 13 unless
   --redis-url); a Celery worker (prefork, 2 processes; not in --mode inline), the relay
   (`news-ingest events relay`) and `news-ingest watch DIR` run as subprocesses. FILES
   seed files are written into DIR, RATE per second (0: all at once); for each file, the
   time from its close() to its event's entry in `news-ingest:events` (the stream entry
   id is Redis's clock, on this machine). Includes the watcher's 1 s settle time.
2. Relay throughput: RELAY_EVENTS articles are stored (no relay running), then one
   `relay_outbox` call drains the outbox: events per second, Postgres to Redis.

Prints one JSON document. Needs the local Postgres (TEST_PG_ADMIN_URL, as the tests) and
Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BIN = Path(sys.executable).parent
TOKEN = re.compile(r"Bench file (\d{6})")
WORDS = [
    "council",
    "budget",
    "minister",
    "harbour",
    "election",
    "storm",
    "bridge",
    "farmers",
    "union",
    "court",
    "river",
    "school",
    "hospital",
    "police",
    "festival",
    "market",
    "airport",
    "railway",
    "museum",
    "drought",
    "flood",
    "mine",
    "factory",
    "port",
    "senate",
    "report",
    "tunnel",
    "vaccine",
    "treaty",
    "strike",
    "library",
    "stadium",
    "forest",
    "coast",
    "island",
    "village",
    "bank",
    "energy",
    "water",
    "housing",
    "wages",
    "teachers",
    "nurses",
    "pilots",
]


def article(number: int) -> str:
    """A distinct news-like text whose title carries `Bench file NNNNNN`."""
    rng = random.Random(number)
    sentences = [
        (
            f"Bench file {number:06d} reports that the {rng.choice(WORDS)} office "
            f"approved a plan on day {rng.randint(1, 99999)}."
        )
    ]
    for _ in range(10):
        words = rng.sample(WORDS, 6)
        sentences.append(
            f"The {words[0]} {rng.choice(['backed', 'blocked', 'delayed'])} the "
            f"{words[1]} plan for the {words[2]} near the {words[3]}, said the "
            f"{words[4]} and the {words[5]} on day {rng.randint(1, 99999)}."
        )
    return " ".join(sentences)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def create_database() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    from worker.storage.migrate import upgrade

    name = f"news_ingest_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return name, url


def drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env)


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} not reached within {timeout:g}s")
        time.sleep(0.05)
    return value


def measure_latency(
    options: argparse.Namespace, workdir: Path, env: dict[str, str], redis
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from worker.services.events import EVENTS_STREAM, read_stream

    inbox = workdir / "inbox"
    inbox.mkdir()
    processes = []
    seen: dict[int, float] = {}
    stop = threading.Event()

    def follow() -> None:
        for entry in read_stream(redis, start="0", follow=True, stop=stop, block_ms=200):
            match = TOKEN.search(entry.payload.get("title", ""))
            if match:
                seen.setdefault(int(match.group(1)), int(entry.id.split("-")[0]) / 1000)

    reader = threading.Thread(target=follow, daemon=True)
    try:
        if options.mode == "queue":
            processes.append(
                start(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "worker.app",
                        "worker",
                        "--concurrency",
                        "2",
                        "--loglevel",
                        "WARNING",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    workdir / "worker.log",
                    env,
                )
            )
        processes.append(
            start(
                [str(BIN / "news-ingest"), "events", "relay", "--poll", str(options.relay_poll)],
                workdir / "relay.log",
                env,
            )
        )
        watch = [
            str(BIN / "news-ingest"),
            "watch",
            str(inbox),
            "--batch-size",
            str(options.batch_size),
            *(["--inline"] if options.mode == "inline" else []),
        ]
        processes.append(start(watch, workdir / "watch.log", env))
        wait_for(lambda: "watching" in (workdir / "watch.log").read_text(), 60, "watcher ready")
        # A warm path: one file all the way through before the clock starts.
        (inbox / "warmup.txt").write_text(f"date 2024-01-01 {article(999_999)}")
        wait_for(lambda: redis.xlen(EVENTS_STREAM) >= 1, 120, "warm-up event")
        reader.start()
        landed: dict[int, float] = {}
        started = time.monotonic()
        for number in range(options.files):
            if options.rate:
                delay = started + number / options.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            path = inbox / f"{number:06d}.txt"
            path.write_text(f"date 2024-05-01 {article(number)}", encoding="utf-8")
            landed[number] = time.time()
        wait_for(lambda: all(n in seen for n in landed), 600, "every event in the stream")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies = [seen[n] - landed[n] for n in landed]
    return {
        "files": options.files,
        "rate_per_s": options.rate or "burst",
        "mode": options.mode,
        "relay_poll_s": options.relay_poll,
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "latency_max_s": round(max(latencies), 3),
        "latency_min_s": round(min(latencies), 3),
        "files_per_s_end_to_end": round(options.files / elapsed, 1),
    }


def measure_relay(options: argparse.Namespace, redis) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from worker.services import jobs as job_service
    from worker.services import parts as part_service
    from worker.services.events import EVENTS_STREAM, relay_outbox
    from worker.storage.session import get_engine

    engine = get_engine()
    redis.delete(EVENTS_STREAM)
    job_id = job_service.create_job(engine=engine, request={"bench": "relay"})
    documents = [
        {"body": article(2_000_000 + i), "url": f"https://bench.example/{i}"}
        for i in range(options.relay_events)
    ]
    for part in job_service.add_article_parts(
        engine=engine, job_id=job_id, documents=documents, batch_size=1000
    ):
        part_service.run_part(engine=engine, job_id=job_id, part_no=part)
    started = time.perf_counter()
    published = relay_outbox(engine, redis, batch=options.relay_batch)
    elapsed = time.perf_counter() - started
    return {
        "relay_events": published,
        "relay_batch": options.relay_batch,
        "relay_seconds": round(elapsed, 3),
        "relay_events_per_s": round(published / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="files per second; 0 = burst")
    parser.add_argument("--mode", choices=("queue", "inline"), default="queue")
    parser.add_argument("--batch-size", type=int, default=100, help="files per part (watch)")
    parser.add_argument("--relay-poll", type=float, default=0.5)
    parser.add_argument("--relay-events", type=int, default=20_000)
    parser.add_argument("--relay-batch", type=int, default=500)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--skip-latency", action="store_true")
    options = parser.parse_args()

    import redis as redis_lib

    name, url = create_database()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BROKER_URL": options.redis_url,
        "NEWS_INGEST_LOG_LEVEL": "WARNING",
        "NEWS_INGEST_LOG_FORMAT": "json",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "BROKER_URL", "NEWS_INGEST_LOG_LEVEL")})
    from worker.logs import configure_logging

    configure_logging()  # to stderr, at NEWS_INGEST_LOG_LEVEL
    redis = redis_lib.Redis.from_url(options.redis_url)
    redis.flushdb()
    report: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="events-bench-") as workdir:
            if not options.skip_latency:
                report.update(measure_latency(options, Path(workdir), env, redis))
            report.update(measure_relay(options, redis))
    finally:
        from worker.resources import resources

        resources.close()
        redis.flushdb()
        drop_database(name)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
