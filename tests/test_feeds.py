"""Feeds end to end against a local HTTP server: the registry and its CLI, fetching through
the ingest pipeline, scheduling and claims, politeness in Redis, failures and backoff, and
the Celery tasks with a real worker. Never the internet."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, update
from typer.testing import CliRunner
from werkzeug import Request, Response

from tests import feeds_fixtures
from tests.conftest import TEST_REDIS_URL
from tests.factories import distinct_article
from tests.feed_corpus import CorpusFile, load_corpus
from tests.feeds_fixtures import local_settings
from tests.polling import wait_for
from worker.cli import app as cli
from worker.resources import resources
from worker.services import feeds as feed_service
from worker.services.politeness import GATES, RedisHostGate
from worker.settings import get_settings
from worker.sources.opml import parse_opml
from worker.sources.schedule import adaptive_interval, backoff_delay, effective_interval
from worker.storage import feeds as feed_rows
from worker.storage.articles import unpack_raw
from worker.storage.models import Article, IngestJob, Sighting, Source

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server

RSS = "application/rss+xml; charset=utf-8"


# ---------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(autouse=True)
def _feed_environment(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A flushed Redis for the host limits and no request spacing unless a test asks for it
    (pooled clients and gates are fresh: the registry is closed after every test)."""
    monkeypatch.setenv("NEWS_INGEST_PER_HOST_RATE_PER_MINUTE", "600000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def entry(
    n: int,
    *,
    link: str | None = "default",
    guid: str | None = "default",
    published: datetime | None = datetime(2024, 5, 1, tzinfo=UTC),
    title: str | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    return {
        "title": title or f"Story {n}",
        "link": f"https://news.example.com/story/{n}" if link == "default" else link,
        "guid": f"story-{n}" if guid == "default" else guid,
        "published": published,
        "body": body if body is not None else distinct_article(n),
    }


def rss(entries: list[dict[str, Any]], *, channel_extra: str = "") -> bytes:
    """An RSS 2.0 document with plain-text descriptions."""
    items = []
    for e in entries:
        parts = [f"<title>{escape(e['title'])}</title>"]
        if e["link"]:
            parts.append(f"<link>{escape(e['link'])}</link>")
        if e["guid"]:
            parts.append(f'<guid isPermaLink="false">{escape(e["guid"])}</guid>')
        if e["published"]:
            parts.append(f"<pubDate>{format_datetime(e['published'])}</pubDate>")
        parts.append(f"<description>{escape(e['body'])}</description>")
        items.append(f"<item>{''.join(parts)}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Local News</title><link>https://news.example.com/</link>"
        f"<description>d</description>{channel_extra}{''.join(items)}</channel></rss>"
    ).encode()


def serve_with_etag(
    server: HTTPServer,
    path: str,
    document: bytes,
    *,
    etag: str = '"v1"',
    headers: dict[str, str] | None = None,
) -> None:
    """Serve `document` at `path` with an ETag, answering 304 to a matching If-None-Match."""

    def handle(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag, **(headers or {})})
        return Response(document, headers={"ETag": etag, "Content-Type": RSS, **(headers or {})})

    server.expect_request(path).respond_with_handler(handle)


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def add_feed(engine: Any, url: str, **kwargs: Any) -> feed_rows.FeedSource:
    with engine.begin() as connection:
        feed, _ = feed_rows.add_feed(connection=connection, url=url, **kwargs)
    return feed


def get_feed(engine: Any, feed_id: int) -> feed_rows.FeedSource:
    with engine.connect() as connection:
        feed = feed_rows.get_feed(connection=connection, feed_id=feed_id)
    assert feed is not None
    return feed


def fetch(engine: Any, feed_id: int, **kwargs: Any) -> feed_service.FeedFetch:
    return feed_service.fetch_feed_now(engine=engine, feed_id=feed_id, **kwargs)


def count(engine: Any, model: Any) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    return result


