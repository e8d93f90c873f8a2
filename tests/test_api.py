"""The HTTP API, served by a real `news-ingest serve` process on the test Postgres and Redis."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.apiserver import ApiServer, running_api
from tests.factories import STORY, distinct_article
from tests.polling import wait_for
from tests.store import store_articles
from worker.storage.models import Source
from worker.storage.session import get_engine

API_KEY = "test-key-1234"
BODY_LIMIT = 256 * 1024
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def seed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-seeds")


@pytest.fixture(scope="module")
def open_server(
    pg_url: str, seed_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server with no API key, reading seeds only under `seed_root`."""
    log = tmp_path_factory.mktemp("api-open") / "server.log"
    with running_api(pg_url, log, NEWS_INGEST_API_SEED_ROOTS=str(seed_root)) as server:
        yield server


@pytest.fixture(scope="module")
def guarded_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server whose writes need API_KEY, with a small body limit."""
    log = tmp_path_factory.mktemp("api-guarded") / "server.log"
    with running_api(
        pg_url, log, NEWS_INGEST_API_KEY=API_KEY, NEWS_INGEST_API_MAX_BODY_BYTES=str(BODY_LIMIT)
    ) as server:
        yield server


@pytest.fixture
def api(open_server: ApiServer, postgres_db: str, redis_client: object) -> Iterator[httpx.Client]:
    """A client of the open server; the database and Redis are emptied after the test."""
    with open_server.client() as client:
        yield client


@pytest.fixture
def guarded(
    guarded_server: ApiServer, postgres_db: str, redis_client: object
) -> Iterator[httpx.Client]:
    with guarded_server.client() as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["type"]
    return problem


def make_articles(count: int, *, start: int = 0, source: str = "producer-a") -> list[dict]:  # type: ignore[type-arg]
    return [
        {
            "body": distinct_article(start + i),
            "url": f"https://news.example/{start + i}",
            "published_at": f"2024-05-{(start + i) % 28 + 1:02d}T08:00:00+02:00",
            "source": source,
        }
        for i in range(count)
    ]


class TestHealth:
    def test_healthz_answers_while_the_process_is_up(self, api: httpx.Client) -> None:
        """GET /healthz is 200 {"status": "ok"}."""
        response = api.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_checks_database_and_broker(self, api: httpx.Client) -> None:
        """GET /readyz reports both dependencies as ok."""
        response = api.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}

    def test_readyz_is_a_503_problem_when_the_database_is_unreachable(
        self, tmp_path: Path, redis_client: object
    ) -> None:
        """A server whose database cannot be reached is alive but not ready."""
        unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
        with running_api(unreachable, tmp_path / "server.log") as server, server.client() as client:
            assert client.get("/healthz").status_code == 200
            problem = assert_problem(client.get("/readyz"), 503)
        assert problem["checks"] == {"database": "fail", "broker": "ok"}
        assert "127.0.0.1" not in json.dumps(problem) and "psycopg" not in json.dumps(problem)

    def test_openapi_describes_every_endpoint(self, api: httpx.Client) -> None:
        """/openapi.json lists the jobs, articles, stories, feeds and health endpoints."""
        spec = api.get("/openapi.json").json()
        assert {
            "/jobs",
            "/jobs/{job_id}",
            "/articles",
            "/articles/{article_id}",
            "/stories/{story_id}",
            "/feeds",
            "/feeds/{feed_id}",
            "/healthz",
            "/readyz",
            "/metrics",
        } <= set(spec["paths"])
        assert spec["paths"]["/jobs"]["post"]["requestBody"]


class TestJobs:
    def test_post_articles_returns_a_job_id_and_queues_its_parts(self, api: httpx.Client) -> None:
        """POST /jobs with articles is 202 {"job_id"}; the job holds the queued part."""
        response = api.post("/jobs", json={"articles": make_articles(2)})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = api.get(f"/jobs/{job_id}").json()
        assert (job["id"], job["status"], job["parts_total"]) == (job_id, "queued", 1)

    def test_job_with_articles_and_seed_paths_completes_on_a_worker(
        self, api: httpx.Client, celery_worker: object, seed_root: Path
    ) -> None:
        """A job of seed files and RawArticle documents is done once a worker ran it."""
        seeds = seed_root / "completes"
        seeds.mkdir()
        for i in range(3):
            (seeds / f"{i:03d}_{i:016x}.txt").write_text(
                f"date 2024-05-0{i + 1} {distinct_article(100 + i)}", encoding="utf-8"
            )
        articles = [
            {"body": STORY, "url": "https://x.example/story"},
            {"body": STORY, "url": "https://x.example/story?utm_source=feed"},
            {"body": "   "},
        ]
        response = api.post("/jobs", json={"paths": [str(seeds)], "articles": articles})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]

        job = wait_for(lambda: (j := api.get(f"/jobs/{job_id}").json())["status"] == "done" and j)
        assert (job["received"], job["new"], job["duplicates"], job["rejected"]) == (6, 4, 1, 1)
        assert job["parts_done"] == job["parts_total"] == 2

    def test_missing_relative_and_outside_paths_are_400_problems(
        self, api: httpx.Client, seed_root: Path, tmp_path: Path
    ) -> None:
        """Paths must exist, be absolute and lie under NEWS_INGEST_API_SEED_ROOTS; each
        failure gets the same reason."""
        for given in (str(seed_root / "nope"), "seeds", str(tmp_path)):
            problem = assert_problem(api.post("/jobs", json={"paths": [given]}), 400)
            assert problem["paths"] == [
                {"path": given, "reason": "no such file or directory under "
                 "NEWS_INGEST_API_SEED_ROOTS"}
            ]  # fmt: skip

    def test_empty_request_is_a_400_problem(self, api: httpx.Client) -> None:
        """A job with nothing to ingest is refused."""
        assert_problem(api.post("/jobs", json={}), 400)

    def test_invalid_bodies_are_422_problems_listing_the_errors(self, api: httpx.Client) -> None:
        """Schema violations and malformed JSON are problem+json with an `errors` list."""
        problem = assert_problem(api.post("/jobs", json={"articles": [{"title": "no body"}]}), 422)
        assert any(e["location"].endswith("body") for e in problem["errors"])
        problem = assert_problem(
            api.post("/jobs", json={"articles": [{"body": "x", "colour": 1}]}), 422
        )
        assert any("colour" in e["location"] for e in problem["errors"])
        assert_problem(
            api.post("/jobs", content=b"{not json", headers={"content-type": "application/json"}),
            422,
        )

    def test_feed_urls_are_queued_or_refused_as_not_implemented(self, api: httpx.Client) -> None:
        """Feed URLs go to worker.services.feeds.queue_feed_url; without it, 501 problem."""
        assert_problem(api.post("/jobs", json={"feeds": ["ftp://x.example/feed"]}), 400)
        response = api.post("/jobs", json={"feeds": ["https://x.example/feed.xml"]})
        spec = importlib.util.find_spec("worker.services.feeds")
        has_queue = spec is not None and hasattr(
            importlib.import_module("worker.services.feeds"), "queue_feed_url"
        )
        if has_queue:
            assert response.status_code == 202, response.text
        else:
            assert_problem(response, 501)

    def test_unknown_job_is_404_and_malformed_id_is_422(self, api: httpx.Client) -> None:
        """GET /jobs/{id} is a 404 problem for an unknown id, 422 for one that cannot be."""
        assert_problem(api.get("/jobs/00000000-0000-4000-8000-000000000000"), 404)
        assert_problem(api.get("/jobs/not%20a%20job"), 422)


class TestArticles:
    @pytest.fixture
    def stored(self, api: httpx.Client) -> list[int]:
        """Seven distinct articles from two sources, and a near copy of the first story."""
        engine = get_engine()
        store_articles(engine, make_articles(4, source="producer-a"))
        store_articles(engine, make_articles(3, start=4, source="producer-b"))
        near = STORY.replace("two hundred buses", "two hundred and fifty buses")
        store_articles(
            engine,
            [
                {"body": STORY, "source": "producer-a", "published_at": "2024-06-01T00:00:00Z"},
                {"body": near, "source": "producer-b", "published_at": "2024-06-02T00:00:00Z"},
            ],
        )
        return [a["id"] for a in api.get("/articles", params={"limit": 500}).json()["items"]]

    def test_cursor_pages_cover_every_article_once_in_id_order(
        self, api: httpx.Client, stored: list[int]
    ) -> None:
        """Following next_cursor with limit=3 yields every article once; the last page's
        cursor is null."""
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, object] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = api.get("/articles", params=params).json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(stored) and len(stored) == 9
        assert pages == 3

    def test_filters_by_date_story_source_and_text(
        self, api: httpx.Client, stored: list[int]
    ) -> None:
        """since/until (any offset), story, source and q narrow the list."""

        def ids(**params: object) -> list[int]:
            return [
                a["id"]
                for a in api.get("/articles", params=params | {"limit": 500}).json()["items"]
            ]

        june = ids(since="2024-06-01T00:00:00Z")
        assert len(june) == 2
        assert len(ids(since="2024-05-01T00:00:00", until="2024-05-02T00:00:00+02:00")) == 1
        story = api.get(f"/articles/{june[0]}").json()["story_id"]
        assert ids(story=story) == june
        assert len(ids(source="producer-b")) == 4
        assert ids(source="nobody") == []
        assert ids(q="TWO HUNDRED AND FIFTY") == [june[1]]
        assert ids(q="100%_") == []

    def test_article_by_id_has_its_sightings(self, api: httpx.Client, stored: list[int]) -> None:
        """GET /articles/{id} returns the article with where it was seen."""
        article = api.get(f"/articles/{stored[0]}").json()
        assert article["id"] == stored[0]
        assert article["published_at"] == "2024-05-01T06:00:00Z"
        assert article["sightings"][0]["source"] == "producer-a"

    def test_story_lists_its_members(self, api: httpx.Client, stored: list[int]) -> None:
        """GET /stories/{id} has the first article and its near copy."""
        near = api.get("/articles", params={"q": "two hundred and fifty"}).json()["items"][0]
        story = api.get(f"/stories/{near['story_id']}").json()
        assert story["member_count"] == 2
        assert [m["id"] for m in story["members"]] == [near["story_id"], near["id"]]
        assert near["duplicate_of"] == near["story_id"]

    def test_unknown_ids_bad_cursors_and_limits_are_problems(
        self, api: httpx.Client, stored: list[int]
    ) -> None:
        """404 for unknown articles and stories, 400 for a forged cursor, 422 for bad params."""
        assert_problem(api.get("/articles/999999"), 404)
        assert_problem(api.get("/stories/999999"), 404)
        assert_problem(api.get("/articles/99999999999999999999"), 422)
        assert_problem(api.get("/articles", params={"cursor": "bm90LWEtY3Vyc29y"}), 400)
        assert_problem(api.get("/articles", params={"cursor": "%%%"}), 400)
        assert_problem(api.get("/articles", params={"limit": 501}), 422)
        assert_problem(api.get("/articles", params={"since": "yesterday"}), 422)


class TestFeeds:
    def test_add_list_remove(self, api: httpx.Client) -> None:
        """POST adds a feed (201; 200 when known), GET lists it, DELETE removes it."""
        created = api.post("/feeds", json={"url": "https://News.example/rss", "interval_s": 900})
        assert created.status_code == 201, created.text
        feed = created.json()
        assert (feed["url"], feed["status"], feed["enabled"], feed["interval_s"]) == (
            "https://news.example/rss",
            "active",
            True,
            900,
        )
        assert [f["id"] for f in api.get("/feeds").json()] == [feed["id"]]
        again = api.post("/feeds", json={"url": "https://news.example/rss", "interval_s": 600})
        assert (again.status_code, again.json()["id"], again.json()["interval_s"]) == (
            200,
            feed["id"],
            600,
        )
        assert api.delete(f"/feeds/{feed['id']}").status_code == 204
        assert api.get("/feeds").json() == []
        assert_problem(api.delete(f"/feeds/{feed['id']}"), 404)

    def test_invalid_feed_urls_are_422_problems(self, api: httpx.Client) -> None:
        """Only http(s) URLs with a host are feeds."""
        for url in ("ftp://x.example/feed", "not a url", "https://", "http://x.example/\x00"):
            assert_problem(api.post("/feeds", json={"url": url}), 422)
        lone_surrogate = b'{"url": "https://x.example/", "title": "\\ud800"}'
        assert_problem(
            api.post(
                "/feeds", content=lone_surrogate, headers={"content-type": "application/json"}
            ),
            422,
        )


class TestApiKey:
    def test_writes_need_the_key(self, guarded: httpx.Client) -> None:
        """POST and DELETE without the key, or with a wrong one, are 401 problems."""
        body = {"articles": make_articles(1)}
        problem = assert_problem(guarded.post("/jobs", json=body), 401)
        assert "API key" in problem["detail"]
        response = guarded.post("/jobs", json=body, headers={"Authorization": "Bearer wrong"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert_problem(guarded.post("/feeds", json={"url": "https://a.example/rss"}), 401)
        assert_problem(guarded.delete("/feeds/1"), 401)

    def test_bearer_and_x_api_key_both_work(self, guarded: httpx.Client) -> None:
        """The key is accepted as a bearer token and in X-API-Key, not next to a wrong one."""
        body = {"articles": make_articles(1)}
        assert (
            guarded.post(
                "/jobs", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
            ).status_code
            == 202
        )
        assert guarded.post("/jobs", json=body, headers={"X-API-Key": API_KEY}).status_code == 202
        assert_problem(
            guarded.post(
                "/jobs", json=body, headers={"X-API-Key": API_KEY, "Authorization": "Bearer wrong"}
            ),
            401,
        )

    def test_reads_need_the_key_too(self, guarded: httpx.Client) -> None:
        """GET endpoints need the key as well once one is set."""
        for path in ("/articles", "/feeds", "/metrics"):
            assert_problem(guarded.get(path), 401)
            assert guarded.get(path, headers={"X-API-Key": API_KEY}).status_code == 200


class TestLimitsAndErrors:
    def test_declared_oversized_body_is_413(self, guarded: httpx.Client) -> None:
        """A Content-Length above NEWS_INGEST_API_MAX_BODY_BYTES is refused before reading."""
        body = json.dumps({"articles": [{"body": "x" * BODY_LIMIT}]}).encode()
        response = guarded.post(
            "/jobs",
            content=body,
            headers={"content-type": "application/json", "X-API-Key": API_KEY},
        )
        assert "NEWS_INGEST_API_MAX_BODY_BYTES" in assert_problem(response, 413)["detail"]

    def test_streamed_oversized_body_is_413(self, guarded: httpx.Client) -> None:
        """A chunked body is counted as it arrives and cut off at the limit."""

        def chunks() -> Iterator[bytes]:
            yield b'{"articles": [{"body": "'
            for _ in range(BODY_LIMIT // 8192 + 2):
                yield b"x" * 8192
            yield b'"}]}'

        response = guarded.post(
            "/jobs",
            content=chunks(),
            headers={"content-type": "application/json", "X-API-Key": API_KEY},
        )
        assert_problem(response, 413)

    def test_unknown_routes_and_methods_are_problems(self, api: httpx.Client) -> None:
        """404 and 405 from routing are problem+json too."""
        assert_problem(api.get("/nowhere"), 404)
        assert_problem(api.put("/jobs"), 405)
        response = api.patch("/feeds")
        assert_problem(response, 405)
        assert response.headers["allow"] == "GET, POST"


class TestMetrics:
    def _scrape(self, api: httpx.Client) -> dict[str, float]:
        from prometheus_client.parser import text_string_to_metric_families

        response = api.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def test_ingest_outcomes_queue_jobs_and_feeds(self, api: httpx.Client) -> None:
        """Outcomes are summed from the jobs, the queue depth read from Redis, a stuck job's
        age and a failing feed show up."""
        engine = get_engine()
        store_articles(
            engine, [{"body": STORY}, {"body": STORY}, {"body": " "}, {"body": distinct_article(1)}]
        )
        assert api.post("/jobs", json={"articles": make_articles(2)}).status_code == 202
        feed = api.post("/feeds", json={"url": "https://down.example/rss"}).json()
        with engine.begin() as connection:
            connection.execute(
                update(Source)
                .where(Source.id == feed["id"])
                .values(status="error", error_count=4, last_error="HTTP 503 Service Unavailable")
            )

        metrics = self._scrape(api)
        assert metrics['news_ingest_articles_ingested_total{outcome="new"}'] == 2
        assert metrics['news_ingest_articles_ingested_total{outcome="duplicate"}'] == 1
        assert metrics['news_ingest_articles_ingested_total{outcome="rejected"}'] == 1
        assert metrics['news_ingest_articles_ingested_total{outcome="near_duplicate"}'] == 0
        assert metrics["news_ingest_articles_received_total"] == 4
        assert metrics['news_ingest_queue_depth{queue="news-ingest"}'] == 1
        assert metrics['news_ingest_jobs{status="queued"}'] == 1
        assert metrics["news_ingest_oldest_unfinished_job_age_seconds"] > 0
        assert metrics['news_ingest_feeds{status="error"}'] == 1
        assert (
            metrics[
                'news_ingest_feed_consecutive_errors{error_kind="http_503",'
                'feed="https://down.example/rss"}'
            ]
            == 4
        )
        assert metrics["news_ingest_database_up"] == metrics["news_ingest_broker_up"] == 1
