"""Faults for real: worker processes SIGKILLed mid-batch, the broker restarted empty, the
database away for 15 s; and hostile messages on the queue. Every file must end up stored
exactly once and the job `done` without an operator.

The workers are real `celery -A worker.app worker` prefork processes. They talk to a
redis-server of our own (so it can be killed and restarted empty without touching the
shared one) and to the session's Postgres database through a TCP proxy we can cut.
Run with `-s` to see the recovery times.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from tests.factories import STORY, distinct_article
from tests.faults import RedisServer, TcpProxy, WorkerProcess, cli, free_port, wait_for

SEED_FILES = 4000
BATCH_SIZE = 100
STALL_S = 10  # NEWS_INGEST_JOB_STALL_S for the workers: how long before resume steps in
RESUME_EVERY_S = 2.0  # the test plays beat: jobs.resume this often
DB_OUTAGE_S = 15.0
QUEUE = "news-ingest"


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of our own, without persistence, on a free port."""
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A cuttable TCP proxy in front of the test Postgres server."""
    url = make_url(pg_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy


def worker_env(*, broker_url: str, database_url: str, **settings: str) -> dict[str, str]:
    env = dict(
        os.environ,
        BROKER_URL=broker_url,
        DATABASE_URL=database_url,
        NEWS_INGEST_LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"NEWS_INGEST_{name.upper()}": value for name, value in settings.items()})
    return env


def proxied(pg_url: str, proxy: TcpProxy) -> str:
    url = make_url(pg_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


class Beat(threading.Thread):
    """Stands in for `celery beat`: sends `jobs.resume` every RESUME_EVERY_S, as beat's
    schedule does every minute. A send that fails (broker restarting) is skipped, as a
    beat tick would be."""

    def __init__(self, broker_url: str) -> None:
        super().__init__(daemon=True)
        self.producer = producer(broker_url)
        self.stopped = threading.Event()
        self.sent = 0
        self.missed = 0

    def run(self) -> None:
        from kombu.exceptions import OperationalError as KombuOperationalError
        from redis.exceptions import RedisError

        while not self.stopped.wait(RESUME_EVERY_S):
            try:
                self.producer.send_task("jobs.resume", retry=False)
                self.sent += 1
            except (KombuOperationalError, RedisError, OSError):
                self.missed += 1  # broker down: the next tick tries again

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)
        self.producer.close()


def producer(broker_url: str):  # type: ignore[no-untyped-def]
    """A Celery client for our own broker, configured like the app (JSON, our queue)."""
    from celery import Celery

    client = Celery("fault-test-producer", broker=broker_url, set_as_current=False)
    client.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
    )
    return client


def make_seed_files(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"{i:05d}_{i:016x}.txt"
        path.write_text(f" date 2024-05-{i % 28 + 1:02d} {distinct_article(i)}", encoding="utf-8")
        paths.append(path.resolve())
    return paths


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobWatch:
    """Reads a job's progress straight from Postgres (never through the proxy)."""

    engine: Engine
    job_id: str

    def job(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return dict(
                connection.execute(
                    text("SELECT * FROM ingest_jobs WHERE id = :id"), {"id": self.job_id}
                )
                .mappings()
                .one()
            )

    def parts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(
                    text(
                        "SELECT part_no, status, attempts, started_at, finished_at, received, new, "
                        "duplicates, near_duplicates, rejected FROM ingest_job_parts "
                        "WHERE job_id = :id ORDER BY part_no"
                    ),
                    {"id": self.job_id},
                ).mappings()
            ]

    def wait_for_open_transaction(self, *, timeout: float) -> bool:
        """Wait until some other session on the database is inside a transaction."""
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        deadline = time.monotonic() + timeout
        with self.engine.connect() as connection:
            while time.monotonic() < deadline:
                if connection.execute(query).scalar_one():
                    return True
                connection.rollback()
                time.sleep(0.01)
        return False

    def done_count(self) -> int:
        return sum(part["status"] == "done" for part in self.parts())

    def first_finish_after(
        self, moment: datetime, *, started_after: bool = False
    ) -> datetime | None:
        """When the first part finished after `moment` (only parts claimed after it, if
        `started_after`: work that came from messages delivered after a fault)."""
        finished = [
            part["finished_at"]
            for part in self.parts()
            if part["finished_at"] is not None
            and part["finished_at"] > moment
            and (not started_after or (part["started_at"] or moment) > moment)
        ]
        return min(finished) if finished else None

    def all_finished(self, part_numbers: set[int]) -> datetime | None:
        """When the last of these parts finished, once they all have."""
        rows = [p for p in self.parts() if p["part_no"] in part_numbers]
        if not rows or any(p["status"] not in ("done", "failed") for p in rows):
            return None
        return max(p["finished_at"] for p in rows)


