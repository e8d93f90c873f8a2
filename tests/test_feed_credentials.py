"""Credentials in feed URLs (issue 20, item 4): used to fetch (Basic auth, to the feed's own
origin only), kept in `sources.credentials`, and nowhere else: not in the source name,
sightings, article links, raw input, job records, events, webhooks, GET /feeds, `feeds
list`, metric labels or logs. Existing rows: migration 0006 moves them out."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, create_engine, insert, select, text
from typer.testing import CliRunner
from werkzeug import Request, Response

from tests import feeds_fixtures
from tests.apiserver import running_api
from tests.conftest import PG_ADMIN_URL
from worker.cli import app as cli
from worker.services import feeds as feed_service
from worker.services import webhooks
from worker.storage import feeds as feed_rows
from worker.storage.articles import pack_raw, unpack_raw
from worker.storage.migrate import upgrade
from worker.storage.models import (
    Article,
    IngestJob,
    IngestJobPart,
    OutboxEvent,
    Reject,
    Sighting,
    Source,
    utcnow,
)

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server
second_server = feeds_fixtures.second_server

USER = "reader"
PASSWORD = "pa@ss:w/rd"  # percent-encoded in the URL: pa%40ss%3Aw%2Frd
ENCODED = "reader:pa%40ss%3Aw%2Frd"
LEAKS = (PASSWORD, "pa%40ss", "reader:", "%3Aw%2Frd")


def _rss() -> bytes:
    """Two entries whose links are relative: resolved against the channel's link."""
    items = "".join(
        f"<item><guid>entry-{n}</guid><link>/news/{n}</link><title>Entry {n}</title>"
        f"<description>Story number {n} tells of {'a harbour' if n else 'the mountains'} "
        f"at length, with words {' '.join(f'w{n}x{i}' for i in range(40))}.</description>"
        "</item>"
        for n in range(2)
    )
    return feeds_fixtures.rss_document(items)


class _BasicAuthFeed:
    """Serves the feed only to requests with our Basic credentials, recording each."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def __call__(self, request: Request) -> Response:
        offered = request.headers.get("Authorization")
        self.authorizations.append(offered)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if offered != expected:
            return Response("who are you", status=401)
        return Response(_rss(), content_type="application/rss+xml")


@pytest.fixture(autouse=True)
def _flushed_redis(redis_client: Any) -> None:
    """A flushed Redis for the host limits (clients and gates: the registry is closed after
    every test)."""


def _with_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{ENCODED}@{rest}"


def _everything_stored(engine: Engine) -> str:
    """Every row of every table a feed's URL could be copied into, as one text."""
    dump: list[Any] = []
    with engine.connect() as connection:
        for table in (Source, Sighting, IngestJob, IngestJobPart, OutboxEvent, Reject):
            columns = [c for c in table.__table__.c if c.name != "credentials"]
            dump.extend(dict(row) for row in connection.execute(select(*columns)).mappings())
        for row in connection.execute(select(Article.url, Article.raw)).mappings():
            dump.append({"url": row["url"], "raw": unpack_raw(row["raw"])})
    return json.dumps(dump, default=str)


