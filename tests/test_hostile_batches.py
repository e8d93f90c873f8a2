"""Hostile input, for real (issue 19, items 2 and 4): one bad item never costs the good ones
of its batch, and no message, request body or feed makes a worker or the API allocate
without bound.

Real Postgres throughout; real Celery workers (in-process for the field limits, separate
`celery -A worker.app worker` processes we SIGKILL for the poisoned input and for the hostile
messages); a real API server; feeds from a loopback HTTP server.
"""

from __future__ import annotations

import json
import os
import random
import signal
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from schemas import JobStatus
from tests.apiserver import running_api
from tests.factories import STORY, distinct_article
from tests.faults import RedisServer, WorkerProcess, free_port
from tests.feeds_fixtures import (
    _module_feed_server,  # noqa: F401 -- feed_server's own fixture
    feed_server,  # noqa: F401 -- a fixture, used by name
)
from tests.polling import wait_for
from tests.test_faults import (
    JobWatch,
    finished_job,
    message_job_id,
    producer,
    queue_drained,
    raw_message,
    worker_env,
)
from worker.services import jobs as job_service
from worker.services import parts as part_service
from worker.services.arrivals import arrivals_of, parse_document, storable_text
from worker.settings import Settings, get_settings
from worker.sources.bounds import json_shape, xml_depth
from worker.storage.models import Article, FeedEntryReject, Reject

QUEUE = "news-ingest"


def random_text(length: int, *, seed: int, alphabet: str = string.ascii_letters) -> str:
    """Text that does not compress (an index entry of it is as large as it looks)."""
    chooser = random.Random(seed)
    return "".join(chooser.choice(alphabet) for _ in range(length))


CJK = "".join(chr(code) for code in range(0x4E00, 0x4E00 + 2000))


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def hostile_articles() -> dict[str, dict[str, Any]]:
    """Each of the articles that failed a whole batch on Postgres before issue 19."""
    return {
        "6000-character url": {
            "body": distinct_article(901),
            "url": "https://example.org/" + random_text(6000, seed=1),
        },
        "2000-character CJK guid": {
            "body": distinct_article(902),
            "guid": random_text(2000, seed=2, alphabet=CJK),
        },
        "8000-character source": {
            "body": distinct_article(903),
            "source": random_text(8000, seed=3),
        },
        "extra.path not a string": {"body": distinct_article(904), "extra": {"path": {"a": 1}}},
        "extra nested too deep": {"body": distinct_article(905), "extra": nested(12)},
    }


def good_articles(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"body": distinct_article(start + n), "url": f"https://example.org/good/{start + n}"}
        for n in range(count)
    ]


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params).mappings())


# --------------------------------------------------------------------------------------
# Field limits and unstorable characters, before the database
# --------------------------------------------------------------------------------------


class TestPartsStoredBefore0005:
    def test_an_input_refused_in_band_is_rejected_with_its_reason(self) -> None:
        """An unfinished part stored before migration 0005, whose refused input stands as
        `{"__rejected__": reason, "payload": ...}`, rejects it with that reason; a producer's
        document is never read that way."""
        from worker.storage.jobs import PartClaim

        legacy = {"__rejected__": "batch too large", "payload": "article 0"}
        claim = PartClaim("job", 0, "articles", {"articles": [legacy]}, 1, JobStatus.running)
        (arrival,) = arrivals_of(claim, get_settings())
        assert arrival.rejected is not None and arrival.raw is None
        assert (arrival.rejected.reason, arrival.rejected.raw) == ("batch too large", b"article 0")
        refused = parse_document(legacy, get_settings()).rejected
        assert refused is not None and refused.reason.startswith("invalid RawArticle")


