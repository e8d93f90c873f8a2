"""Feed path benchmark: one Celery worker (`-c 2`) on Postgres fetching N local feeds.

    python bench/feeds_bench.py [--feeds 1000] [--entries 50] [--hosts 100]

What it does, in one run:

1. a fresh Postgres database (migrated), a flushed Redis database, N feeds registered;
2. one server process (asyncio) answering on 127.0.0.1 .. 127.0.0.H, one port, so the feeds
   spread over H hosts; each feed document has E entries with distinct HTML texts and an
   ETag, and a matching If-None-Match gets a 304;
3. `celery -A worker.app worker -c 2` (prefork), started here;
4. round "200": every feed due, `feeds.schedule_due` sent once; the clock stops when every
   feed has recorded its fetch. All entries are new articles;
5. round "304": every feed due again, same documents: every fetch is a 304;
6. bare `feedparser.parse` over the same N documents, in this process, for the ratio.

Per-host politeness is on (Redis gate per fetch) but the request spacing is lifted
(NEWS_INGEST_PER_HOST_RATE_PER_MINUTE=600000): with the default 60/min the run would
measure the limit (at most H fetches a second), not the worker.
Not a test: it prints numbers (and --json writes them).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")

# ---------------------------------------------------------------------------------------
# Documents: deterministic, so the server and the bare-parse baseline see the same bytes.

_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "ch",
    "cl",
    "dr",
    "fl",
    "gr",
    "pl",
    "pr",
    "sh",
    "st",
    "th",
    "tr",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "ie", "oa", "ou"]
_CODAS = ["", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
WORDS = [o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS]  # 3,000 words
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _paragraph(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = rng.choices(WORDS, k=rng.randint(10, 18))
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def document(round_no: int, feed: int, entries: int, host: str) -> bytes:
    """An RSS 2.0 feed of `entries` items, new ones for every round."""
    items = []
    for j in range(entries):
        rng = random.Random(f"{round_no}/{feed}/{j}")
        html = "".join(f"<p>{escape(_paragraph(rng, 3))}</p>" for _ in range(3))
        published = BASE_TIME + timedelta(days=round_no, minutes=-30 * j - feed % 30)
        items.append(
            f"<item><title>{escape(_paragraph(rng, 1)[:90])}</title>"
            f"<link>https://{host}.news.example/r{round_no}/f{feed}/e{j}?utm_source=rss</link>"
            f'<guid isPermaLink="false">r{round_no}-f{feed}-e{j}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(html)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>https://{host}.news.example/</link>"
        f"<description>bench</description><ttl>5</ttl>{''.join(items)}</channel></rss>"
    ).encode()


def host_of(feed: int, hosts: int) -> str:
    n = feed % hosts
    return f"127.0.{n // 250}.{n % 250 + 1}"


# ---------------------------------------------------------------------------------------
# The feed server: one process, one event loop, every host address on one port.


def serve(
    port: int,
    hosts: int,
    entries: int,
    control: multiprocessing.Queue,  # type: ignore[type-arg]
    ready: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    state = {"round": 1}
    cache: dict[tuple[int, int], bytes] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                path = line.split(b" ")[1].decode()
                inm = None
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "if-none-match":
                        inm = value.strip()
                feed = int(path.rsplit("/", 1)[1].split(".")[0])
                round_no = state["round"]
                etag = f'"r{round_no}-{feed}"'
                if inm == etag:
                    writer.write(
                        f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n"
                        "Content-Length: 0\r\n\r\n".encode()
                    )
                else:
                    body = cache.get((round_no, feed))
                    if body is None:
                        body = cache[(round_no, feed)] = document(
                            round_no, feed, entries, host_of(feed, hosts).replace(".", "-")
                        )
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; "
                        f"charset=utf-8\r\nETag: {etag}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
        except (ConnectionError, IndexError, ValueError, asyncio.CancelledError):
            pass  # a client hanging up, a malformed request, or the server stopping
        finally:
            writer.close()

    async def main() -> None:
        addresses = sorted({host_of(i, hosts) for i in range(hosts)})
        server = await asyncio.start_server(handle, host=addresses, port=port, backlog=1024)
        ready.put("ready")
        loop = asyncio.get_running_loop()
        while True:
            message = await loop.run_in_executor(None, control.get)
            if message == "stop":
                break
            state["round"] = int(message)
        server.close()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, help="Also write the numbers to this file.")
    args = parser.parse_args()

    from sqlalchemy import create_engine, func, select, text, update

    db_name = f"news_ingest_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{db_name}"'))
    db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    env = {
        **os.environ, "DATABASE_URL": db_url, "BROKER_URL": REDIS_URL,
        "NEWS_INGEST_ALLOW_PRIVATE_NETWORKS": "1", "NEWS_INGEST_PER_HOST_RATE_PER_MINUTE": "600000",
        "NEWS_INGEST_PER_HOST_CONCURRENCY": "2", "NEWS_INGEST_FEED_SCHEDULE_LIMIT": str(args.feeds),
        "NEWS_INGEST_LOG_LEVEL": "WARNING", "NEWS_INGEST_LOG_FORMAT": "json",
    }  # fmt: skip
    # This process talks to the same database and broker (worker.app reads them on import).
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k in ("DATABASE_URL", "BROKER_URL") or k.startswith("NEWS_INGEST_")
        }
    )

    import redis

    from worker.storage.migrate import upgrade
    from worker.storage.models import Article, Sighting, Source

    redis.Redis.from_url(REDIS_URL).flushdb()
    engine = create_engine(db_url)
    upgrade(engine)

    port = free_port()
    control: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(
        target=serve, daemon=True, args=(port, args.hosts, args.entries, control, ready)
    )
    server.start()
    if ready.get(timeout=30) != "ready":
        raise SystemExit("feed server did not start")

    from worker.storage import feeds as feed_rows

    urls = [f"http://{host_of(i, args.hosts)}:{port}/feed/{i}.xml" for i in range(args.feeds)]
    with engine.begin() as connection:
        feed_rows.add_feeds(connection=connection, feeds=[(url, None) for url in urls])
    sources = Source.__table__

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-c", str(args.concurrency),
         "--pool", "prefork", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    results: dict[str, object] = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "hosts": args.hosts,
        "worker_concurrency": args.concurrency,
    }
    try:
        from worker.app import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(
                    "celery worker did not start: "
                    + (worker.stderr.read().decode()[-2000:] if worker.stderr else "")
                )

        def run_round(name: str) -> float:
            started_at = datetime.now(UTC)
            with engine.begin() as connection:
                connection.execute(
                    update(sources).values(next_fetch_at=started_at, retry_after_until=None)
                )
            started = time.monotonic()
            app.send_task("feeds.schedule_due")
            while True:
                with engine.connect() as connection:
                    done = connection.execute(
                        select(func.count())
                        .select_from(sources)
                        .where(
                            sources.c.last_fetched_at >= started_at,
                            sources.c.claimed_until.is_(None),
                        )
                    ).scalar_one()
                if done >= args.feeds:
                    break
                if time.monotonic() - started > args.timeout or worker.poll() is not None:
                    raise SystemExit(
                        f"round {name}: {done}/{args.feeds} feeds after "
                        f"{time.monotonic() - started:.0f} s"
                    )
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            with engine.connect() as connection:
                failing = connection.execute(
                    select(func.count()).select_from(sources).where(sources.c.error_count > 0)
                ).scalar_one()
            if failing:
                raise SystemExit(f"round {name}: {failing} feeds failed")
            return elapsed

        control.put("1")
        elapsed_200 = run_round("200")
        with engine.connect() as connection:
            articles = connection.execute(
                select(func.count()).select_from(Article.__table__)
            ).scalar_one()
            sightings = connection.execute(
                select(func.count()).select_from(Sighting.__table__)
            ).scalar_one()
        expected = args.feeds * args.entries
        if articles != expected or sightings != expected:
            raise SystemExit(
                f"round 200: {articles} articles, {sightings} sightings, expected {expected}"
            )
        elapsed_304 = run_round("304")
        with engine.connect() as connection:
            after = connection.execute(
                select(func.count()).select_from(Sighting.__table__)
            ).scalar_one()
        if after != sightings:
            raise SystemExit("round 304 stored something")

        # Bare feedparser.parse on the very same documents, in this one process.
        import feedparser

        from worker.sources.feed_parser import parse_feed

        documents = [
            document(1, i, args.entries, host_of(i, args.hosts).replace(".", "-"))
            for i in range(args.feeds)
        ]
        started = time.perf_counter()
        parsed_entries = sum(len(feedparser.parse(io.BytesIO(d))["entries"]) for d in documents)
        bare_s = time.perf_counter() - started
        started = time.perf_counter()
        for i, d in enumerate(documents):
            parse_feed(d, feed_url=urls[i])
        ours_s = time.perf_counter() - started
        assert parsed_entries == expected

        results.update({
            "round_200": {"seconds": round(elapsed_200, 2),
                          "feeds_per_s": round(args.feeds / elapsed_200, 1),
                          "entries_per_s": round(expected / elapsed_200, 1),
                          "articles_stored": articles},
            "round_304": {"seconds": round(elapsed_304, 2),
                          "feeds_per_s": round(args.feeds / elapsed_304, 1)},
            "bare_feedparser": {"seconds": round(bare_s, 2),
                                "entries_per_s": round(expected / bare_s, 1)},
            "our_parse_feed": {"seconds": round(ours_s, 2),
                               "entries_per_s": round(expected / ours_s, 1)},
            "ratio_pipeline_to_bare_feedparser": round((expected / elapsed_200) / (expected / bare_s), 3),
            "cpus": os.cpu_count(),
        })  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        control.put("stop")
        server.join(timeout=10)
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()

    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