class TestFetchingWithCredentials:
    def test_credentials_are_used_and_kept_apart(
        self, engine: Engine, feed_server: HTTPServer, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """`feeds add https://user:pass@host/rss` registers the clean URL, keeps the
        credentials in their own column, sends them as Basic auth, and no stored copy, no
        `feeds list` and no log line holds them."""
        handler = _BasicAuthFeed()
        feed_server.expect_request("/private.rss").respond_with_handler(handler)
        clean = feed_server.url_for("/private.rss")
        runner = CliRunner()
        added = runner.invoke(cli, ["feeds", "add", _with_credentials(clean), "--json"])
        assert added.exit_code == 0, added.output
        assert json.loads(added.stdout)["url"] == clean
        with engine.connect() as connection:
            (row,) = connection.execute(select(Source.name, Source.credentials)).all()
        assert tuple(row) == (clean, ENCODED)

        (feed,) = feed_rows_list(engine)
        result = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        assert result.outcome == "fetched", result
        assert handler.authorizations[-1] is not None
        assert result.url == clean

        stored = _everything_stored(engine)
        # relative entry links resolve against the channel's <link> (README: how feed
        # entries are read), so no credential can ride along in them
        assert clean in stored and "https://news.example.com/news/1" in stored
        listed = runner.invoke(cli, ["feeds", "list", "--json"])
        assert json.loads(listed.stdout)[0]["url"] == clean
        output = added.output + listed.output + stored + "".join(capfd.readouterr())
        for leak in LEAKS:
            assert leak not in output, leak

    def test_credentials_are_not_sent_to_another_origin(
        self, engine: Engine, feed_server: HTTPServer, second_server: HTTPServer
    ) -> None:
        """A redirect to another host gets no Authorization header; the feed's own host
        gets it on every hop."""
        target = _BasicAuthFeed()
        second_server.expect_request("/moved.rss").respond_with_handler(target)
        feed_server.expect_request("/hop").respond_with_data(
            "", status=302, headers={"Location": feed_server.url_for("/old.rss")}
        )
        feed_server.expect_request("/old.rss").respond_with_data(
            "", status=302, headers={"Location": second_server.url_for("/moved.rss")}
        )
        with engine.begin() as connection:
            feed, _ = feed_rows.add_feed(
                connection=connection, url=_with_credentials(feed_server.url_for("/hop"))
            )
        result = feed_service.fetch_feed_now(engine=engine, feed_id=feed.id)
        assert result.outcome == "failed"  # the other host wants credentials it never gets
        assert target.authorizations == [None]
        own_hops = [request for request, _ in feed_server.log]
        assert [r.path for r in own_hops] == ["/hop", "/old.rss"]
        assert all(r.headers.get("Authorization", "").startswith("Basic ") for r in own_hops)


def feed_rows_list(engine: Engine) -> list[feed_rows.FeedSource]:
    with engine.connect() as connection:
        return feed_rows.list_feeds(connection=connection)


class TestNotShownAnywhere:
    def test_api_events_webhooks_and_metrics_never_carry_them(
        self,
        postgres_db: str,
        feed_server: HTTPServer,
        httpserver: HTTPServer,
        tmp_path: Path,
    ) -> None:
        """A feed added over POST /feeds with credentials: GET /feeds, GET /jobs, the
        webhook bodies, /metrics (with the feed failing, so it is a label) and the server's
        log never hold them."""
        from worker.storage.session import get_engine

        engine = get_engine(postgres_db)
        received: list[bytes] = []

        def hook(request: Request) -> Response:
            received.append(request.get_data())
            return Response(status=204)

        httpserver.expect_request("/hook").respond_with_handler(hook)
        webhooks.add_subscriber(engine=engine, url=httpserver.url_for("/hook"))
        handler = _BasicAuthFeed()
        feed_server.expect_request("/private.rss").respond_with_handler(handler)
        clean = feed_server.url_for("/private.rss")
        log = tmp_path / "server.log"
        with running_api(postgres_db, log) as server, server.client() as api:
            added = api.post("/feeds", json={"url": _with_credentials(clean)})
            assert added.status_code == 201, added.text
            feed_id = added.json()["id"]
            queued = api.post("/jobs", json={"feeds": [_with_credentials(clean)]})
            assert queued.status_code == 202, queued.text
            fetched = feed_service.fetch_feed_now(engine=engine, feed_id=feed_id)
            assert fetched.outcome == "fetched"
            webhooks.deliver_webhooks(engine=engine)
            assert received, "no webhook deliveries"
            feed_server.clear()
            feed_server.expect_request("/private.rss").respond_with_data("down", status=500)
            assert feed_service.fetch_feed_now(engine=engine, feed_id=feed_id).outcome == "failed"
            shown = [
                api.get("/feeds").text,
                api.get(f"/jobs/{queued.json()['job_id']}").text,
                api.get("/metrics").text,
                api.get("/articles").text,
            ]
        assert clean in shown[0] and f'feed="{clean}"' in shown[2]
        everything = "".join(shown) + b"".join(received).decode() + log.read_text()
        everything += _everything_stored(engine)
        for leak in LEAKS:
            assert leak not in everything, leak


def _seed_0004(engine: Engine, name: str) -> None:
    """Rows as a build before 0006 left them: the credentials in the feed's name and in
    every copy of it."""
    now = utcnow()
    link = name.rsplit("/", 1)[0] + "/news/1"
    raw = json.dumps({"body": "b", "source": name, "url": link, "extra": {"feed_url": name}})
    with engine.begin() as connection:
        connection.execute(
            insert(Source.__table__).values(
                id=1, kind="feed", name=name, created_at=now, status="active", enabled=True,
                error_count=0,
            )
        )  # fmt: skip
        connection.execute(
            insert(Article.__table__).values(
                id=1, title="t", body="b", url=link, source_id=1, content_hash="h" * 64,
                story_id=1, shingle_count=0, normalizer_version=1, raw=pack_raw(raw),
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        connection.execute(
            insert(Sighting.__table__).values(
                article_id=1, source_id=1, location=link, guid="g", seen_at=now
            )
        )
        connection.execute(
            insert(IngestJob.__table__).values(
                id="job-1", status="done", request={"feeds": [name]}, created_at=now,
                updated_at=now, received=0, new=0, duplicates=0, near_duplicates=0,
                rejected=0, parts_total=1, parts_done=1, sealed=True,
            )
        )  # fmt: skip
        connection.execute(
            insert(IngestJobPart.__table__).values(
                job_id="job-1", part_no=1, kind="feed", payload={"feed_id": 1, "url": name},
                status="done", attempts=1, received=0, new=0, duplicates=0,
                near_duplicates=0, rejected=0, enqueued_at=now,
            )
        )  # fmt: skip
        connection.execute(
            insert(OutboxEvent.__table__).values(
                event_type="article.created", idempotency_key="k1",
                payload={"source": name, "url": link}, created_at=now,
            )
        )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database migrated to 0004 only, on SQLite or on a Postgres database of
    its own."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    name = f"h_exposure_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class TestMigration:
    def test_0006_moves_credentials_out_of_every_stored_copy(self, old_database: Engine) -> None:
        """After 0006 the feed's name is its clean URL, the credentials are in their column,
        and no sighting, article link, raw input, job, part or event holds them."""
        upgrade(old_database, "0004")
        clean = "https://feeds.example.com/private.rss"
        _seed_0004(old_database, f"https://{ENCODED}@feeds.example.com/private.rss")
        upgrade(old_database)
        with old_database.connect() as connection:
            (row,) = connection.execute(select(Source.name, Source.credentials)).all()
            feed = feed_rows.get_feed(connection=connection, feed_id=1)
        assert tuple(row) == (clean, ENCODED)
        assert feed is not None and feed.basic_auth == (USER, PASSWORD)
        stored = _everything_stored(old_database)
        assert clean in stored and "https://feeds.example.com/news/1" in stored
        for leak in LEAKS:
            assert leak not in stored, leak

    def test_0006_merges_into_a_clean_feed_already_registered(self, old_database: Engine) -> None:
        """A credentialed feed whose clean URL is registered too hands it its credentials
        and is kept disabled; the clean one stays the feed."""
        upgrade(old_database, "0004")
        clean = "https://feeds.example.com/private.rss"
        _seed_0004(old_database, f"https://{ENCODED}@feeds.example.com/private.rss")
        with old_database.begin() as connection:
            connection.execute(
                insert(Source.__table__).values(
                    id=2, kind="feed", name=clean, created_at=utcnow(), status="active",
                    enabled=True, error_count=0,
                )
            )  # fmt: skip
        upgrade(old_database)
        with old_database.connect() as connection:
            rows = connection.execute(
                select(Source.id, Source.name, Source.credentials, Source.enabled).order_by(
                    Source.id
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (1, f"{clean}#merged-into-2", None, False),
            (2, clean, ENCODED, True),
        ]
        for leak in LEAKS:
            assert leak not in _everything_stored(old_database), leak