class TestStorableText:
    def test_nul_controls_and_lone_surrogates_are_replaced_tab_and_newline_kept(self) -> None:
        """NUL and C0 controls other than tab and newline are dropped, lone surrogates
        become U+FFFD, CR becomes a newline where the text has lines."""
        assert storable_text("a\x00b\x01c\td\ne\ud800f\x1f") == "abc\td\ne\ufffdf"
        assert storable_text("one\r\ntwo\rthree", keep_cr=True) == "one\ntwo\nthree"

    def test_text_beyond_ascii_is_cleaned_alike(self) -> None:
        """Accented, CJK and astral text keeps every character but the unstorable ones,
        wherever those sit; CR is dropped where the text has no lines."""
        assert storable_text("café\x0b中\udfff😀\r") == "café中\ufffd😀"
        assert storable_text("\ud83d\x00é\x1f", keep_cr=True) == "\ufffdé"
        assert storable_text("déjà vu\n\t中文 😀") == "déjà vu\n\t中文 😀"
        assert storable_text("\u00a0\u0085\u2028\x7f") == "\u00a0\u0085\u2028\x7f"

    def test_a_document_with_unstorable_characters_is_kept_cleaned(self) -> None:
        """A document with NUL and lone surrogates in every text field (extra too) is
        accepted with those characters replaced, not rejected."""
        arrival = parse_document(
            {
                "body": STORY + "\x00\ud800",
                "title": "T\x00itle",
                "url": "https://example.org/a\x00b",
                "guid": "g\ud800",
                "source": "producer\x07",
                "extra": {"path": "p\x00", "k\udc00": ["v\x00"]},
            },
            get_settings(),
        )
        assert arrival.rejected is None and arrival.raw is not None
        assert arrival.raw.body.endswith("\ufffd") and "\x00" not in arrival.raw.body
        assert (arrival.raw.title, arrival.raw.guid, arrival.raw.source) == (
            "Title",
            "g\ufffd",
            "producer",
        )
        assert arrival.raw.extra == {"path": "p", "k\ufffd": ["v"]}
        assert arrival.location == "p"


class TestFieldLimits:
    @pytest.mark.parametrize(
        ("name", "reason"),
        [
            ("6000-character url", "url longer than NEWS_INGEST_MAX_URL_BYTES=2048 bytes"),
            ("2000-character CJK guid", "guid longer than NEWS_INGEST_MAX_GUID_BYTES=1024 bytes"),
            (
                "8000-character source",
                "source longer than NEWS_INGEST_MAX_SOURCE_BYTES=2048 bytes",
            ),
            ("extra.path not a string", "extra.path is not a string"),
        ],
    )
    def test_each_limit_is_a_reject_with_its_reason(self, name: str, reason: str) -> None:
        """A field over its limit makes the document a reject naming the setting, never an
        exception."""
        arrival = parse_document(hostile_articles()[name], get_settings())
        assert arrival.rejected is not None and arrival.rejected.reason == reason

    def test_extra_items_depth_and_size_are_bounded(self) -> None:
        """`extra` over its item count, depth or serialized size is a reject."""
        settings = Settings(max_extra_items=10, max_extra_depth=2, max_extra_bytes=300)
        reasons = [
            parse_document({"body": STORY, "extra": extra}, settings).rejected
            for extra in (
                {"list": list(range(50))},
                {"a": {"b": {"c": 1}}},
                {"big": "x" * 400},
            )
        ]
        assert [r.reason.split(" ")[:2] if r else None for r in reasons] == [
            ["extra", "holds"],
            ["extra", "nested"],
            ["extra", "of"],
        ]

    def test_hostile_articles_cost_only_themselves_through_a_real_worker(
        self, celery_worker: object, postgres_db: str
    ) -> None:
        """One `ingest.articles` message with each article that used to fail its batch on
        Postgres, and five good ones: a real worker stores the five and rejects the others
        with their reasons; the job is `done`."""
        from worker.app import app

        hostile = [
            *hostile_articles().values(),
            {"body": distinct_article(906) + "\x00 NUL", "title": "nul\x00"},
        ]
        good = good_articles(5)
        task_id = str(uuid.uuid4())
        app.send_task("ingest.articles", args=[hostile + good], task_id=task_id)
        engine = create_engine(postgres_db)
        job = wait_for(
            lambda: finished_job(engine, message_job_id(task_id)), timeout=60, what="job finished"
        )
        assert (job["status"], job["received"], job["new"], job["rejected"]) == (
            "done",
            len(hostile) + 5,
            6,
            len(hostile) - 1,
        )
        reasons = [r["reason"] for r in rows(engine, "SELECT reason FROM rejects")]
        assert len(reasons) == len(hostile) - 1
        assert not any("refused by the database" in reason for reason in reasons)
        engine.dispose()