@dataclass
class Recovery:
    """One fault and how long the job took to get over it."""

    fault: str
    at: datetime
    measures: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str, moment: datetime, since: datetime | None = None) -> None:
        self.measures[name] = round((moment - (since or self.at)).total_seconds(), 2)


def report(recoveries: list[Recovery], facts: dict[str, Any]) -> None:
    print("\n=== fault recovery (seconds) ===")
    for recovery in recoveries:
        measures = ", ".join(f"{name}: {value:.2f}" for name, value in recovery.measures.items())
        print(f"- {recovery.fault}: {measures}")
    for name, value in facts.items():
        print(f"  {name}: {value}")


# --------------------------------------------------------------------------------------
# The end-to-end fault run
# --------------------------------------------------------------------------------------


@pytest.mark.slow
class TestJobSurvivesFaults:
    @pytest.mark.timeout(280)
    def test_kill_broker_restart_and_database_outage(
        self, postgres_db: str, redis_server: RedisServer, pg_proxy: TcpProxy, tmp_path: Path
    ) -> None:
        """A job of 4000 seed files reaches `done` by itself through a SIGKILLed worker
        process, a SIGKILLed worker, an empty broker restart and a 15 s database outage,
        with every file stored exactly once."""
        files = make_seed_files(tmp_path / "seeds", SEED_FILES)
        env = worker_env(
            broker_url=redis_server.url,
            database_url=proxied(postgres_db, pg_proxy),
            job_stall_s=str(STALL_S),
        )
        engine = create_engine(postgres_db)
        workers: list[WorkerProcess] = []
        beat = Beat(redis_server.url)
        recoveries: list[Recovery] = []
        try:
            enqueued = cli(
                "enqueue",
                str(tmp_path / "seeds"),
                "--batch-size",
                str(BATCH_SIZE),
                "--json",
                env=env,
            )
            assert enqueued.returncode == 0, enqueued.stderr
            watch = JobWatch(engine, json.loads(enqueued.stdout)["job_id"])
            assert watch.job()["parts_total"] == SEED_FILES // BATCH_SIZE
            assert watch.job()["sealed"]

            # INFO, so each retry ("retry: Retry in Ns") shows in the logs and can be counted.
            workers = [
                WorkerProcess(name, env, tmp_path, loglevel="INFO") for name in ("alpha", "bravo")
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.wait_ready()
            beat.start()
            alpha, bravo = workers
            wait_for(
                lambda: watch.done_count() >= 2,
                timeout=90,
                interval=0.05,
                what="first parts stored",
            )

            # 1. Worker killed mid-batch: one pool process of alpha (its parent notices and
            #    requeues, reject_on_worker_lost) and all of bravo at once (its messages stay
            #    unacked in Redis: jobs.resume has to find them).
            victim = alpha.busiest_child(sample_s=0.3)
            held = {p["part_no"] for p in watch.parts() if p["status"] == "running"}
            os.kill(victim, signal.SIGKILL)
            bravo.kill_tree()
            killed = Recovery("SIGKILL pool process + SIGKILL whole worker", now())
            recoveries.append(killed)
            killed.measure(
                "next part stored",
                wait_for(
                    lambda: watch.first_finish_after(killed.at),
                    timeout=60,
                    interval=0.05,
                    what="progress after the kill",
                ),
            )

            # 2. Broker restarted empty: queued messages, unacked messages and the kill's
            #    requeued batch are gone; only `ingest_job_parts` knows what is left.
            lost = {p["part_no"] for p in watch.parts() if p["status"] != "done"}
            redis_server.restart_empty()
            restarted = Recovery("Redis killed and restarted empty", now())
            recoveries.append(restarted)
            restarted.measure(
                "first lost part stored",
                wait_for(
                    lambda: watch.first_finish_after(restarted.at, started_after=True),
                    timeout=90,
                    interval=0.1,
                    what="progress after the broker restart",
                ),
            )

            # 3. Database away: every connection dropped and new ones refused for 15 s, cut
            #    while a worker is inside a transaction if we can catch one.
            caught_mid_transaction = watch.wait_for_open_transaction(timeout=10)
            pg_proxy.cut()
            in_flight = {p["part_no"] for p in watch.parts() if p["status"] == "running"}
            outage = Recovery(f"Postgres cut for {DB_OUTAGE_S:.0f} s (connections dropped)", now())
            recoveries.append(outage)
            outage_end = time.monotonic() + DB_OUTAGE_S
            while time.monotonic() < outage_end:  # the outage lasts this long, by design
                time.sleep(0.2)
            pg_proxy.restore()
            back = now()
            # (A commit already on the wire when the cut came may land just after it.)
            stored_during_outage = [
                p["part_no"]
                for p in watch.parts()
                if p["finished_at"] is not None
                and outage.at + timedelta(seconds=1) < p["finished_at"] < back
            ]
            # A replacement for the killed worker, as an orchestrator's restart policy would.
            replacement = WorkerProcess("charlie", env, tmp_path, loglevel="INFO")
            replacement.start()
            workers.append(replacement)
            outage.measure(
                "next part stored after the database came back",
                wait_for(
                    lambda: watch.first_finish_after(back),
                    timeout=90,
                    interval=0.1,
                    what="progress after the database outage",
                ),
                since=back,
            )

            finished = wait_for(
                lambda: watch.job()["status"] == "done" and watch.job(),
                timeout=150,
                interval=0.25,
                what="job done",
            )
            end = finished["finished_at"]
            # These two span the faults that followed (the test does not wait in between).
            killed.measure("every killed batch stored", watch.all_finished(held) or end)
            restarted.measure("every lost part stored", watch.all_finished(lost) or end)
            outage.measure("job done after the database came back", end, since=back)
            parts = watch.parts()
        except BaseException:
            for worker in workers:
                print(f"--- {worker.name} log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            beat.stop()
            for worker in workers:
                worker.stop(timeout=20)

        report(
            recoveries,
            {
                "files": SEED_FILES,
                "parts": len(parts),
                "parts delivered more than once": {
                    p["part_no"]: p["attempts"] for p in parts if p["attempts"] > 1
                },
                "batches held by killed workers": sorted(held),
                "parts lost with the broker": len(lost),
                "parts in flight when the database was cut": sorted(in_flight),
                "cut while a worker was inside a transaction": caught_mid_transaction,
                "transactions broken mid-way (server closed the connection)": sum(
                    worker.log().count("server closed the connection") for worker in workers
                ),
                "task retries logged (transient faults)": sum(
                    worker.log().count(" retry: Retry in ") for worker in workers
                ),
                "jobs.resume messages sent (missed while Redis was down)": f"{beat.sent} ({beat.missed})",
                "job wall time (s)": round((end - finished["created_at"]).total_seconds(), 1),
            },
        )
        assert stored_during_outage == [], "a part was stored while the database was cut"
        assert_stored_exactly_once(engine, watch, files)
        engine.dispose()


@pytest.mark.slow
class TestProducerWithBrokerDown:
    def test_enqueue_while_the_broker_is_down_loses_nothing(
        self, postgres_db: str, tmp_path: Path
    ) -> None:
        """`enqueue` with Redis unreachable still records every part and seals the job;
        once Redis and a worker are up, jobs.resume queues the parts and every file is
        stored once."""
        files = make_seed_files(tmp_path / "seeds", 500)
        server = RedisServer(free_port(), tmp_path / "redis.log")  # not started: broker down
        env = worker_env(broker_url=server.url, database_url=postgres_db, job_stall_s="5")
        engine = create_engine(postgres_db)
        enqueued = cli(
            "enqueue", str(tmp_path / "seeds"), "--batch-size", str(BATCH_SIZE), "--json", env=env
        )
        assert enqueued.returncode == 0, enqueued.stderr
        watch = JobWatch(engine, json.loads(enqueued.stdout)["job_id"])
        job = watch.job()
        assert (job["parts_total"], job["sealed"], job["parts_done"]) == (5, True, 0)

        server.start()
        worker = WorkerProcess("late", env, tmp_path)
        beat = Beat(server.url)
        try:
            worker.start()
            beat.start()
            wait_for(lambda: watch.job()["status"] == "done", timeout=90, what="job done")
        except BaseException:
            print(f"--- worker log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            beat.stop()
            worker.stop(timeout=20)
            server.kill()
        assert_stored_exactly_once(engine, watch, files)
        engine.dispose()


def assert_stored_exactly_once(
    engine: Engine, watch: JobWatch, files: list[Path], *, batch_size: int = BATCH_SIZE
) -> None:
    """Every file is one article with one sighting and one event; the job's counts are the
    sum of its parts' and say the same."""
    from worker.storage.models import Article, OutboxEvent, Reject, Sighting

    job = watch.job()
    parts = watch.parts()
    n = len(files)
    with engine.connect() as connection:
        articles = connection.execute(select(func.count()).select_from(Article)).scalar_one()
        hashes = connection.execute(
            select(func.count(func.distinct(Article.content_hash)))
        ).scalar_one()
        sightings = dict(
            connection.execute(
                select(Sighting.location, func.count()).group_by(Sighting.location)
            ).all()
        )
        rejects = connection.execute(select(Reject.location, Reject.reason)).all()
        events = connection.execute(
            select(OutboxEvent.event_type, func.count()).group_by(OutboxEvent.event_type)
        ).all()
    assert rejects == []
    assert articles == hashes == n
    assert set(sightings) == {str(path) for path in files}
    assert set(sightings.values()) == {1}, "a file has more than one sighting"
    assert dict(events) == {"article.created": n}, "an article event was lost or doubled"
    assert (
        job["status"],
        job["received"],
        job["new"],
        job["duplicates"],
        job["near_duplicates"],
        job["rejected"],
    ) == ("done", n, n, 0, 0, 0)
    assert job["parts_done"] == job["parts_total"] == len(parts) == -(-n // batch_size)
    assert {p["status"] for p in parts} == {"done"}
    for counter in ("received", "new", "duplicates", "near_duplicates", "rejected"):
        assert sum(p[counter] for p in parts) == job[counter], f"{counter} counted twice"


# --------------------------------------------------------------------------------------
# Hostile messages
# --------------------------------------------------------------------------------------

MAX_BATCH = 50
MAX_ARTICLE_BYTES = 4096
MALFORMED = "malformed ingest.articles message"


@pytest.fixture(scope="class")
def hostile_setup(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, WorkerProcess]]:
    """One real worker with small limits on our own broker, for the whole class."""
    directory = tmp_path_factory.mktemp("hostile")
    server = RedisServer(free_port(), directory / "redis.log")
    server.start()
    worker = WorkerProcess(
        "hostile",
        worker_env(
            broker_url=server.url,
            database_url=pg_url,
            max_batch_size=str(MAX_BATCH),
            max_article_bytes=str(MAX_ARTICLE_BYTES),
        ),
        directory,
    )
    worker.start()
    try:
        worker.wait_ready()
        yield server, worker
    finally:
        worker.stop(timeout=20)
        server.kill()


def raw_message(
    task: str, body: bytes, *, content_type: str = "application/json"
) -> tuple[str, bytes]:
    """A Celery protocol 2 message as kombu stores it in a Redis list, around any body."""
    task_id = str(uuid.uuid4())
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": content_type,
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "argsrepr": "",
            "kwargsrepr": "",
            "origin": "hostile-producer",
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": QUEUE},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return task_id, json.dumps(envelope).encode()


def message_job_id(task_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"news-ingest:message:{task_id}"))


def finished_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = (
            connection.execute(text("SELECT * FROM ingest_jobs WHERE id = :id"), {"id": job_id})
            .mappings()
            .one_or_none()
        )
    return dict(row) if row is not None and row["status"] in ("done", "failed") else None


def send_articles(server: RedisServer, articles: list[dict[str, Any]]) -> str:
    client = producer(server.url)
    try:
        task_id = str(uuid.uuid4())
        client.send_task("ingest.articles", args=[articles], task_id=task_id)
    finally:
        client.close()
    return message_job_id(task_id)


def queue_drained(server: RedisServer) -> bool:
    client = server.client()
    try:
        return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def _dropped_and_the_worker_goes_on(
    server: RedisServer, worker: WorkerProcess, engine: Engine, item: bytes, reason: str
) -> str:
    """Push `item` onto the queue, wait for `reason` in the worker's log, then check that a
    good message after it is stored, the queue drains and the worker still runs. Returns
    the worker's log since the push."""
    log_before = len(worker.log())
    client = server.client()
    client.lpush(QUEUE, item)
    client.close()
    wait_for(
        lambda: reason in worker.log()[log_before:],
        timeout=30,
        what="the hostile item dropped with its reason",
    )
    job_id = send_articles(server, [{"body": STORY, "url": "https://example.org/after-hostile"}])
    job = wait_for(
        lambda: finished_job(engine, job_id),
        timeout=30,
        what="the message after the hostile item stored",
    )
    assert (job["received"], job["new"]) == (1, 1)
    wait_for(lambda: queue_drained(server), timeout=10, what="queue and unacked drained")
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    return worker.log()[log_before:]


@pytest.mark.slow
class TestHostileMessages:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b'[[{"body": "unterminated', "Can't decode message body"),
            (b"\xff\xfe not json at all", "Can't decode message body"),
            (b'"a bare string"', f"{MALFORMED}: body is not [args, kwargs, embed]"),
            (b"{}", f"{MALFORMED}: body is not [args, kwargs, embed]"),
            (b'[{"articles": []}, [], {}]', f"{MALFORMED}: args is not a list"),
        ],
        ids=["truncated-json", "not-utf8", "bare-string", "empty-object", "swapped-args"],
    )
    def test_poison_message_is_dropped_and_the_worker_goes_on(
        self,
        hostile_setup: tuple[RedisServer, WorkerProcess],
        postgres_db: str,
        body: bytes,
        reason: str,
    ) -> None:
        """A message on `ingest.articles` whose body is not a Celery JSON payload is
        dropped once with its reason in the log, and the next good message is stored."""
        server, worker = hostile_setup
        engine = create_engine(postgres_db)
        task_id, message = raw_message("ingest.articles", body)
        log = _dropped_and_the_worker_goes_on(server, worker, engine, message, reason)
        assert reason in log
        # Rejected, not retried: the poison message is gone and no job was made of it.
        assert finished_job(engine, message_job_id(task_id)) is None
        engine.dispose()

    @pytest.mark.parametrize(
        ("item", "reason"),
        [
            (b"this is not json", "queue item is not JSON"),
            (b'{"body": "no properties"}', "queue item is not a kombu message envelope"),
            (b"[1, 2]", "queue item is not a kombu message envelope"),
        ],
        ids=["not-json", "json-without-properties", "json-list"],
    )
    def test_queue_item_that_is_not_an_envelope_is_dropped(
        self,
        hostile_setup: tuple[RedisServer, WorkerProcess],
        postgres_db: str,
        item: bytes,
        reason: str,
    ) -> None:
        """An item pushed onto the queue list that is not a kombu envelope at all no longer
        stops the worker ("Unrecoverable error"): it is dropped with the reason and the
        next good message is stored."""
        server, worker = hostile_setup
        engine = create_engine(postgres_db)
        log = _dropped_and_the_worker_goes_on(server, worker, engine, item, reason)
        assert "Unrecoverable error" not in log
        engine.dispose()

    def test_batch_over_the_limit_is_rejected_before_any_work(
        self, hostile_setup: tuple[RedisServer, WorkerProcess], postgres_db: str
    ) -> None:
        """A batch over NEWS_INGEST_MAX_BATCH_SIZE: every input counted as rejected in ONE
        reject row with the reason, nothing normalized or stored, the job `failed`."""
        from worker.storage.models import Article, Reject

        server, _ = hostile_setup
        engine = create_engine(postgres_db)
        articles = [{"body": distinct_article(i)} for i in range(MAX_BATCH + 1)]
        job_id = send_articles(server, articles)
        job = wait_for(lambda: finished_job(engine, job_id), timeout=30, what="job finished")
        assert (job["received"], job["new"], job["rejected"]) == (MAX_BATCH + 1, 0, MAX_BATCH + 1)
        with engine.connect() as connection:
            reasons = connection.execute(select(Reject.reason)).scalars().all()
            stored = connection.execute(select(func.count()).select_from(Article)).scalar_one()
            payload = connection.execute(
                text("SELECT payload FROM ingest_job_parts WHERE job_id = :id"), {"id": job_id}
            ).scalar_one()
        assert stored == 0
        assert job["status"] == "failed"
        assert reasons == [
            f"batch of {MAX_BATCH + 1} articles exceeds NEWS_INGEST_MAX_BATCH_SIZE={MAX_BATCH}"
        ]
        # The documents were never kept: the part holds only the rejection markers.
        assert "body" not in json.dumps(payload)
        engine.dispose()

    def test_article_over_the_size_limit_is_rejected_and_the_rest_stored(
        self, hostile_setup: tuple[RedisServer, WorkerProcess], postgres_db: str
    ) -> None:
        """An article over NEWS_INGEST_MAX_ARTICLE_BYTES is rejected with the reason; the
        other articles of its batch are stored."""
        from worker.storage.models import Reject

        server, _ = hostile_setup
        engine = create_engine(postgres_db)
        huge = "word " * (MAX_ARTICLE_BYTES // 5 + 100)
        job_id = send_articles(
            server,
            [
                {"body": huge, "url": "https://example.org/huge"},
                {"body": STORY, "url": "https://example.org/fine"},
            ],
        )
        job = wait_for(lambda: finished_job(engine, job_id), timeout=30, what="job finished")
        assert (job["received"], job["new"], job["rejected"]) == (2, 1, 1)
        with engine.connect() as connection:
            reasons = connection.execute(select(Reject.reason)).scalars().all()
        assert reasons == [f"article larger than NEWS_INGEST_MAX_ARTICLE_BYTES={MAX_ARTICLE_BYTES}"]
        engine.dispose()


# --------------------------------------------------------------------------------------
# A batch that kills its worker every time, and a worker asked to stop mid-batch
# --------------------------------------------------------------------------------------


@pytest.mark.slow
class TestWorkerLoss:
    def test_batch_that_kills_its_worker_past_the_cap_is_given_up(
        self, postgres_db: str, redis_server: RedisServer, tmp_path: Path
    ) -> None:
        """A batch whose worker process dies (as under the OOM killer) more often than
        NEWS_INGEST_MAX_TASK_DELIVERIES, never while on one input in particular, is given
        up: its inputs go to `rejects` with the reason and the job ends `failed` instead of
        looping forever. (A death on a known input rejects that input alone: see
        tests/test_hostile_batches.py.)"""
        from worker.storage.models import Reject

        files = make_seed_files(tmp_path / "seeds", 400)
        env = worker_env(
            broker_url=redis_server.url, database_url=postgres_db, max_task_deliveries="1"
        )
        engine = create_engine(postgres_db)
        enqueued = cli("enqueue", str(tmp_path / "seeds"), "--batch-size", "400", "--json", env=env)
        assert enqueued.returncode == 0, enqueued.stderr
        watch = JobWatch(engine, json.loads(enqueued.stdout)["job_id"])
        worker = WorkerProcess("oom", env, tmp_path, concurrency=1)
        try:
            worker.start()
            part = wait_for(
                lambda: next(
                    (p for p in watch.parts() if p["attempts"] == 1 and p["status"] == "running"),
                    None,
                ),
                timeout=60,
                interval=0.01,
                what="delivery 1 running",
            )
            assert part["finished_at"] is None
            os.kill(worker.children()[0], signal.SIGKILL)  # the "OOM killer"
            job = wait_for(lambda: finished_job(engine, watch.job_id), timeout=60, what="job ended")
        except BaseException:
            print(f"--- worker log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            worker.stop(timeout=20)
        (part,) = watch.parts()
        assert (part["status"], part["attempts"]) == ("failed", 2)
        assert (job["received"], job["rejected"], job["new"]) == (len(files), len(files), 0)
        assert job["status"] == "failed"
        with engine.connect() as connection:
            reasons = set(connection.execute(select(Reject.reason)).scalars())
        assert reasons == {"batch gave up after 1 deliveries (NEWS_INGEST_MAX_TASK_DELIVERIES=1)"}
        engine.dispose()

    def test_sigterm_lets_the_running_batch_finish(
        self, postgres_db: str, redis_server: RedisServer, tmp_path: Path
    ) -> None:
        """SIGTERM (what `docker compose stop` sends) mid-batch: the running batch is
        stored once, the prefetched message goes back to the queue, and a new worker
        finishes the job with every file stored exactly once."""
        files = make_seed_files(tmp_path / "seeds", 900)
        env = worker_env(broker_url=redis_server.url, database_url=postgres_db)
        engine = create_engine(postgres_db)
        enqueued = cli("enqueue", str(tmp_path / "seeds"), "--batch-size", "300", "--json", env=env)
        assert enqueued.returncode == 0, enqueued.stderr
        watch = JobWatch(engine, json.loads(enqueued.stdout)["job_id"])
        first = WorkerProcess("stopping", env, tmp_path, concurrency=1)
        second = WorkerProcess("after", env, tmp_path, concurrency=1)
        try:
            first.start()
            running = wait_for(
                lambda: next((p for p in watch.parts() if p["status"] == "running"), None),
                timeout=60,
                interval=0.01,
                what="a batch running",
            )
            assert first.process is not None
            first.process.send_signal(signal.SIGTERM)
            assert first.process.wait(timeout=60) == 0, "the worker did not stop cleanly"
            stopped = {p["part_no"]: p for p in watch.parts()}
            assert stopped[running["part_no"]]["status"] == "done", "the running batch was cut"
            second.start()
            wait_for(lambda: watch.job()["status"] == "done", timeout=60, what="job done")
        except BaseException:
            for worker in (first, second):
                print(f"--- {worker.name} log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            for worker in (first, second):
                worker.stop(timeout=20)
        assert {p["part_no"]: p["attempts"] for p in watch.parts()} == {0: 1, 1: 1, 2: 1}
        assert_stored_exactly_once(engine, watch, files, batch_size=300)
        engine.dispose()


class TestForkSafety:
    def test_a_forked_child_opens_its_own_connections(self, postgres_db: str) -> None:
        """After the registry's after_fork (run by worker_process_init) a prefork child never
        reuses a connection pooled by its parent, and the parent's connection still works."""
        from worker.resources import resources
        from worker.storage.session import get_engine

        engine = get_engine(postgres_db)
        backend = text("SELECT pg_backend_pid()")
        with engine.connect() as connection:
            parent_backend = connection.execute(backend).scalar_one()
        child = os.fork()
        if child == 0:  # the child: report through the exit code only
            code = 1
            try:
                resources.after_fork()
                with engine.connect() as connection:
                    code = 0 if connection.execute(backend).scalar_one() != parent_backend else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child used the parent's connection"
        # The parent's pool (which may hold several connections) still works.
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1


# --------------------------------------------------------------------------------------
# The configuration the faults rely on (the pitfalls list in DESIGN.md)
# --------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


class TestConfiguration:
    def test_every_task_is_late_acked_redelivered_and_retried_only_on_faults(self) -> None:
        """Every task acks late, is requeued when its worker dies, retries with backoff and
        jitter on transient faults only, and goes through the message shape check."""
        from worker.app import app
        from worker.errors import RejectedInput

        app.loader.import_default_modules()
        tasks = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
        assert {"ingest.articles", "ingest.seeds", "jobs.resume"} <= set(tasks)
        for name, task in tasks.items():
            assert task.acks_late and task.reject_on_worker_lost, name
            assert task.retry_backoff and task.retry_jitter and task.max_retries, name
            assert not issubclass(RejectedInput, tuple(task.autoretry_for)), name
            assert task.Strategy == "worker.tasks.messages:checked_strategy", name

    def test_broker_settings_fit_the_longest_batch(self) -> None:
        """The visibility timeout outlasts the longest batch and retry countdown; one
        message prefetched per process; JSON only; a soft shutdown; never eager."""
        from worker.app import RETRY_BACKOFF_MAX_S, app

        conf = app.conf
        visibility = conf.broker_transport_options["visibility_timeout"]
        assert visibility > conf.task_time_limit and visibility > RETRY_BACKOFF_MAX_S
        assert conf.task_soft_time_limit < conf.task_time_limit
        assert conf.worker_prefetch_multiplier == 1
        assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
        assert conf.task_acks_late and conf.task_reject_on_worker_lost
        assert conf.worker_soft_shutdown_timeout > 0
        assert not conf.task_always_eager

    def test_compose_keeps_the_broker_and_runs_one_beat(self) -> None:
        """Compose: Redis with AOF and noeviction, one beat with a heartbeat healthcheck,
        migrations in a one-shot service, a stop grace period longer than soft shutdown."""
        import yaml

        from worker.app import app

        services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
        redis_command = " ".join(services["redis"]["command"])
        assert "--appendonly yes" in redis_command and "noeviction" in redis_command
        beat = services["beat"]
        assert beat.get("deploy", {}).get("replicas", 1) == 1
        assert "inspect" not in json.dumps(beat["healthcheck"])
        assert all(
            "-B" not in service.get("command", []) and "--beat" not in service.get("command", [])
            for service in services.values()
        )
        assert services["migrate"]["restart"] == "no"
        assert "db" in services["migrate"]["command"]
        for name in ("worker", "beat"):
            assert "upgrade" not in " ".join(services[name]["command"]), name
        grace = services["worker"]["stop_grace_period"]
        assert grace.endswith("s") and int(grace[:-1]) > app.conf.worker_soft_shutdown_timeout

    def test_kombu_reconnects_after_a_redis_restart(self) -> None:
        """kombu 5.4 or later (older releases do not reconnect after a Redis restart)."""
        from importlib.metadata import version

        major, minor = (int(part) for part in version("kombu").split(".")[:2])
        assert (major, minor) >= (5, 4)
