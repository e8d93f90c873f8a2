"""Safe by default (issue 20, items 1-3): a real `news-ingest serve` process attacked over
loopback: public binds without a key, foreign Host headers, reads without a key, file
reads through POST /jobs, and error texts that would map the network."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.apiserver import ApiServer, console_script, free_port, running_api
from tests.conftest import TEST_REDIS_URL
from worker.settings import Settings

WRITE_KEY = "exposure-write-key-0123456789"
READ_KEY = "exposure-read-key-9876543210"
PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def keyed_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A loopback server with a write key and a read key."""
    log = tmp_path_factory.mktemp("exposure-keyed") / "server.log"
    with running_api(
        pg_url, log, NEWS_INGEST_API_KEY=WRITE_KEY, NEWS_INGEST_API_READ_KEY=READ_KEY
    ) as server:
        yield server


@pytest.fixture(scope="module")
def rootless_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A loopback server with the defaults: no key, no seed roots, no extra hosts."""
    log = tmp_path_factory.mktemp("exposure-rootless") / "server.log"
    with running_api(pg_url, log, NEWS_INGEST_API_SEED_ROOTS="") as server:
        yield server


@pytest.fixture(scope="module")
def seed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exposure-seeds")
    (root / "001_a.txt").write_text("date 2024-05-01 A seed inside the root.\n")
    return root


@pytest.fixture(scope="module")
def rooted_server(
    pg_url: str, seed_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A loopback server reading seeds under `seed_root` only, answering one extra Host."""
    log = tmp_path_factory.mktemp("exposure-rooted") / "server.log"
    with running_api(
        pg_url,
        log,
        NEWS_INGEST_API_SEED_ROOTS=str(seed_root),
        NEWS_INGEST_API_ALLOWED_HOSTS="news-api.internal",
    ) as server:
        yield server


@pytest.fixture
def keyed(
    keyed_server: ApiServer, postgres_db: str, redis_client: object
) -> Iterator[httpx.Client]:
    with keyed_server.client() as client:
        yield client


@pytest.fixture
def rootless(
    rootless_server: ApiServer, postgres_db: str, redis_client: object
) -> Iterator[httpx.Client]:
    with rootless_server.client() as client:
        yield client


@pytest.fixture
def rooted(
    rooted_server: ApiServer, postgres_db: str, redis_client: object
) -> Iterator[httpx.Client]:
    with rooted_server.client() as client:
        yield client