# --------------------------------------------------------------------------------------
# What the database still refuses: found by halving, only the offender rejected
# --------------------------------------------------------------------------------------


class TestRefusedInputIsIsolated:
    def test_offenders_are_found_and_the_rest_of_the_batch_stored(
        self, postgres_db: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With the limits raised past what Postgres' indexes take, a batch of 20 with two
        refused inputs stores the 18 others; the two are rejected with the database's
        error kind."""
        monkeypatch.setenv("NEWS_INGEST_MAX_URL_BYTES", "100000")
        monkeypatch.setenv("NEWS_INGEST_MAX_GUID_BYTES", "100000")
        get_settings.cache_clear()
        hostile = hostile_articles()
        documents = good_articles(20)
        documents[7] = hostile["6000-character url"]
        documents[13] = hostile["2000-character CJK guid"]
        engine = create_engine(postgres_db)
        job_id = job_service.create_job(engine=engine)
        job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=documents, batch_size=100
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        summary = part_service.run_part(engine=engine, job_id=job_id, part_no=0)
        assert summary is not None and (summary.new, summary.rejected) == (18, 2)
        reasons = sorted(r["reason"] for r in rows(engine, "SELECT reason FROM rejects"))
        assert all(
            reason.startswith("refused by the database: ProgramLimitExceeded") for reason in reasons
        )
        assert 'index "uq_articles_source_guid"' in reasons[0]
        assert 'index "uq_articles_url"' in reasons[1]
        (job,) = rows(engine, "SELECT status FROM ingest_jobs WHERE id = :id", id=job_id)
        assert job["status"] == "done"
        engine.dispose()


class TestJobStatus:
    def test_a_job_whose_every_input_was_rejected_is_failed(self, engine: Any) -> None:
        """Every input rejected: the job ends `failed` with the reason, not `done`; one good
        input among them keeps it `done`."""
        outcomes = []
        for documents in ([{"body": ""}, {"body": "  "}], [{"body": ""}, {"body": STORY}]):
            job_id = job_service.create_job(engine=engine)
            job_service.add_article_parts(
                engine=engine, job_id=job_id, documents=documents, batch_size=10
            )
            job_service.seal_job(engine=engine, job_id=job_id)
            part_service.run_part(engine=engine, job_id=job_id, part_no=0)
            (job,) = rows(engine, "SELECT status, error FROM ingest_jobs WHERE id = :id", id=job_id)
            outcomes.append((job["status"], job["error"]))
        assert outcomes[0][0] == "failed" and "every input was rejected" in outcomes[0][1]
        assert outcomes[1] == ("done", None)


class TestRedeliveryProgress:
    @pytest.fixture(autouse=True)
    def _cap_of_two(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setenv("NEWS_INGEST_MAX_TASK_DELIVERIES", "2")
        get_settings.cache_clear()
        yield
        get_settings.cache_clear()

    def _part_left_by_a_delivery_on(self, engine: Any, index: int) -> str:
        """A part of three articles whose first delivery died somewhere and whose second
        recorded that it was working on input `index` (as `store_part` does)."""
        from worker.storage import jobs as job_rows

        job_id = job_service.create_job(engine=engine)
        job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=good_articles(3), batch_size=10
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        for _ in range(2):
            with engine.begin() as connection:
                claim = job_rows.claim_part(connection=connection, job_id=job_id, part_no=0)
        assert claim is not None
        with engine.begin() as connection:
            job_rows.mark_current_input(
                connection=connection, job_id=job_id, part_no=0, index=index, attempt=2
            )
        return job_id

    def test_past_the_cap_the_input_a_dead_delivery_was_on_is_rejected(self, engine: Any) -> None:
        """A delivery past NEWS_INGEST_MAX_TASK_DELIVERIES after one that died on input 1
        rejects input 1 alone and stores the two others."""
        job_id = self._part_left_by_a_delivery_on(engine, 1)
        summary = part_service.run_part(engine=engine, job_id=job_id, part_no=0)
        assert summary is not None and (summary.new, summary.rejected) == (2, 1)
        (reject,) = rows(engine, "SELECT location, reason FROM rejects")
        assert reject["location"] == "https://example.org/good/1"

    def test_before_the_cap_the_input_is_tried_again(
        self, engine: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Below the cap, the input a dead delivery was on is tried again, not rejected:
        the death may have been the machine's."""
        monkeypatch.setenv("NEWS_INGEST_MAX_TASK_DELIVERIES", "3")
        get_settings.cache_clear()
        job_id = self._part_left_by_a_delivery_on(engine, 1)
        summary = part_service.run_part(engine=engine, job_id=job_id, part_no=0)
        assert summary is not None and (summary.new, summary.rejected) == (3, 0)

    def test_a_retry_of_the_same_delivery_rejects_nothing(self, engine: Any) -> None:
        """A Celery retry after a transient fault (the same delivery, not a death) resumes
        at the input it was on and rejects nothing."""
        job_id = self._part_left_by_a_delivery_on(engine, 1)
        summary = part_service.run_part(
            engine=engine, job_id=job_id, part_no=0, count_delivery=False
        )
        assert summary is not None and (summary.new, summary.rejected) == (3, 0)


# --------------------------------------------------------------------------------------
# A worker killed on a poisoned input
# --------------------------------------------------------------------------------------


@pytest.mark.slow
class TestWorkerKilledOnPoisonedInput:
    def test_only_the_input_the_worker_died_on_is_rejected(
        self, postgres_db: str, tmp_path: Path
    ) -> None:
        """A batch whose worker is SIGKILLed twice (the second time while it works on the
        poisoned input, as the OOM killer would), with NEWS_INGEST_MAX_TASK_DELIVERIES=2:
        the delivery past the cap rejects that input alone and stores the five others; the
        job is `done`."""
        server = RedisServer(free_port(), tmp_path / "redis.log")
        server.start()
        poison = 2
        # Big enough to hold its worker for about a second: the "OOM killer" finds it there.
        slow = "\n\n".join(distinct_article(5000 + n) for n in range(2500))
        documents = good_articles(5)
        documents.insert(poison, {"body": slow, "url": "https://example.org/poison"})
        env = worker_env(broker_url=server.url, database_url=postgres_db, max_task_deliveries="2")
        engine = create_engine(postgres_db)
        worker = WorkerProcess("poisoned", env, tmp_path, concurrency=1)
        try:
            worker.start()
            worker.wait_ready()
            client = producer(server.url)
            task_id = str(uuid.uuid4())
            client.send_task("ingest.articles", args=[documents], task_id=task_id)
            client.close()
            watch = JobWatch(engine, message_job_id(task_id))

            def part_state() -> dict[str, Any] | None:
                found = rows(
                    engine,
                    "SELECT attempts, status, current_input FROM ingest_job_parts "
                    "WHERE job_id = :id",
                    id=watch.job_id,
                )
                return found[0] if found else None

            wait_for(
                lambda: (p := part_state()) and p["attempts"] == 1 and p["status"] == "running",
                timeout=60,
                interval=0.01,
                what="delivery 1 running",
            )
            os.kill(worker.children()[0], signal.SIGKILL)
            wait_for(
                lambda: (p := part_state()) and p["attempts"] == 2 and p["current_input"] == poison,
                timeout=60,
                interval=0.01,
                what="delivery 2 on the poisoned input",
            )
            os.kill(worker.children()[0], signal.SIGKILL)
            job = wait_for(lambda: finished_job(engine, watch.job_id), timeout=90, what="job ended")
        except BaseException:
            print(f"--- worker log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            worker.stop(timeout=20)
            server.kill()
        assert (job["status"], job["received"], job["new"], job["rejected"]) == ("done", 6, 5, 1)
        (part,) = rows(
            engine,
            "SELECT attempts, status, poisoned_inputs FROM ingest_job_parts WHERE job_id = :id",
            id=watch.job_id,
        )
        assert (part["attempts"], part["status"], part["poisoned_inputs"]) == (3, "done", [poison])
        (reject,) = rows(engine, "SELECT location, reason FROM rejects")
        assert reject["location"] == "https://example.org/poison"
        assert reject["reason"].startswith("worker died or timed out while ingesting this input")
        with engine.connect() as connection:
            urls = set(connection.execute(select(Article.url)).scalars())
        assert urls == {f"https://example.org/good/{n}" for n in range(5)}
        engine.dispose()


# --------------------------------------------------------------------------------------
# Hostile messages: bounded before decoding, one reject, the worker lives
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def message_worker(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RedisServer, WorkerProcess]]:
    """One real worker process on a broker of our own, for the whole class."""
    directory = tmp_path_factory.mktemp("hostile-messages")
    server = RedisServer(free_port(), directory / "redis.log")
    server.start()
    worker = WorkerProcess(
        "messages", worker_env(broker_url=server.url, database_url=pg_url), directory
    )
    worker.start()
    try:
        worker.wait_ready()
        yield server, worker
    finally:
        worker.stop(timeout=20)
        server.kill()


def push(server: RedisServer, body: bytes) -> str:
    """Push a raw `ingest.articles` message with this body; returns its job id."""
    task_id, message = raw_message("ingest.articles", body)
    client = server.client()
    client.lpush(QUEUE, message)
    client.close()
    return message_job_id(task_id)


@pytest.mark.slow
class TestHostileMessages:
    @pytest.mark.parametrize(
        ("body", "reason", "count"),
        [
            (
                b"[[" + b"[" * 100_000 + b"]" * 100_000 + b"], {}, {}]",
                "message nested 100002 levels deep exceeds NEWS_INGEST_MAX_JSON_DEPTH=32",
                1,
            ),
            (
                json.dumps([[[{"body": "x"}] * 200_000], {}, {}]).encode(),
                "message of 400007 JSON values exceeds NEWS_INGEST_MAX_MESSAGE_ITEMS=250000",
                200_000,
            ),
        ],
        ids=["100000-deep", "200000-items"],
    )
    def test_message_over_the_bounds_is_one_reject_and_the_worker_goes_on(
        self,
        message_worker: tuple[RedisServer, WorkerProcess],
        postgres_db: str,
        body: bytes,
        reason: str,
        count: int,
    ) -> None:
        """A message too deep or with too many items is measured before it is decoded and
        becomes one failed job with ONE reject counting its inputs; the worker is alive
        and stores the next message."""
        server, worker = message_worker
        engine = create_engine(postgres_db)
        job_id = push(server, body)
        job = wait_for(lambda: finished_job(engine, job_id), timeout=60, what="job ended")
        assert (job["status"], job["received"], job["rejected"]) == ("failed", count, count)
        (reject,) = rows(engine, "SELECT reason FROM rejects WHERE job_id = :id", id=job_id)
        assert reject["reason"] == reason
        good = push(server, json.dumps([[[{"body": STORY}]], {}, {}]).encode())
        assert wait_for(lambda: finished_job(engine, good), timeout=60, what="next job")["new"] == 1
        wait_for(lambda: queue_drained(server), timeout=10, what="queue drained")
        assert worker.process is not None and worker.process.poll() is None, "the worker died"
        assert "Unrecoverable error" not in worker.log()
        engine.dispose()


# --------------------------------------------------------------------------------------
# The API: a body measured before it is decoded
# --------------------------------------------------------------------------------------


class TestApiBodyBounds:
    def test_deep_or_itemful_bodies_are_413_before_decoding(
        self, pg_url: str, postgres_db: str, redis_client: object, tmp_path: Path
    ) -> None:
        """`POST /jobs` with a 10 MiB body of small nested `extra` objects, or one nested
        100,000 deep, is refused 413 naming the setting; a normal body is still accepted."""
        many = {
            "articles": [
                {"body": f"article {n}", "extra": {"a": {"b": [1, 2]}}} for n in range(10_000)
            ]
            + [{"body": "x", "extra": {"k": [{"v": [0] * 100}] * 100}}] * 100
        }
        deep = (
            b'{"articles": [{"body": "x", "extra": {"a": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}]}"
        )
        with running_api(pg_url, tmp_path / "api.log") as server, server.client() as client:
            headers = {"content-type": "application/json"}
            refused_many = client.post("/jobs", content=json.dumps(many).encode(), headers=headers)
            refused_deep = client.post("/jobs", content=deep, headers=headers)
            accepted = client.post("/jobs", json={"articles": [{"body": STORY}]})
        assert refused_many.status_code == 413, refused_many.text
        assert "NEWS_INGEST_MAX_MESSAGE_ITEMS" in refused_many.json()["detail"]
        assert refused_deep.status_code == 413, refused_deep.text
        assert "NEWS_INGEST_MAX_JSON_DEPTH" in refused_deep.json()["detail"]
        assert accepted.status_code == 202, accepted.text


class TestBoundsScan:
    def test_json_shape_is_measured_without_decoding(self) -> None:
        """Depth and value count ignore brackets inside strings and escaped quotes."""
        shape = json_shape(b'[{"a": "[[[\\"{{", "b\\\\": [1, 2, {}]}, null]')
        assert (shape.depth, shape.values) == (4, 9)  # 4 containers, 4 commas, the top value

    def test_xml_depth_ignores_comments_cdata_and_self_closing_tags(self) -> None:
        """Only elements count: markup in comments and CDATA adds no level, and `<br/>` is
        an element that closes itself (the deepest element here)."""
        document = (
            b"<rss><channel><!-- <a><b> --><item><br/><![CDATA[<x><y>]]></item></channel></rss>"
        )
        assert xml_depth(document) == 4


# --------------------------------------------------------------------------------------
# Feeds: a poison entry is dealt with once; deep markup is refused before feedparser
# --------------------------------------------------------------------------------------


def rss(items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://news.example.com/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(n: int, *, link: str | None = None) -> str:
    link = link or f"https://news.example.com/story-{n}"
    return (
        f"<item><title>Story {n}</title><link>{link}</link><guid>story-{n}</guid>"
        f"<description>{distinct_article(n)}</description></item>"
    )


class TestFeedPoisonEntry:
    def test_a_rejected_entry_is_not_sent_again_by_the_next_fetch(
        self,
        postgres_db: str,
        feed_server: HTTPServer,  # noqa: F811 -- the fixture
    ) -> None:
        """A feed with one entry whose link is 6,000 characters, fetched twice from a
        loopback server: the first fetch stores the three good entries and rejects the
        poison one (remembered by guid and text); the second sends nothing again."""
        from worker.services import feeds as feed_service
        from worker.storage import feeds as feed_rows

        poison = item(99, link="https://news.example.com/" + random_text(6000, seed=9))
        document = rss([item(1), poison, item(2), item(3)])
        for _ in range(2):
            feed_server.expect_oneshot_request("/poison.xml").respond_with_data(
                document, content_type="application/rss+xml"
            )
        engine = create_engine(postgres_db)
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(
                connection=connection, url=feed_server.url_for("/poison.xml")
            )
        first = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        second = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        assert first.summary is not None
        assert (first.summary.new, first.summary.rejected) == (3, 1)
        assert second.error is None and second.job_id is None and second.entries == 4
        with engine.connect() as connection:
            rejects = connection.execute(select(func.count()).select_from(Reject)).scalar_one()
            remembered = (
                connection.execute(
                    select(FeedEntryReject.reason).where(FeedEntryReject.source_id == feed.id)
                )
                .scalars()
                .all()
            )
        assert rejects == 1
        assert remembered == ["url longer than NEWS_INGEST_MAX_URL_BYTES=2048 bytes"]
        engine.dispose()

    def test_deeply_nested_feed_is_refused_before_parsing(
        self,
        postgres_db: str,
        feed_server: HTTPServer,  # noqa: F811 -- the fixture
    ) -> None:
        """A feed nested 50,000 elements deep fails its fetch with a clear reason (kind
        `too_deep`) instead of reaching feedparser."""
        from worker.services import feeds as feed_service
        from worker.storage import feeds as feed_rows

        document = rss(["<item>" + "<div>" * 50_000 + "</div>" * 50_000 + "</item>"])
        feed_server.expect_oneshot_request("/deep.xml").respond_with_data(
            document, content_type="application/rss+xml"
        )
        engine = create_engine(postgres_db)
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(
                connection=connection, url=feed_server.url_for("/deep.xml")
            )
        fetched = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        assert fetched.error == (
            "too_deep: the feed's markup is nested deeper than NEWS_INGEST_MAX_FEED_DEPTH"
        )
        with engine.connect() as connection:
            stored = feed_rows.get_feed(connection=connection, feed_id=feed.id)
        assert stored is not None and stored.error_count == 1
        engine.dispose()


@pytest.mark.slow
class TestFeedEntryThatKillsItsWorker:
    def test_the_entry_is_rejected_once_and_left_out_of_the_next_fetch(
        self,
        postgres_db: str,
        tmp_path: Path,
        feed_server: HTTPServer,  # noqa: F811 -- the fixture
    ) -> None:
        """A dispatched `feeds.fetch` whose feed holds an entry its worker dies on (SIGKILL
        on delivery 1, and on delivery 2 while on that entry): the redelivered fetch runs
        the same part again instead of a new one, the entry is rejected alone and
        remembered, the five others are stored, and the next fetch leaves it out."""
        from datetime import timedelta

        from worker.services import feeds as feed_service
        from worker.storage import feeds as feed_rows
        from worker.storage.models import utcnow

        poison = 2
        slow = "\n\n".join(distinct_article(7000 + n) for n in range(2500))
        items = [item(n) for n in range(5)]
        items.insert(
            poison,
            "<item><title>Slow</title><link>https://news.example.com/slow</link>"
            f"<guid>slow</guid><description>{slow}</description></item>",
        )
        feed_server.expect_request("/killer.xml").respond_with_data(
            rss(items), content_type="application/rss+xml"
        )
        engine = create_engine(postgres_db)
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(
                connection=connection, url=feed_server.url_for("/killer.xml")
            )
            claim = feed_rows.claim_feed(
                connection=connection,
                feed_id=feed.id,
                now=utcnow(),
                lease=timedelta(seconds=1200),
            )
        assert isinstance(claim, feed_rows.FeedClaim)
        server = RedisServer(free_port(), tmp_path / "redis.log")
        server.start()
        worker = WorkerProcess(
            "feed-killer",
            worker_env(broker_url=server.url, database_url=postgres_db, max_task_deliveries="2"),
            tmp_path,
            concurrency=1,
        )

        def part_state() -> dict[str, Any] | None:
            found = rows(engine, "SELECT attempts, status, current_input FROM ingest_job_parts")
            return found[0] if found else None

        try:
            worker.start()
            worker.wait_ready()
            client = producer(server.url)
            client.send_task(
                "feeds.fetch", kwargs={"feed_id": feed.id, "claim": claim.token.isoformat()}
            )
            client.close()
            wait_for(
                lambda: (p := part_state()) and p["attempts"] == 1 and p["status"] == "running",
                timeout=60,
                interval=0.01,
                what="delivery 1 running",
            )
            os.kill(worker.children()[0], signal.SIGKILL)
            wait_for(
                lambda: (p := part_state()) and p["attempts"] == 2 and p["current_input"] == poison,
                timeout=90,
                interval=0.01,
                what="delivery 2 on the poisoned entry",
            )
            os.kill(worker.children()[0], signal.SIGKILL)
            wait_for(
                lambda: (p := part_state()) and p["status"] == "done",
                timeout=90,
                what="the part stored",
            )
            wait_for(lambda: queue_drained(server), timeout=30, what="queue drained")
        except BaseException:
            print(f"--- worker log (tail) ---\n{worker.log()[-6000:]}")
            raise
        finally:
            worker.stop(timeout=20)
            server.kill()
        (job,) = rows(
            engine, "SELECT status, received, new, rejected, parts_total FROM ingest_jobs"
        )
        assert (job["status"], job["received"], job["new"], job["rejected"]) == ("done", 6, 5, 1)
        assert job["parts_total"] == 1  # the redeliveries ran the same part
        again = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        assert again.error is None and again.job_id is None and again.entries == 6
        with engine.connect() as connection:
            rejects = connection.execute(select(Reject.location, Reject.reason)).all()
            remembered = connection.execute(select(func.count()).select_from(FeedEntryReject))
            assert remembered.scalar_one() == 1
        assert len(rejects) == 1 and rejects[0].location == "https://news.example.com/slow"
        engine.dispose()
