"""Peak memory of a worker and of the API fed hostile input (issue 19, item 4).

    python bench/hostile_memory.py [--db-prefix news_bench_]

A real `celery -A worker.app worker -c 1` on a redis-server of its own and a fresh Postgres
database gets, one after the other: a normal message (the baseline), a 600 KB message of
200,000 tiny items, and a message nested 100,000 deep. Each process's RSS is sampled every
20 ms; the peak over each message is printed. Then `news-ingest serve` gets a 10 MiB
`POST /jobs` body of small nested `extra` objects. Last, 1 MB of deeply nested feed markup is
given to feedparser and to the depth scan that now stands before it, each in a fresh process
(peak RSS: VmHWM). Numbers are printed, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import RedisServer, WorkerProcess, free_port  # noqa: E402 -- after sys.path

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BIN = Path(sys.executable).parent


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            pending += map(
                int, Path(f"/proc/{current}/task/{current}/children").read_text().split()
            )
    return pids


class Sampler(threading.Thread):
    """The peak RSS of each process of a tree, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak: dict[int, float] = {}
        self.running = True

    def run(self) -> None:
        while self.running:
            for pid in tree(self.pid):
                self.peak[pid] = max(self.peak.get(pid, 0.0), rss_mib(pid))
            time.sleep(0.02)

    def stop(self) -> dict[int, float]:
        self.running = False
        self.join()
        return self.peak


def database(prefix: str) -> tuple[str, str]:
    import psycopg

    from worker.storage.migrate import upgrade
    from worker.storage.session import get_engine

    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    upgrade(get_engine(url))
    return name, url


def drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def job_finished(url: str, job_id: str) -> bool:
    from sqlalchemy import text

    from worker.storage.session import get_engine

    with get_engine(url).connect() as connection:
        status = connection.execute(
            text("SELECT status FROM ingest_jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one_or_none()
    return status in ("done", "failed")


def push(server: RedisServer, body: bytes) -> str:
    import redis

    from tests.test_faults import message_job_id, raw_message

    task_id, message = raw_message("ingest.articles", body)
    client = redis.Redis(port=server.port)
    client.lpush("news-ingest", message)
    client.close()
    return message_job_id(task_id)


def bench_worker(url: str, workdir: Path) -> None:
    from tests.factories import STORY
    from tests.polling import wait_for
    from tests.test_faults import worker_env

    server = RedisServer(free_port(), workdir / "redis.log")
    server.start()
    worker = WorkerProcess(
        "hostile-bench", worker_env(broker_url=server.url, database_url=url), workdir, 1
    )
    worker.start()
    try:
        worker.wait_ready()
        messages = {
            "normal message (1 article)": json.dumps([[[{"body": STORY}]], {}, {}]).encode(),
            "200,000 tiny items": json.dumps([[[{"body": "x"}] * 200_000], {}, {}]).encode(),
            "100,000 deep": b"[[" + b"[" * 100_000 + b"]" * 100_000 + b"], {}, {}]",
        }
        for name, body in messages.items():
            sampler = Sampler(worker.pid)
            sampler.start()
            job_id = push(server, body)

            def finished(job: str = job_id) -> bool:
                return job_finished(url, job)

            wait_for(finished, timeout=300, what=name)
            peak = sampler.stop()
            alive = worker.process is not None and worker.process.poll() is None
            print(
                f"worker, {name} ({len(body) / 1024:.0f} KiB): peak RSS "
                f"main {peak.get(worker.pid, 0):.0f} MiB, pool "
                f"{max((v for p, v in peak.items() if p != worker.pid), default=0):.0f} MiB; "
                f"worker alive: {alive}"
            )
    finally:
        worker.stop(timeout=20)
        server.kill()


def bench_api(url: str, workdir: Path) -> None:
    import httpx

    from tests.polling import wait_for

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "BROKER_URL": "redis://127.0.0.1:1/0"}
    with (workdir / "api.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "news-ingest"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=60, what="API up")
        idle = rss_mib(process.pid)
        article = {"body": "b", "extra": {"k": [{"v": [0, 1]}, {"w": {"x": 1}}]}}
        count = (10 * 1024 * 1024 - 1024) // (len(json.dumps(article)) + 2)
        documents = [article] * count
        body = json.dumps({"articles": documents})
        sampler = Sampler(process.pid)
        sampler.start()
        response = httpx.post(
            f"{base}/jobs",
            content=body.encode(),
            headers={"content-type": "application/json"},
            timeout=120,
        )
        peak = sampler.stop().get(process.pid, 0.0)
        print(
            f"API, POST /jobs of {len(body) / 1024 / 1024:.1f} MiB ({len(documents)} nested "
            f"`extra` objects): {response.status_code}; RSS idle {idle:.0f} MiB, peak {peak:.0f} MiB"
        )
    finally:
        process.terminate()
        process.wait(timeout=20)


FEED_SCRIPT = """
import sys, time
from pathlib import Path
import feedparser
from worker.sources.bounds import xml_depth

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

data = b"<rss><channel><item>" + b"<div>" * 100_000 + b"</div>" * 100_000 + b"</item></channel></rss>"
before = hwm()
started = time.perf_counter()
if sys.argv[1] == "feedparser":
    feedparser.parse(data)
else:
    xml_depth(data)
print(len(data), before, hwm(), time.perf_counter() - started)
"""


def bench_feed() -> None:
    for how in ("feedparser", "xml_depth"):
        out = subprocess.run(
            [sys.executable, "-c", FEED_SCRIPT, how],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        size, before, after, seconds = int(out[0]), int(out[1]), int(out[2]), float(out[3])
        print(
            f"feed, {size / 1024 / 1024:.1f} MiB nested 100,000 deep, {how}: peak RSS "
            f"{before / 1024:.0f} -> {after / 1024:.0f} MiB, {seconds:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db-prefix", default="news_bench_")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    name, url = database(args.db_prefix)
    workdir = ROOT / "bench" / "out" / "hostile"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        bench_worker(url, workdir)
        bench_api(url, workdir)
        bench_feed()
    finally:
        from worker.resources import resources

        resources.close()
        drop(name)


if __name__ == "__main__":
    main()