def last_json(result: Any) -> Any:
    """The command's JSON document: the last stdout line (unconfigured structlog also
    writes to stdout under CliRunner)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------
# Pure scheduling policy


class TestSchedulePolicy:
    def test_interval_follows_publishing_rhythm(self) -> None:
        """Entries an hour apart, the newest just now: fetched every half hour."""
        now = datetime(2024, 6, 1, 12, tzinfo=UTC)
        times = [now - timedelta(hours=h) for h in range(10)]
        assert adaptive_interval(times, now=now, min_s=300, max_s=86400, default_s=1800) == 1800

    def test_quiet_feed_is_asked_less_often_and_clamped(self) -> None:
        """A feed silent for a week is fetched once a day; a burst every minute at most every
        five minutes; fewer than two dates give the default."""
        now = datetime(2024, 6, 1, tzinfo=UTC)
        quiet = [now - timedelta(days=7, hours=h) for h in range(5)]
        burst = [now - timedelta(seconds=10 * s) for s in range(20)]
        assert adaptive_interval(quiet, now=now, min_s=300, max_s=86400, default_s=1800) == 86400
        assert adaptive_interval(burst, now=now, min_s=300, max_s=86400, default_s=1800) == 300
        assert adaptive_interval([now], now=now, min_s=300, max_s=86400, default_s=1800) == 1800

    def test_server_freshness_is_a_floor_and_user_interval_wins_over_estimate(self) -> None:
        """ttl/max-age raise the interval (up to the cap); a user interval replaces the estimate."""
        assert (
            effective_interval(
                estimate_s=600, user_interval_s=None, server_fresh_s=3600, max_s=86400
            )
            == 3600
        )
        assert (
            effective_interval(
                estimate_s=600, user_interval_s=7200, server_fresh_s=None, max_s=86400
            )
            == 7200
        )
        assert (
            effective_interval(
                estimate_s=600, user_interval_s=None, server_fresh_s=365 * 86400, max_s=86400
            )
            == 86400
        )

    def test_backoff_doubles_with_jitter_and_caps(self) -> None:
        """Each failure doubles the wait (jitter takes at most a fifth), capped at 24 h;
        a Retry-After is a floor."""
        delays = [backoff_delay(n, base_s=300, cap_s=86400) for n in range(1, 16)]
        assert all(
            0.8 * 300 * 2 ** (n - 1) <= d <= 300 * 2 ** (n - 1)
            for n, d in enumerate(delays[:8], start=1)
        )
        assert all(d <= 86400 for d in delays) and delays[-1] >= 0.8 * 86400
        assert backoff_delay(1, base_s=300, cap_s=86400, retry_after_s=5000) == 5000


# ---------------------------------------------------------------------------------------
# Registry


class TestRegistry:
    def test_add_normalizes_scheme_host_port_and_fragment_only(self, engine: Any) -> None:
        """`feeds add` keeps path and query as given; a second add finds the same feed."""
        added = last_json(
            invoke("feeds", "add", "HTTP://News.Example.COM:80/Feed.xml?b=2&a=1#top", "--json")
        )
        assert added["url"] == "http://news.example.com/Feed.xml?b=2&a=1"
        assert (added["status"], added["enabled"], added["created"]) == ("active", True, True)
        again = last_json(
            invoke(
                "feeds",
                "add",
                "http://news.example.com/Feed.xml?b=2&a=1",
                "--interval",
                "2h",
                "--json",
            )
        )
        assert (again["id"], again["created"], again["interval_s"]) == (added["id"], False, 7200)

    def test_bad_url_and_interval_are_one_line_errors(self, engine: Any) -> None:
        """Non-http URLs and too-short or unreadable intervals exit 1 with a clear message."""
        for args in (
            ["ftp://x.example/feed"],
            ["https://"],
            ["https://x.example/f", "--interval", "10"],
            ["https://x.example/f", "--interval", "soon"],
        ):
            result = invoke("feeds", "add", *args)
            assert result.exit_code == 1
            assert result.stderr.startswith("news-ingest: error:")
        assert count(engine, Source) == 0

    def test_list_json_has_the_contract_fields(self, engine: Any) -> None:
        """`feeds list --json` gives url, status, validators, times, errors, id and title."""
        invoke("feeds", "add", "https://a.example/rss", "--title", "A")
        (row,) = last_json(invoke("feeds", "list", "--json"))
        for name in (
            "id",
            "title",
            "url",
            "status",
            "etag",
            "last_modified",
            "last_fetched_at",
            "next_fetch_at",
            "error_count",
            "last_error",
        ):
            assert name in row
        assert (row["url"], row["title"], row["error_count"]) == ("https://a.example/rss", "A", 0)
        assert datetime.fromisoformat(row["next_fetch_at"]) <= datetime.now(UTC)

    def test_remove_deletes_unused_feed_and_disables_one_with_articles(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A feed nothing refers to is deleted; one with articles is disabled and hidden,
        and `feeds add` subscribes it again."""
        feed_server.expect_request("/used.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        unused = add_feed(engine, "https://unused.example/rss")
        used = add_feed(engine, feed_server.url_for("/used.xml"))
        assert fetch(engine, used.id).outcome == "fetched"
        assert invoke("feeds", "remove", str(unused.id)).exit_code == 0
        assert invoke("feeds", "remove", str(used.id)).exit_code == 0
        assert invoke("feeds", "remove", str(unused.id)).exit_code == 1
        assert last_json(invoke("feeds", "list", "--json")) == []
        (hidden,) = last_json(invoke("feeds", "list", "--all", "--json"))
        assert (hidden["id"], hidden["status"], hidden["enabled"]) == (used.id, "removed", False)
        assert count(engine, Article) == 1
        again = last_json(invoke("feeds", "add", feed_server.url_for("/used.xml"), "--json"))
        assert (again["id"], again["enabled"], again["status"]) == (used.id, True, "active")

    def test_import_hundreds_of_nested_feeds_and_export_round_trip(
        self, engine: Any, tmp_path: Path
    ) -> None:
        """An OPML of 400 feeds in nested folders, with a repeat and junk, imports in one go;
        importing again adds nothing; export lists the same feeds."""
        folders = []
        for folder in range(8):
            outlines = "".join(
                f'<outline type="rss" text="Feed {folder}-{i}" '
                f'xmlUrl="https://site{folder}.example/feeds/{i}.xml?lang=en&amp;x={i}"/>'
                for i in range(50)
            )
            folders.append(
                f'<outline text="Folder {folder}"><outline text="Inner">'
                f"{outlines}</outline></outline>"
            )
        extra = (
            '<outline text="Again" xmlUrl="https://SITE0.example/feeds/0.xml?lang=en&amp;x=0"/>'
            '<outline text="Junk" xmlUrl="javascript:alert(1)"/>'
        )
        opml = tmp_path / "subscriptions.opml"
        opml.write_text(
            f'<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head>'
            f"<body>{''.join(folders)}{extra}</body></opml>",
            encoding="utf-8",
        )
        first = last_json(invoke("feeds", "import", str(opml), "--json"))
        assert (first["feeds"], first["added"], first["existing"]) == (400, 400, 0)
        second = last_json(invoke("feeds", "import", str(opml), "--json"))
        assert (second["added"], second["existing"]) == (0, 400)
        listed = last_json(invoke("feeds", "list", "--json"))
        assert len(listed) == 400 and listed[0]["title"] == "Feed 0-0"
        exported = tmp_path / "out.opml"
        assert invoke("feeds", "export", "-o", str(exported)).exit_code == 0
        assert {f.url for f in parse_opml(exported.read_bytes())} == {f["url"] for f in listed}
        stdout = invoke("feeds", "export")
        assert stdout.exit_code == 0 and stdout.stdout.startswith("<?xml")

    def test_import_refuses_a_file_that_is_not_opml(self, engine: Any, tmp_path: Path) -> None:
        """A non-OPML file is a one-line error and registers nothing."""
        path = tmp_path / "x.opml"
        path.write_text("<html><body>hello</body></html>")
        result = invoke("feeds", "import", str(path))
        assert result.exit_code == 1 and "not an OPML document" in result.stderr
        assert invoke("feeds", "import", str(tmp_path / "missing.opml")).exit_code == 1


# ---------------------------------------------------------------------------------------
# Fetching through the pipeline


class TestFetchThroughPipeline:
    def test_entries_are_stored_with_sightings_of_the_feed(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Three entries become three articles, each sighted from the feed at its entry URL;
        the feed records its validators, title and next fetch."""
        url = feed_server.url_for("/news.xml")
        serve_with_etag(feed_server, "/news.xml", rss([entry(n) for n in range(3)]))
        feed = add_feed(engine, url)
        result = fetch(engine, feed.id)
        assert (result.outcome, result.entries, result.error) == ("fetched", 3, None)
        assert result.summary is not None and result.summary.new == 3
        with engine.connect() as connection:
            rows = connection.execute(
                select(Article.url, Sighting.location, Source.name, Sighting.guid)
                .join(Sighting, Sighting.article_id == Article.id)
                .join(Source, Source.id == Sighting.source_id)
                .order_by(Article.id)
            ).all()
        assert rows == [
            (
                f"https://news.example.com/story/{n}",
                f"https://news.example.com/story/{n}",
                url,
                f"story-{n}",
            )
            for n in range(3)
        ]
        stored = get_feed(engine, feed.id)
        assert (stored.etag, stored.title, stored.status, stored.error_count) == (
            '"v1"',
            "Local News",
            "active",
            0,
        )
        assert stored.next_fetch_at is not None and stored.next_fetch_at > stored.last_fetched_at

    def test_permanent_redirect_moves_the_feed(self, engine: Any, feed_server: HTTPServer) -> None:
        """After a 301 the feed is fetched at its new URL, same id and history; a URL that
        another feed already has is not taken from it."""
        old, new = feed_server.url_for("/old.xml"), feed_server.url_for("/new.xml")
        feed_server.expect_request("/old.xml").respond_with_data(
            "", status=301, headers={"Location": "/new.xml"}
        )
        feed_server.expect_request("/new.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        feed = add_feed(engine, old)
        assert fetch(engine, feed.id).outcome == "fetched"
        moved = get_feed(engine, feed.id)
        assert moved.url == new and moved.error_count == 0
        assert fetch(engine, feed.id).outcome == "fetched"  # straight to /new.xml now
        assert [r.path for r, _ in feed_server.log] == ["/old.xml", "/new.xml", "/new.xml"]

        feed_server.expect_request("/other.xml").respond_with_data(
            "", status=301, headers={"Location": "/new.xml"}
        )
        other = add_feed(engine, feed_server.url_for("/other.xml"))
        assert fetch(engine, other.id).outcome == "fetched"
        assert get_feed(engine, other.id).url == feed_server.url_for("/other.xml")

    def test_304_stores_nothing_and_parses_nothing(
        self, engine: Any, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The second fetch sends If-None-Match, gets 304: no job, no sighting, no parse."""
        serve_with_etag(feed_server, "/news.xml", rss([entry(1), entry(2)]))
        feed = add_feed(engine, feed_server.url_for("/news.xml"))
        fetch(engine, feed.id)
        jobs, sightings = count(engine, IngestJob), count(engine, Sighting)
        parses: list[object] = []
        real_parse = feed_service.parse_feed
        monkeypatch.setattr(
            feed_service, "parse_feed", lambda *a, **k: parses.append(a) or real_parse(*a, **k)
        )
        result = fetch(engine, feed.id)
        assert (result.outcome, result.http_status) == ("not_modified", 304)
        assert requests_to(feed_server, "/news.xml")[-1].headers["If-None-Match"] == '"v1"'
        assert parses == []
        assert (count(engine, IngestJob), count(engine, Sighting)) == (jobs, sightings)
        assert get_feed(engine, feed.id).last_fetched_at is not None

    def test_feed_without_validators_does_not_resend_unchanged_entries(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A feed that always answers 200 adds no sightings for entries it already gave;
        an entry whose text changed goes through and updates its article."""
        entries = [entry(n) for n in range(3)]
        feed_server.expect_oneshot_request("/plain.xml").respond_with_data(
            rss(entries), content_type=RSS
        )
        feed_server.expect_oneshot_request("/plain.xml").respond_with_data(
            rss(entries), content_type=RSS
        )
        entries[1] = entry(1, body=distinct_article(1) + "\n\nCorrection: a figure was wrong.")
        feed_server.expect_oneshot_request("/plain.xml").respond_with_data(
            rss(entries), content_type=RSS
        )
        feed = add_feed(engine, feed_server.url_for("/plain.xml"))
        assert fetch(engine, feed.id).summary.new == 3  # type: ignore[union-attr]
        second = fetch(engine, feed.id)
        assert (second.entries, second.unchanged, second.summary, second.job_id) == (
            3,
            3,
            None,
            None,
        )
        third = fetch(engine, feed.id)
        assert (third.unchanged, third.summary.duplicates) == (2, 1)  # type: ignore[union-attr]
        # the changed entry is at its old place: its sighting is updated, not repeated
        assert count(engine, Sighting) == 3 and count(engine, Article) == 3
        with engine.connect() as connection:
            body = connection.execute(
                select(Article.body).where(Article.guid == "story-1")
            ).scalar_one()
        assert body.endswith("Correction: a figure was wrong.")

    def test_validators_are_saved_only_after_the_entries_commit(
        self, engine: Any, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash while storing leaves no ETag behind: the next fetch is a full GET and
        stores every entry; only then is the ETag saved and used."""
        serve_with_etag(feed_server, "/news.xml", rss([entry(n) for n in range(4)]))
        feed = add_feed(engine, feed_server.url_for("/news.xml"))

        def crash(**_: object) -> None:
            raise RuntimeError("simulated crash while storing the batch")

        import worker.services.ingest as ingest_service

        # Fault injection at the storing step (the database itself stays real).
        real_ingest = ingest_service.ingest_batch
        monkeypatch.setattr(ingest_service, "ingest_batch", crash)
        with pytest.raises(RuntimeError):
            fetch(engine, feed.id)
        crashed = get_feed(engine, feed.id)
        assert (crashed.etag, crashed.status) == (None, "error")
        # The kind only: the exception's text is in the log, not in what `feeds list` shows.
        assert crashed.last_error == "internal: an internal error; see the worker's log"
        assert count(engine, Article) == 0
        monkeypatch.setattr(ingest_service, "ingest_batch", real_ingest)

        assert fetch(engine, feed.id).summary.new == 4  # type: ignore[union-attr]
        assert "If-None-Match" not in requests_to(feed_server, "/news.xml")[-1].headers
        assert get_feed(engine, feed.id).etag == '"v1"'
        assert fetch(engine, feed.id).outcome == "not_modified"

    def test_missing_date_becomes_fetch_time_and_is_flagged(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """An undated entry is dated when it was fetched; its raw input says date_missing."""
        feed_server.expect_request("/undated.xml").respond_with_data(
            rss([entry(1, published=None)]), content_type=RSS
        )
        feed = add_feed(engine, feed_server.url_for("/undated.xml"))
        fetch(engine, feed.id)
        fetched_at = get_feed(engine, feed.id).last_fetched_at
        with engine.connect() as connection:
            published, raw = connection.execute(select(Article.published_at, Article.raw)).one()
        assert fetched_at is not None and abs((published - fetched_at).total_seconds()) < 5
        assert unpack_raw(raw)["extra"]["date_missing"] is True

    def test_same_article_from_two_feeds_is_one_article_with_two_sightings(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Two feeds carrying one story (own guids, same link and text): one article, one
        sighting per feed."""
        story = entry(7)
        feed_server.expect_request("/a.xml").respond_with_data(
            rss([{**story, "guid": "a-7"}, entry(8)]), content_type=RSS
        )
        feed_server.expect_request("/b.xml").respond_with_data(
            rss([{**story, "guid": "b-7"}]), content_type=RSS
        )
        a = add_feed(engine, feed_server.url_for("/a.xml"))
        b = add_feed(engine, feed_server.url_for("/b.xml"))
        assert fetch(engine, a.id).summary.new == 2  # type: ignore[union-attr]
        assert fetch(engine, b.id).summary.duplicates == 1  # type: ignore[union-attr]
        with engine.connect() as connection:
            sightings = connection.execute(
                select(Source.name, Sighting.guid)
                .join(Source, Source.id == Sighting.source_id)
                .join(Article, Article.id == Sighting.article_id)
                .where(Article.url == "https://news.example.com/story/7")
                .order_by(Sighting.id)
            ).all()
        assert sightings == [(a.url, "a-7"), (b.url, "b-7")]
        assert count(engine, Article) == 2

    def test_tracking_link_variants_are_one_article(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """The same link behind utm_*/fbclid/fragment variants, in two feeds: one article at
        the canonical URL."""
        base = "https://news.example.com/2024/budget"
        feed_server.expect_request("/t1.xml").respond_with_data(
            rss([entry(3, guid=None, link=f"{base}?utm_source=rss&utm_medium=feed#comments")]),
            content_type=RSS,
        )
        feed_server.expect_request("/t2.xml").respond_with_data(
            rss([entry(3, guid=None, link=f"{base}?fbclid=abc123&gclid=xyz")]), content_type=RSS
        )
        for path in ("/t1.xml", "/t2.xml"):
            fetch(engine, add_feed(engine, feed_server.url_for(path)).id)
        with engine.connect() as connection:
            urls = connection.execute(select(Article.url)).scalars().all()
            locations = connection.execute(select(Sighting.location)).scalars().all()
        assert urls == [base]
        assert len(locations) == 2 and all(
            "utm_source" in loc or "fbclid" in loc for loc in locations
        )

    def test_run_url_ingests_a_feed_in_process(self, engine: Any, feed_server: HTTPServer) -> None:
        """`run http://127.0.0.1:PORT/feed.xml` stores the feed's entries without subscribing
        to it (its fetch state is kept: a second run is a 304 and finds nothing new)."""
        url = feed_server.url_for("/feed.xml")
        serve_with_etag(feed_server, "/feed.xml", rss([entry(n) for n in range(5)]))
        first = last_json(invoke("run", url, "--json"))
        assert (first["received"], first["new"], first["rejected"]) == (5, 5, 0)
        second = last_json(invoke("run", url, "--json"))
        assert second["received"] == 0
        assert second["not_modified"] == [url]
        assert last_json(invoke("feeds", "list", "--json")) == []
        (feed,) = last_json(invoke("feeds", "list", "--all", "--json"))
        assert (feed["url"], feed["etag"], feed["status"]) == (url, '"v1"', "removed")

    def test_a_url_that_cannot_be_a_feed_is_a_failed_job_part(self, engine: Any) -> None:
        """`enqueue`/POST /jobs with an unusable feed URL: a failed part with the reason,
        nothing queued, and the job still finishes."""
        from worker.services import jobs as job_service
        from worker.storage import jobs as job_rows

        job_id = job_service.create_job(engine=engine)
        sent: list[tuple[str, int, str]] = []
        feed_service.queue_feed_url(
            engine=engine, job_id=job_id, url="http://", send_part=lambda *part: sent.append(part)
        )
        job_service.seal_job(engine=engine, job_id=job_id)
        with engine.connect() as connection:
            job = job_rows.get_job(connection=connection, job_id=job_id)
            part = connection.execute(select(job_rows.parts.c.status, job_rows.parts.c.error)).one()
        assert sent == [] and job is not None and job["status"] == "done"
        assert part.status == "failed" and "without a host" in part.error
        assert count(engine, Source) == 0

    def test_run_url_works_without_redis(
        self, sqlite_db: str, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With Redis unreachable, `run URL` still works (limits held in this process)."""
        monkeypatch.setenv("NEWS_INGEST_REDIS_URL", "redis://127.0.0.1:1/0")
        get_settings.cache_clear()
        feed_server.expect_request("/feed.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        summary = last_json(invoke("run", feed_server.url_for("/feed.xml"), "--json"))
        assert summary["new"] == 1


# Markup that must not survive anywhere in a stored article: a tag opening of any kind
# (stored text is plain text), and script URLs.
_TAG_OPENING = re.compile(r"<\s*/?\s*[a-zA-Z!?]")
_SCRIPT_URL = re.compile(r"(java|vb|live)script\s*:", re.IGNORECASE)


class TestCorpusThroughPipeline:
    def test_feedparser_corpus_is_fetched_parsed_and_stored_cleanly(
        self, postgres_db: str, feed_server: HTTPServer
    ) -> None:
        """feedparser's own 2,000+ test feeds (well-formed, ill-formed, encodings, entities,
        sanitizer cases), registered and fetched with `feeds fetch --all`: no crash, no
        internal error, and no stored title, body or URL carries markup or a script URL."""
        from worker.storage.session import get_engine

        corpus: list[CorpusFile] = load_corpus()
        engine = get_engine(postgres_db)

        def serve(request: Request) -> Response:
            item = corpus[int(request.path.rsplit("/", 1)[1])]
            return Response(
                item.content, headers={"content-type": "application/xml", **item.headers}
            )

        feed_server.expect_request(re.compile(r"^/corpus/\d+$")).respond_with_handler(serve)
        with engine.begin() as connection:
            feed_rows.add_feeds(
                connection=connection,
                feeds=[
                    (feed_server.url_for(f"/corpus/{n}"), item.name)
                    for n, item in enumerate(corpus)
                ],
            )
        results = feed_service.fetch_feeds(engine=engine, selection="all", workers=8)
        outcomes = {r.outcome for r in results}
        assert len(results) == len(corpus) and outcomes <= {"fetched", "failed"}
        internal = [r for r in results if r.error and r.error.startswith("internal:")]
        assert internal == []
        with engine.connect() as connection:
            stored = connection.execute(select(Article.title, Article.body, Article.url)).all()
            sighted = connection.execute(
                select(func.count(func.distinct(Sighting.article_id)))
            ).scalar_one()
        totals = feed_service.summarize(results)
        # Most corpus entries are copies of a few sample texts: many entries, fewer articles.
        assert totals["received"] > 800 and len(stored) > 50 and sighted == len(stored)
        assert totals["received"] == (
            totals["new"] + totals["duplicates"] + totals["near_duplicates"] + totals["rejected"]
        )
        problems = [
            (field, value[:120])
            for title, body, url in stored
            for field, value in (("title", title), ("body", body), ("url", url or ""))
            if _TAG_OPENING.search(value) or _SCRIPT_URL.search(value)
        ]
        assert problems == []
        assert all(url is None or url.startswith(("http://", "https://")) for _, _, url in stored)


# ---------------------------------------------------------------------------------------
# Failures


class TestFailures:
    def test_410_gone_disables_the_feed_and_fetch_all_skips_it(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A 410 sets status gone and disables the feed; `feeds fetch --all` leaves it be."""
        feed_server.expect_request("/gone.xml").respond_with_data("", status=410)
        feed = add_feed(engine, feed_server.url_for("/gone.xml"))
        assert fetch(engine, feed.id).outcome == "gone"
        gone = get_feed(engine, feed.id)
        assert (gone.status, gone.enabled, gone.next_fetch_at) == ("gone", False, None)
        assert "410" in (gone.last_error or "")
        result = last_json(invoke("feeds", "fetch", "--all", "--json"))
        assert result["feeds"] == [] and len(requests_to(feed_server, "/gone.xml")) == 1
        assert fetch(engine, feed.id).outcome == "skipped"

    def test_error_backoff_grows_is_capped_and_shows_in_feeds_list(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Each failure in a row pushes the next try further (doubling, at most 24 h), the
        feed stays enabled, and `feeds list --json` shows the count and the reason."""
        feed_server.expect_request("/down.xml").respond_with_data("oops", status=500)
        feed = add_feed(engine, feed_server.url_for("/down.xml"))
        delays = []
        for _ in range(12):
            result = fetch(engine, feed.id)
            assert result.outcome == "failed"
            delays.append((result.next_fetch_at - datetime.now(UTC)).total_seconds())
        assert all(later > earlier for earlier, later in pairwise(delays[:9]))
        assert 0.75 * 86400 < delays[-1] <= 86400
        (row,) = last_json(invoke("feeds", "list", "--json"))
        assert (row["status"], row["enabled"], row["error_count"]) == ("error", True, 12)
        assert row["last_error"] == "http_500: HTTP 500 Internal Server Error"
        recovered = feed_server.url_for("/down.xml")
        feed_server.clear()
        feed_server.expect_request("/down.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        assert fetch(engine, feed.id).outcome == "fetched"
        healthy = get_feed(engine, feed.id)
        assert (healthy.url, healthy.status, healthy.error_count, healthy.last_error) == (
            recovered,
            "active",
            0,
            None,
        )

    def test_html_page_is_a_failure_with_a_readable_reason(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A page that is not a feed is recorded as kind not_a_feed, with a fixed text."""
        feed_server.expect_request("/page").respond_with_data(
            "<!doctype html><html><body><p>Welcome</p></body></html>", content_type="text/html"
        )
        feed = add_feed(engine, feed_server.url_for("/page"))
        result = fetch(engine, feed.id)
        assert result.outcome == "failed" and result.error.startswith("not_a_feed: ")  # type: ignore[union-attr]
        assert get_feed(engine, feed.id).last_error == (
            "not_a_feed: the document is not an RSS or Atom feed"
        )

    @pytest.mark.parametrize("retry_after", ["120", "http-date"])
    def test_429_retry_after_is_honoured_by_fetch_all_for_the_whole_host(
        self, engine: Any, feed_server: HTTPServer, retry_after: str
    ) -> None:
        """After a 429 with Retry-After (seconds or an HTTP date), neither that feed nor
        another on the same host is fetched by `feeds fetch --all` before the time."""
        value = (
            retry_after
            if retry_after != "http-date"
            else format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
        )
        feed_server.expect_request("/limited.xml").respond_with_data(
            "slow down", status=429, headers={"Retry-After": value}
        )
        feed_server.expect_request("/other.xml").respond_with_data(
            rss([entry(1)]), content_type=RSS
        )
        limited = add_feed(engine, feed_server.url_for("/limited.xml"))
        other = add_feed(engine, feed_server.url_for("/other.xml"))
        first = fetch(engine, limited.id)
        assert (first.outcome, first.http_status) == ("failed", 429)
        assert get_feed(engine, limited.id).retry_after_until > datetime.now(UTC) + timedelta(
            seconds=100
        )
        outcome = last_json(invoke("feeds", "fetch", "--all", "--json"))
        by_id = {row["id"]: row for row in outcome["feeds"]}
        assert by_id[limited.id]["outcome"] == "skipped"
        assert by_id[other.id]["outcome"] == "deferred"
        assert "asked us to wait" in by_id[other.id]["error"]
        assert len(feed_server.log) == 1
        assert get_feed(engine, other.id).retry_after_until is not None

    def test_retry_after_is_honoured_without_redis_too(
        self, sqlite_db: str, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With no Redis, the Retry-After recorded on a feed still holds back its host."""
        monkeypatch.setenv("NEWS_INGEST_REDIS_URL", "redis://127.0.0.1:1/0")
        get_settings.cache_clear()
        from worker.storage.session import get_engine

        engine = get_engine()
        feed_server.expect_request("/limited.xml").respond_with_data(
            "", status=503, headers={"Retry-After": "300"}
        )
        feed_server.expect_request("/other.xml").respond_with_data(
            rss([entry(1)]), content_type=RSS
        )
        limited = add_feed(engine, feed_server.url_for("/limited.xml"))
        other = add_feed(engine, feed_server.url_for("/other.xml"))
        assert fetch(engine, limited.id).outcome == "failed"
        resources.close(GATES)  # a new CLI process: nothing remembered in memory
        outcome = last_json(invoke("feeds", "fetch", "--all", "--json"))
        assert {row["id"]: row["outcome"] for row in outcome["feeds"]} == {
            limited.id: "skipped",
            other.id: "deferred",
        }
        assert len(feed_server.log) == 1


# ---------------------------------------------------------------------------------------
# Scheduling and claims


class TestScheduling:
    def test_only_enabled_due_unclaimed_feeds_are_claimed(self, engine: Any) -> None:
        """Due feeds are claimed once; not-due, disabled, rate-limited and claimed ones are not."""
        ids = [add_feed(engine, f"https://f{i}.example/rss").id for i in range(5)]
        now = datetime.now(UTC)
        with engine.begin() as connection:
            table = Source.__table__
            connection.execute(
                update(table)
                .where(table.c.id == ids[1])
                .values(next_fetch_at=now + timedelta(hours=1))
            )
            connection.execute(update(table).where(table.c.id == ids[2]).values(enabled=False))
            connection.execute(
                update(table)
                .where(table.c.id == ids[3])
                .values(retry_after_until=now + timedelta(hours=1))
            )
            first = feed_rows.claim_due_feeds(
                connection=connection, now=now, limit=10, lease=timedelta(minutes=10)
            )
        with engine.begin() as connection:
            second = feed_rows.claim_due_feeds(
                connection=connection, now=now, limit=10, lease=timedelta(minutes=10)
            )
        assert [c.feed_id for c in first] == [ids[0], ids[4]] and second == []
        with engine.begin() as connection:
            later = feed_rows.claim_due_feeds(
                connection=connection,
                now=now + timedelta(minutes=11),
                limit=10,
                lease=timedelta(minutes=10),
            )
        assert [c.feed_id for c in later] == [ids[0], ids[4]]  # expired leases come back

    def test_concurrent_schedulers_claim_each_feed_once(self, postgres_db: str) -> None:
        """Four schedulers racing on Postgres (SKIP LOCKED) split 300 due feeds without overlap."""
        from worker.storage.session import get_engine

        engine = get_engine(postgres_db)
        with engine.begin() as connection:
            feed_rows.add_feeds(
                connection=connection,
                feeds=[(f"https://h{i}.example/rss", None) for i in range(300)],
            )
        barrier = threading.Barrier(4)
        claimed: list[list[int]] = [[] for _ in range(4)]

        def scheduler(slot: int) -> None:
            barrier.wait()
            for _ in range(10):
                with engine.begin() as connection:
                    claims = feed_rows.claim_due_feeds(
                        connection=connection,
                        now=datetime.now(UTC),
                        limit=40,
                        lease=timedelta(minutes=10),
                    )
                claimed[slot] += [c.feed_id for c in claims]

        threads = [threading.Thread(target=scheduler, args=(slot,)) for slot in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        everything = [feed_id for ids in claimed for feed_id in ids]
        assert len(everything) == len(set(everything)) == 300
        assert sum(1 for ids in claimed if ids) >= 2

    def test_a_superseded_claim_does_nothing(self, engine: Any, feed_server: HTTPServer) -> None:
        """A dispatched fetch with a stale token (lease taken over, or redelivered after the
        fetch) does not fetch; the current token does, once."""
        feed_server.expect_request("/c.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        feed = add_feed(engine, feed_server.url_for("/c.xml"))
        with engine.begin() as connection:
            (claim,) = feed_rows.claim_due_feeds(
                connection=connection, now=datetime.now(UTC), limit=5, lease=timedelta(minutes=20)
            )
        stale = claim.token - timedelta(seconds=1)
        assert fetch(engine, feed.id, token=stale).outcome == "skipped"
        assert fetch(engine, feed.id, token=claim.token).outcome == "fetched"
        assert fetch(engine, feed.id, token=claim.token).outcome == "skipped"
        assert len(requests_to(feed_server, "/c.xml")) == 1
        assert get_feed(engine, feed.id).claimed_until is None

    def test_cli_fetch_refuses_a_feed_a_worker_holds(self, engine: Any) -> None:
        """`feeds fetch ID` on a feed claimed by a worker reports it and fetches nothing."""
        feed = add_feed(engine, "https://held.example/rss")
        with engine.begin() as connection:
            feed_rows.claim_due_feeds(
                connection=connection, now=datetime.now(UTC), limit=5, lease=timedelta(minutes=20)
            )
        result = last_json(invoke("feeds", "fetch", str(feed.id), "--json"))
        assert result["feeds"][0]["outcome"] == "skipped"
        assert "another worker" in result["feeds"][0]["error"]

    def test_interval_adapts_to_entries_and_honours_ttl_and_max_age(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Hourly entries give a half-hour interval; <ttl> and Cache-Control max-age raise
        it; a user interval replaces the estimate."""
        now = datetime.now(UTC)
        hourly = [entry(n, published=now - timedelta(hours=n)) for n in range(6)]
        feed_server.expect_request("/hourly.xml").respond_with_data(rss(hourly), content_type=RSS)
        feed_server.expect_request("/ttl.xml").respond_with_data(
            rss(hourly, channel_extra="<ttl>180</ttl>"), content_type=RSS
        )
        feed_server.expect_request("/maxage.xml").respond_with_data(
            rss(hourly), content_type=RSS, headers={"Cache-Control": "public, max-age=7200"}
        )
        feed_server.expect_request("/fixed.xml").respond_with_data(rss(hourly), content_type=RSS)
        intervals = {}
        for path, options in (
            ("/hourly.xml", {}),
            ("/ttl.xml", {}),
            ("/maxage.xml", {}),
            ("/fixed.xml", {"interval_s": 600}),
        ):
            feed = add_feed(engine, feed_server.url_for(path), **options)
            result = fetch(engine, feed.id)
            stored = get_feed(engine, feed.id)
            assert result.next_fetch_at == stored.next_fetch_at
            delay = (stored.next_fetch_at - stored.last_fetched_at).total_seconds()
            assert stored.fetch_interval_s <= delay <= 1.1 * stored.fetch_interval_s + 1
            intervals[path] = stored.fetch_interval_s
        assert intervals == {
            "/hourly.xml": 1800,
            "/ttl.xml": 10800,
            "/maxage.xml": 7200,
            "/fixed.xml": 600,
        }

    def test_fetch_due_takes_only_due_feeds(self, engine: Any, feed_server: HTTPServer) -> None:
        """`feeds fetch --due` fetches feeds whose time has come and leaves the others."""
        feed_server.expect_request("/due.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        feed_server.expect_request("/later.xml").respond_with_data(
            rss([entry(2)]), content_type=RSS
        )
        due = add_feed(engine, feed_server.url_for("/due.xml"))
        later = add_feed(engine, feed_server.url_for("/later.xml"))
        with engine.begin() as connection:
            connection.execute(
                update(Source.__table__)
                .where(Source.id == later.id)
                .values(next_fetch_at=datetime.now(UTC) + timedelta(hours=1))
            )
        result = last_json(invoke("feeds", "fetch", "--due", "--json"))
        assert [row["id"] for row in result["feeds"]] == [due.id]
        assert result["totals"]["new"] == 1
        assert last_json(invoke("feeds", "fetch", "--due", "--json"))["feeds"] == []

    def test_fetch_needs_exactly_one_selection(self, engine: Any) -> None:
        """`feeds fetch` with no selection, two, or an unknown id is a one-line error."""
        assert invoke("feeds", "fetch").exit_code == 1
        assert invoke("feeds", "fetch", "--all", "--due").exit_code == 1
        missing = invoke("feeds", "fetch", "999")
        assert missing.exit_code == 1 and "no feed 999" in missing.stderr


# ---------------------------------------------------------------------------------------
# Politeness


class TestPoliteness:
    def test_host_slots_are_shared_between_processes_through_redis(self, redis_client: Any) -> None:
        """Two gates with their own Redis connections (two workers) share one host's
        concurrency: the second waits until the first releases."""
        import redis

        settings = local_settings(per_host_concurrency=1, per_host_rate_per_minute=600000)
        first = RedisHostGate(settings, redis.Redis.from_url(TEST_REDIS_URL))
        second = RedisHostGate(settings, redis.Redis.from_url(TEST_REDIS_URL))
        assert first.turn("news.example", max_wait_s=0).granted
        refused = second.turn("news.example", max_wait_s=0.2)
        assert (refused.granted, refused.reason) == (False, "busy")
        assert second.turn("other.example", max_wait_s=0).granted
        first.release("news.example")
        assert second.turn("news.example", max_wait_s=1).granted
        first.set_retry_after("news.example", 60)
        waiting = second.turn("news.example", max_wait_s=None)
        assert (waiting.granted, waiting.reason) == (False, "retry_after")
        assert 55 < second.retry_after_s("news.example") <= 60

    @pytest.mark.parametrize(("concurrency", "peak"), [(1, 1), (2, 2)])
    def test_concurrent_fetches_to_one_host_respect_its_concurrency(
        self,
        engine: Any,
        feed_server: HTTPServer,
        monkeypatch: pytest.MonkeyPatch,
        concurrency: int,
        peak: int,
    ) -> None:
        """Two fetches of one host at once: serialized with concurrency 1, overlapping with 2."""
        monkeypatch.setenv("NEWS_INGEST_PER_HOST_CONCURRENCY", str(concurrency))
        get_settings.cache_clear()
        state = {"in_flight": 0, "peak": 0}
        condition = threading.Condition()

        def handle(request: Request) -> Response:
            with condition:
                state["in_flight"] += 1
                state["peak"] = max(state["peak"], state["in_flight"])
                condition.notify_all()
                # Hold the response until a second request overlaps, or give up after 1 s.
                condition.wait_for(lambda: state["in_flight"] >= 2, timeout=1.0)
                state["in_flight"] -= 1
            return Response(rss([entry(int(request.path[2]))]), content_type=RSS)

        feed_server.expect_request("/s1.xml").respond_with_handler(handle)
        feed_server.expect_request("/s2.xml").respond_with_handler(handle)
        ids = [add_feed(engine, feed_server.url_for(p)).id for p in ("/s1.xml", "/s2.xml")]
        results = feed_service.fetch_feeds(engine=engine, selection="all", workers=2)
        assert sorted(r.outcome for r in results) == ["fetched", "fetched"]
        assert state["peak"] == peak
        assert sorted(r.feed_id for r in results) == ids

    def test_request_spacing_per_host(
        self, engine: Any, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With 60 requests a minute, two fetches of one host start a second apart."""
        monkeypatch.setenv("NEWS_INGEST_PER_HOST_RATE_PER_MINUTE", "60")
        get_settings.cache_clear()
        started: list[float] = []

        def handle(request: Request) -> Response:
            started.append(time.monotonic())
            return Response(rss([entry(len(started))]), content_type=RSS)

        feed_server.expect_request("/r.xml").respond_with_handler(handle)
        feed_server.expect_request("/q.xml").respond_with_handler(handle)
        for path in ("/r.xml", "/q.xml"):
            add_feed(engine, feed_server.url_for(path))
        feed_service.fetch_feeds(engine=engine, selection="all", workers=2)
        assert len(started) == 2 and started[1] - started[0] >= 0.8

    def test_scheduled_fetch_is_deferred_when_the_host_is_busy(
        self, engine: Any, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A worker's fetch that cannot get the host's turn soon is put back, not failed."""
        import redis

        monkeypatch.setenv("NEWS_INGEST_PER_HOST_CONCURRENCY", "1")
        get_settings.cache_clear()
        feed_server.expect_request("/busy.xml").respond_with_data(rss([entry(1)]), content_type=RSS)
        feed = add_feed(engine, feed_server.url_for("/busy.xml"))
        other_worker = RedisHostGate(get_settings(), redis.Redis.from_url(TEST_REDIS_URL))
        assert other_worker.turn("127.0.0.1", max_wait_s=0).granted
        result = fetch(engine, feed.id, max_wait_s=0.2, require_shared_limits=True)
        assert result.outcome == "deferred" and feed_server.log == []
        deferred = get_feed(engine, feed.id)
        assert (deferred.error_count, deferred.claimed_until, deferred.status) == (
            0,
            None,
            "active",
        )
        other_worker.release("127.0.0.1")
        assert fetch(engine, feed.id, max_wait_s=0.2).outcome == "fetched"


# ---------------------------------------------------------------------------------------
# Celery


class TestCeleryTasks:
    def test_beat_schedule_due_dispatches_fetches_to_a_worker(
        self, celery_worker: Any, feed_server: HTTPServer
    ) -> None:
        """`feeds.schedule_due` claims the due feeds and a real worker's `feeds.fetch`
        stores their entries and reschedules them."""
        from worker.app import app
        from worker.storage.session import get_engine

        engine = get_engine()
        for n, path in enumerate(("/w1.xml", "/w2.xml")):
            feed_server.expect_request(path).respond_with_data(
                rss([entry(10 * n + i) for i in range(3)]), content_type=RSS
            )
            add_feed(engine, feed_server.url_for(path))
        app.send_task("feeds.schedule_due")

        def fetched() -> bool:
            with engine.connect() as connection:
                feeds = feed_rows.list_feeds(connection=connection)
            return all(f.last_fetched_at and f.claimed_until is None for f in feeds)

        wait_for(fetched)
        assert count(engine, Article) == 6
        with engine.connect() as connection:
            feeds = feed_rows.list_feeds(connection=connection)
        assert all(f.next_fetch_at > datetime.now(UTC) for f in feeds)
        assert len(feed_server.log) == 2

    def test_enqueue_feed_url_runs_as_a_job_part(
        self, celery_worker: Any, feed_server: HTTPServer
    ) -> None:
        """`enqueue URL --wait` queues a "feed" part; the worker fetches it and the job ends
        done with the entries' counts."""
        serve_with_etag(feed_server, "/job.xml", rss([entry(n) for n in range(4)]))
        summary = last_json(invoke("enqueue", feed_server.url_for("/job.xml"), "--wait", "--json"))
        assert (summary["status"], summary["received"], summary["new"]) == ("done", 4, 4)
        again = last_json(invoke("enqueue", feed_server.url_for("/job.xml"), "--wait", "--json"))
        assert (again["status"], again["received"]) == ("done", 0)