class TestServeFailsClosed:
    def test_a_public_bind_without_a_key_is_refused_with_one_line(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        """`serve --host 0.0.0.0` with no NEWS_INGEST_API_KEY exits non-zero with a one-line
        error naming the setting, without ever listening."""
        port = free_port()
        environment = {**os.environ, "DATABASE_URL": pg_url, "BROKER_URL": TEST_REDIS_URL}
        environment.pop("NEWS_INGEST_API_KEY", None)
        for host in ("0.0.0.0", "::", "192.0.2.10", "example.org"):
            done = subprocess.run(
                [console_script("news-ingest"), "serve", "--host", host, "--port", str(port)],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode != 0
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert "NEWS_INGEST_API_KEY" in lines[0]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)

    def test_a_public_bind_with_a_key_serves_and_guards(
        self, pg_url: str, tmp_path: Path, redis_client: object
    ) -> None:
        """With a key, `serve --host 0.0.0.0` starts; data routes need the key there."""
        with (
            running_api(
                pg_url, tmp_path / "server.log", host="0.0.0.0", NEWS_INGEST_API_KEY=WRITE_KEY
            ) as server,
            server.client() as client,
        ):
            _problem(client.get("/articles"), 401)
            assert client.get("/articles", headers={"X-API-Key": WRITE_KEY}).status_code == 200


class TestHostAllowList:
    def test_a_rebound_name_is_refused(self, rootless: httpx.Client) -> None:
        """A request whose Host is a foreign name (what a browser sends after DNS rebinding
        points that name at 127.0.0.1) gets a 400, reads and writes alike."""
        for host in ("attacker.example", "attacker.example:80", "localhost.attacker.example"):
            headers = {"Host": host}
            _problem(rootless.get("/articles", headers=headers), 400)
            _problem(rootless.get("/openapi.json", headers=headers), 400)
            _problem(
                rootless.post("/jobs", json={"articles": [{"body": "x"}]}, headers=headers), 400
            )

    def test_loopback_names_are_served(self, rootless: httpx.Client) -> None:
        """localhost, 127.0.0.1 and [::1], with or without a port, are served by default."""
        for host in ("localhost", "LOCALHOST:8000", "127.0.0.1", "[::1]:8000", "localhost."):
            assert rootless.get("/articles", headers={"Host": host}).status_code == 200, host

    def test_the_probes_answer_any_host(self, rootless: httpx.Client) -> None:
        """/healthz and /readyz answer whatever the Host (orchestrators probe by IP)."""
        assert rootless.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200
        assert rootless.get("/readyz", headers={"Host": "10.1.2.3:8000"}).status_code == 200

    def test_configured_hosts_are_served(self, rooted: httpx.Client) -> None:
        """A name listed in NEWS_INGEST_API_ALLOWED_HOSTS is served; others still are not."""
        assert rooted.get("/articles", headers={"Host": "news-api.internal"}).status_code == 200
        _problem(rooted.get("/articles", headers={"Host": "other.internal"}), 400)

    def test_the_settings_compose_the_list(self) -> None:
        """Loopback names, the bound host and the configured names; "*" turns the check off."""
        from worker.api.security import allowed_hosts

        hosts = allowed_hosts(Settings(api_bind_host="10.0.0.5", api_allowed_hosts="A.example"))
        assert hosts == {"localhost", "127.0.0.1", "::1", "10.0.0.5", "a.example"}
        assert "0.0.0.0" not in (allowed_hosts(Settings(api_bind_host="0.0.0.0")) or ())
        assert allowed_hosts(Settings(api_allowed_hosts="*")) is None


class TestKeys:
    def _get_routes(self, client: httpx.Client) -> list[str]:
        spec = client.get("/openapi.json", headers={"X-API-Key": WRITE_KEY}).json()
        return [
            path.replace("{job_id}", "0000")
            .replace("{article_id}", "1")
            .replace("{story_id}", "1")
            .replace("{feed_id}", "1")
            for path, operations in spec["paths"].items()
            if "get" in operations
        ]

    def test_every_route_but_the_probes_needs_a_key(self, keyed: httpx.Client) -> None:
        """Every GET route in the spec, /openapi.json, /docs and /redoc answer 401 without a
        key, and a wrong key is no better; /healthz and /readyz answer without one."""
        routes = [*self._get_routes(keyed), "/openapi.json", "/docs", "/redoc", "/nowhere"]
        assert {"/articles", "/feeds", "/metrics", "/jobs/0000"} <= set(routes)
        for path in routes:
            if path in ("/healthz", "/readyz"):
                continue
            problem = _problem(keyed.get(path), 401)
            assert "key" in problem["detail"]
            _problem(keyed.get(path, headers={"Authorization": "Bearer wrong"}), 401)
            _problem(keyed.get(path, headers={"Authorization": f"Basic {WRITE_KEY}"}), 401)
        assert keyed.get("/healthz").status_code == 200
        assert keyed.get("/readyz").json() == {
            "status": "ok",
            "checks": {"database": "ok", "broker": "ok"},
        }

    def test_the_read_key_reads_and_never_writes(self, keyed: httpx.Client) -> None:
        """Prometheus scrapes /metrics with the read key as a bearer token; the same key
        cannot POST or DELETE (403)."""
        bearer = {"Authorization": f"Bearer {READ_KEY}"}
        metrics = keyed.get("/metrics", headers=bearer)
        assert metrics.status_code == 200
        assert "news_ingest_jobs" in metrics.text
        assert keyed.get("/articles", headers={"X-API-Key": READ_KEY}).status_code == 200
        _problem(keyed.post("/jobs", json={"articles": [{"body": "x"}]}, headers=bearer), 403)
        _problem(keyed.delete("/feeds/1", headers=bearer), 403)

    def test_the_write_key_reads_and_writes(self, keyed: httpx.Client) -> None:
        """The write key is accepted everywhere, in either header."""
        for headers in ({"Authorization": f"Bearer {WRITE_KEY}"}, {"X-API-Key": WRITE_KEY}):
            assert keyed.get("/feeds", headers=headers).status_code == 200
            posted = keyed.post("/jobs", json={"articles": [{"body": "a text"}]}, headers=headers)
            assert posted.status_code == 202, posted.text

    def test_a_valid_key_next_to_a_wrong_one_is_refused(self, keyed: httpx.Client) -> None:
        """Ambiguous credentials (one right, one wrong) are refused."""
        headers = {"X-API-Key": WRITE_KEY, "Authorization": "Bearer wrong"}
        _problem(keyed.get("/articles", headers=headers), 401)

    def test_no_body_is_read_before_the_key(self, keyed: httpx.Client) -> None:
        """An unauthenticated request with a malformed body gets 401, not a parse error."""
        response = keyed.post(
            "/jobs", content=b"{not json", headers={"content-type": "application/json"}
        )
        _problem(response, 401)


class TestNoOracles:
    def test_readyz_names_only_the_failing_dependency(
        self, tmp_path: Path, redis_client: object
    ) -> None:
        """/readyz with an unreachable database says `database: fail` and nothing of its
        address or driver; the server's log has the details."""
        unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
        log = tmp_path / "server.log"
        with running_api(unreachable, log) as server, server.client() as client:
            response = client.get("/readyz")
        problem = _problem(response, 503)
        assert problem["checks"] == {"database": "fail", "broker": "ok"}
        assert problem["detail"] == "not ready: database"
        for leak in ("127.0.0.1", ":1", "psycopg", "nobody", "connection", "6379"):
            assert leak not in response.text
        assert "readiness check failed" in log.read_text()

    def test_paths_are_refused_without_seed_roots(self, rootless: httpx.Client) -> None:
        """With no NEWS_INGEST_API_SEED_ROOTS, POST /jobs `paths` are refused (403) and the
        file never reaches the store: the file-read attack fails."""
        problem = _problem(rootless.post("/jobs", json={"paths": ["/etc/passwd"]}), 403)
        assert "NEWS_INGEST_API_SEED_ROOTS" in problem["detail"]
        assert rootless.get("/articles").json()["items"] == []

    def test_one_answer_for_missing_or_not_allowed(
        self, rooted: httpx.Client, seed_root: Path, tmp_path: Path
    ) -> None:
        """Existing and missing files outside the roots, a missing file inside, a `..`
        escape and a symlink out of the root all get the same answer."""
        outside = tmp_path / "secret.txt"
        outside.write_text("date 2024-05-01 A secret outside the root.\n")
        link = seed_root / "escape.txt"
        if not link.exists():
            link.symlink_to(outside)
        given = [
            "/etc/passwd",
            "/root/.ssh/id_rsa_that_does_not_exist",
            str(outside),
            str(seed_root / "missing.txt"),
            f"{seed_root}/../{outside.parent.name}/{outside.name}",
            str(link),
            "relative/path.txt",
        ]
        answers = set()
        for path in given:
            problem = _problem(rooted.post("/jobs", json={"paths": [path]}), 400)
            assert problem["paths"][0]["path"] == path
            answers.add(json.dumps({**problem, "paths": None, "detail": None}, sort_keys=True))
            answers.add(problem["paths"][0]["reason"])
            answers.add(problem["detail"].replace(repr(path), "PATH"))
        assert len(answers) == 3, answers
        assert rooted.get("/articles").json()["items"] == []
        accepted = rooted.post("/jobs", json={"paths": [str(seed_root / "001_a.txt")]})
        assert accepted.status_code == 202, accepted.text


class TestFeedErrorKinds:
    def _fetch(self, database_url: str, url: str, settings: Settings) -> tuple[int, str | None]:
        from worker.services import feeds as feed_service
        from worker.storage import feeds as feed_rows
        from worker.storage.session import get_engine

        engine = get_engine(database_url)
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(connection=connection, url=url)
        result = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id, settings=settings)
        assert result.outcome == "failed"
        return feed.id, result.error

    def test_a_refused_internal_address_shows_its_kind_only(
        self, rootless: httpx.Client, postgres_db: str
    ) -> None:
        """A feed on a loopback name is refused as `ssrf_refused` with a fixed text: neither
        what the name resolved to nor the port is stored, shown by GET /feeds or returned."""
        from tests.feeds_fixtures import local_settings

        port = free_port()
        settings = local_settings(allow_private_networks=False)
        _, error = self._fetch(postgres_db, f"http://localhost:{port}/rss", settings)
        assert error == "ssrf_refused: refused: the feed's address is not public"
        (shown,) = rootless.get("/feeds").json()
        assert shown["last_error"] == error
        assert "127.0.0.1" not in json.dumps(shown) and f"localhost ({port}" not in json.dumps(
            shown
        )

    def test_a_closed_port_is_a_connect_error_without_details(
        self, rootless: httpx.Client, postgres_db: str
    ) -> None:
        """A refused connection is stored as `connect: could not connect to the server`."""
        from tests.feeds_fixtures import local_settings

        _, error = self._fetch(postgres_db, f"http://127.0.0.1:{free_port()}/rss", local_settings())
        assert error == "connect: could not connect to the server"
        (shown,) = rootless.get("/feeds").json()
        assert shown["last_error"] == error

    def test_every_kind_has_a_fixed_public_text(self) -> None:
        """Whatever a FetchError says, its public form is `<kind>: <text>` chosen by kind."""
        from worker.errors import FetchError, public_fetch_error

        leaky = "refused to connect to intranet.corp (10.0.0.7:8443): Connection refused"
        for kind in ("connect", "ssrf_refused", "dns", "timeout", "tls", "parse", "made_up"):
            shown = public_fetch_error(FetchError(kind, leaky))
            assert shown.startswith(f"{kind}: ") and "10.0.0.7" not in shown, shown
        assert public_fetch_error(FetchError("http_404", leaky)) == "http_404: HTTP 404 Not Found"
        assert public_fetch_error(FetchError("http_599", leaky)) == "http_599: HTTP 599"
