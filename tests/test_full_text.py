"""Full text and metadata of feed entries against local HTTP servers serving real saved news
pages: the teaser rule, extraction, robots.txt, failures kept with their reason, the SSRF
guard on a page's redirects, dedup of a teaser against a full copy, metadata from RSS,
Atom and the page, the filters and exports, and the worker's `feeds.full_text` task.
Never the internet."""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from typer.testing import CliRunner
from werkzeug import Request, Response

from schemas import ArticleEvent, RawArticle
from tests import feeds_fixtures
from tests.feeds_fixtures import local_settings
from tests.polling import wait_for
from worker.cli import app as cli
from worker.pipeline.metadata import article_metadata, language_tag
from worker.services import export, full_text, search
from worker.services import feeds as feed_service
from worker.services import jobs as job_service
from worker.services import parts as part_service
from worker.services.politeness import LocalHostGate
from worker.settings import Settings, get_settings
from worker.sources.feed_parser import parse_feed
from worker.sources.fetch import new_client
from worker.sources.page import extract_page
from worker.storage import feeds as feed_rows
from worker.storage import full_text as full_text_rows
from worker.storage.models import Article, IngestJobPart, OutboxEvent

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server
second_server = feeds_fixtures.second_server

PAGES = Path(__file__).parent / "fixtures" / "pages"
SAVED = ("arabic_article", "chinese_article_002", "cleveland.com1", "cnn_article",
         "spanish_article", "yna_co_kr")  # fmt: skip
RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"
ALLOW_ALL = "User-agent: *\nDisallow:\n"


def page_html(name: str) -> bytes:
    return gzip.decompress((PAGES / f"{name}.html.gz").read_bytes())


def truth(name: str) -> str:
    return (PAGES / f"{name}.txt").read_text(encoding="utf-8")


def shingle_f1(predicted: str, expected: str, n: int = 4) -> float:
    """F1 of word n-gram multisets: the measure of the article extraction benchmarks."""

    def shingles(text: str) -> Counter[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)))

    got, want = shingles(predicted), shingles(expected)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def first_paragraph(name: str) -> str:
    return next(p for p in truth(name).split("\n") if len(p.strip()) > 40).strip()


def rss_item(
    n: int, link: str, *, description: str, content: str | None = None, extra: str = ""
) -> str:
    parts = [
        f"<title>Story {n}</title><link>{escape(link)}</link>",
        f'<guid isPermaLink="false">story-{n}</guid>',
        "<pubDate>Wed, 01 May 2024 10:00:00 +0000</pubDate>",
        f"<description>{escape(description)}</description>",
    ]
    if content is not None:
        parts.append(f"<content:encoded>{escape(content)}</content:encoded>")
    return f"<item>{''.join(parts)}{extra}</item>"


def rss_feed(items: list[str], *, channel_extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Teasers</title>'
        f"<link>https://news.example.com/</link><description>d</description>{channel_extra}"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def serve_pages(
    server: HTTPServer, names: tuple[str, ...] = SAVED, *, robots: str = ALLOW_ALL
) -> None:
    server.expect_request("/robots.txt").respond_with_data(robots, content_type="text/plain")
    for name in names:
        server.expect_request(f"/news/{name}.html").respond_with_data(
            page_html(name), content_type="text/html"
        )


# An editor's teaser that is not the article's opening (which near-duplicate detection
# would link to the full story by itself).
REWRITTEN_TEASER = "Forecasters expect calm skies for the holiday rush after the storm. Read more …"


def teaser_feed(
    server: HTTPServer,
    names: tuple[str, ...] = SAVED,
    path: str = "/teasers.xml",
    *,
    teaser: str | None = None,
) -> str:
    items = [
        rss_item(
            n,
            server.url_for(f"/news/{name}.html"),
            description=teaser or first_paragraph(name)[:200] + " …",
        )
        for n, name in enumerate(names)
    ]
    server.expect_request(path).respond_with_data(rss_feed(items), content_type=RSS)
    return server.url_for(path)


def add_feed(engine: Any, url: str, mode: str | None = None) -> int:
    with engine.begin() as connection:
        feed, _ = feed_rows.add_feed(connection=connection, url=url)
        if mode is not None:
            full_text_rows.set_feed_full_text_mode(
                connection=connection, feed_id=feed.id, mode=mode
            )
    return feed.id


def stored(engine: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Article.__table__).order_by(Article.id)).mappings().all()
    return [dict(row) for row in rows]


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


def reader(settings: Settings, **client_options: Any) -> full_text.PageReader:
    return full_text.PageReader(
        settings, gate=LocalHostGate(settings), client=new_client(settings, **client_options)
    )


def raw_entry(url: str, body: str = "A teaser of the story …") -> RawArticle:
    return RawArticle(url=url, guid=url, title="Story", body=body, source="https://feeds.test/rss")


@pytest.fixture(autouse=True)
def _environment(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Redis flushed, no request spacing unless a test asks, full text in auto mode (fresh
    clients, gates and robots.txt caches: the registry is closed after every test)."""
    monkeypatch.setenv("NEWS_INGEST_PER_HOST_RATE_PER_MINUTE", "600000")
    monkeypatch.setenv("NEWS_INGEST_FULL_TEXT", "auto")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# ---------------------------------------------------------------------------------------


class TestTeaserRule:
    settings = Settings()

    def verdict(self, body: str, **extra: Any) -> str | None:
        raw = RawArticle(body=body, url="https://n.test/a", extra=extra)
        return full_text.teaser_reason(raw, full_text.feed_text(raw, self.settings))

    def test_short_text_is_a_teaser(self) -> None:
        """A sentence or two is a teaser, whatever element carried it."""
        assert self.verdict("The council voted on Tuesday to close the bridge.") == "short"

    def test_ellipsis_and_read_more_mark_a_teaser_of_any_length(self) -> None:
        """A long text cut with an ellipsis or ending in a "read more" link is a teaser."""
        long = "The council met for hours and argued about the bridge. " * 20
        assert self.verdict(long + "And then …") == "truncated"
        assert self.verdict(long + "Read more »") == "truncated"
        assert self.verdict(long + "Weiterlesen") == "truncated"
        assert self.verdict(long + "The post Bridge closes appeared first on City News.") == (
            "truncated"
        )

    def test_description_without_content_is_a_teaser_up_to_two_leads(self) -> None:
        """A description alone (no content:encoded) under 1,500 characters is a teaser;
        the same text as full content is not."""
        text = "The council met for hours and argued about the bridge. " * 15
        assert self.verdict(text, has_content=False) == "description only"
        assert self.verdict(text) is None
        assert self.verdict(text * 3, has_content=False) is None

    def test_headline_only_entry_wants_its_page(self) -> None:
        """An entry whose text is only its title is a teaser."""
        assert self.verdict("Bridge closes", body_from_title=True) == "title only"

    def test_modes(self) -> None:
        """never: no page; always: every entry with a link; no link: never a page."""
        raw = RawArticle(body="short", url="https://n.test/a")
        full = RawArticle(body="Long enough text. " * 100, url="https://n.test/b")
        assert not full_text.wants_page(raw, "never", "short")
        assert full_text.wants_page(full, "always", full.body)
        assert not full_text.wants_page(full, "auto", full.body)
        assert not full_text.wants_page(RawArticle(body="short"), "always", "short")


class TestExtraction:
    @pytest.mark.parametrize("name", SAVED)
    def test_saved_news_pages_are_extracted_close_to_their_ground_truth(self, name: str) -> None:
        """trafilatura's text of each saved real page scores shingle F1 >= 0.9 against the
        page's ground-truth text."""
        page = extract_page(page_html(name), url=f"https://news.test/{name}.html")
        assert shingle_f1(page.text, truth(name)) >= 0.9
        assert not page.paywalled

    def test_page_metadata_language_authors_tags_image(self) -> None:
        """The page's <html lang>, byline, keywords and og:image are read."""
        page = extract_page(page_html("cnn_article"), url="https://news.test/a.html")
        assert page.language == "en"
        assert "Dana A Ford" in page.authors
        assert "holiday travel" in page.tags
        assert page.image_url and page.image_url.startswith("http://i2.cdn.turner.com/")
        assert extract_page(page_html("spanish_article"), url="https://n.test/").language == "es"

    def test_paywall_markup_is_detected(self) -> None:
        """schema.org isAccessibleForFree=false marks the page as paywalled."""
        html = PAYWALL_PAGE.encode()
        assert extract_page(html, url="https://n.test/p").paywalled


PAYWALL_PAGE = """<!doctype html><html lang="en"><head><title>Exclusive</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",
"headline": "Exclusive", "isAccessibleForFree": false, "hasPart": {"@type": "WebPageElement",
"isAccessibleForFree": "False", "cssSelector": ".paywalled"}}</script></head><body><article>
<h1>Exclusive: the bridge deal</h1><p>The council reached a deal on the bridge late on
Tuesday, people familiar with the talks said, in a move that surprised many observers.</p>
<div class="paywalled"><p>Subscribe to continue reading.</p></div></article></body></html>"""


class TestRobots:
    def test_allowed_page_is_read_and_robots_txt_is_fetched_once_per_site(
        self, feed_server: HTTPServer
    ) -> None:
        """robots.txt is asked once for many pages of one site, named news-ingest."""
        serve_pages(feed_server)
        settings = local_settings()
        pages = reader(settings)
        for name in SAVED[:3]:
            page, _ = pages.read(feed_server.url_for(f"/news/{name}.html"))
            assert shingle_f1(page.text, truth(name)) >= 0.9
        robots = requests_to(feed_server, "/robots.txt")
        assert len(robots) == 1
        assert robots[0].headers["User-Agent"].startswith("news-ingest/")

    def test_disallowed_page_is_never_requested(self, feed_server: HTTPServer) -> None:
        """A page robots.txt disallows for news-ingest is refused without a request."""
        serve_pages(feed_server, robots="User-agent: news-ingest\nDisallow: /news/\n")
        with pytest.raises(full_text.PageRefused) as refused:
            reader(local_settings()).read(feed_server.url_for("/news/cnn_article.html"))
        assert refused.value.kind == "robots"
        assert requests_to(feed_server, "/news/cnn_article.html") == []

    def test_wildcard_rules_and_other_agents(self, feed_server: HTTPServer) -> None:
        """Google-style wildcards apply; rules for another agent do not."""
        serve_pages(
            feed_server,
            robots="User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /*cnn_*.html$\n",
        )
        pages = reader(local_settings())
        pages.read(feed_server.url_for("/news/yna_co_kr.html"))
        with pytest.raises(full_text.PageRefused):
            pages.read(feed_server.url_for("/news/cnn_article.html"))
        assert requests_to(feed_server, "/news/cnn_article.html") == []

    def test_missing_robots_txt_allows_and_a_failing_one_disallows(
        self, feed_server: HTTPServer, second_server: HTTPServer
    ) -> None:
        """A 404 robots.txt allows everything; a 500 one disallows everything (RFC 9309)."""
        feed_server.expect_request("/robots.txt").respond_with_data("", status=404)
        feed_server.expect_request("/news/yna_co_kr.html").respond_with_data(
            page_html("yna_co_kr"), content_type=HTML
        )
        second_server.expect_request("/robots.txt").respond_with_data("", status=500)
        pages = reader(local_settings())
        pages.read(feed_server.url_for("/news/yna_co_kr.html"))
        with pytest.raises(full_text.PageRefused) as refused:
            pages.read(second_server.url_for("/news/yna_co_kr.html"))
        assert "unreachable" in str(refused.value)
        assert requests_to(second_server, "/news/yna_co_kr.html") == []

    def test_crawl_delay_spaces_the_next_request_to_the_host(self, feed_server: HTTPServer) -> None:
        """A Crawl-delay becomes the host gate's spacing after a page (capped), so the next
        request to the host, page or feed, waits for it."""
        serve_pages(feed_server, robots="User-agent: *\nCrawl-delay: 7\n")
        settings = local_settings(per_host_rate_per_minute=600000, robots_max_crawl_delay_s=5.0)
        pages = reader(settings)
        pages.read(feed_server.url_for("/news/yna_co_kr.html"))
        turn = pages.gate.turn("127.0.0.1", max_wait_s=0)
        assert not turn.granted
        assert (turn.reason, 4.0 < turn.wait_s <= 5.0) == ("rate", True)


class TestFailures:
    def read(self, reader_: full_text.PageReader, url: str) -> RawArticle:
        raw = raw_entry(url)
        return full_text.with_page(
            raw,
            full_text.feed_text(raw, reader_.settings),
            settings=reader_.settings,
            reader=reader_,
        )

    def test_404_keeps_the_feed_text_with_the_reason(self, feed_server: HTTPServer) -> None:
        """A page that is gone leaves the entry's own text, body_source feed, and why."""
        serve_pages(feed_server, ())
        feed_server.expect_request("/news/gone.html").respond_with_data("", status=404)
        result = self.read(reader(local_settings()), feed_server.url_for("/news/gone.html"))
        assert result.body == "A teaser of the story …"
        assert result.extra["body_source"] == "feed"
        assert result.extra["full_text_error"].startswith("http_404: HTTP 404")

    def test_slow_page_times_out(self, feed_server: HTTPServer) -> None:
        """A page slower than the fetch deadline is a timeout, not a hang."""
        serve_pages(feed_server, ())

        def slow(_: Request) -> Response:
            time.sleep(3)
            return Response(page_html("yna_co_kr"), content_type=HTML)

        feed_server.expect_request("/news/slow.html").respond_with_handler(slow)
        settings = local_settings(fetch_total_timeout=1.0)
        result = self.read(reader(settings), feed_server.url_for("/news/slow.html"))
        assert result.extra["full_text_error"].startswith("timeout:")

    def test_redirect_to_a_private_address_is_refused(
        self, feed_server: HTTPServer, second_server: HTTPServer
    ) -> None:
        """A page redirecting to a non-public address: the hop is refused, never contacted."""
        serve_pages(feed_server, ())
        second_server.expect_request("/admin").respond_with_data("secret")
        feed_server.expect_request("/news/moved.html").respond_with_data(
            "", status=302, headers={"Location": second_server.url_for("/admin")}
        )
        only_first = ipaddress.ip_address("127.0.0.1")
        settings = local_settings(allow_private_networks=False)
        pages = reader(settings, address_policy=lambda ip: ip == only_first)
        result = self.read(pages, feed_server.url_for("/news/moved.html"))
        assert result.extra["full_text_error"].startswith("ssrf_refused:")
        assert second_server.log == []

    def test_paywall_stub_keeps_the_feed_text(self, feed_server: HTTPServer) -> None:
        """A page marked not free is not used, even with text on it."""
        serve_pages(feed_server, ())
        feed_server.expect_request("/news/paid.html").respond_with_data(
            PAYWALL_PAGE, content_type=HTML
        )
        result = self.read(reader(local_settings()), feed_server.url_for("/news/paid.html"))
        assert result.extra["full_text_error"].startswith("paywall:")
        assert result.body == "A teaser of the story …"

    def test_too_little_text_and_not_html(self, feed_server: HTTPServer) -> None:
        """A page with less text than the minimum, or not HTML at all, is not used."""
        serve_pages(feed_server, ())
        feed_server.expect_request("/news/empty.html").respond_with_data(
            "<html><body><nav>Home</nav><p>Loading…</p></body></html>", content_type=HTML
        )
        feed_server.expect_request("/news/file.pdf").respond_with_data(
            b"%PDF-1.4", content_type="application/pdf"
        )
        pages = reader(local_settings())
        empty = self.read(pages, feed_server.url_for("/news/empty.html"))
        assert empty.extra["full_text_error"].startswith("too_little_text:")
        pdf = self.read(pages, feed_server.url_for("/news/file.pdf"))
        assert pdf.extra["full_text_error"].startswith("not_html:")

    def test_html_served_as_octet_stream_is_still_read(self, feed_server: HTTPServer) -> None:
        """A saved page served without an HTML content type is recognised by its bytes."""
        serve_pages(feed_server, ())
        feed_server.expect_request("/news/saved.html").respond_with_data(
            page_html("yna_co_kr"), content_type="application/octet-stream"
        )
        result = self.read(reader(local_settings()), feed_server.url_for("/news/saved.html"))
        assert result.extra["body_source"] == "page"


class TestFeedsFetch:
    def test_teaser_feed_stores_the_pages_text_with_the_feeds_as_summary(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """`feeds fetch` of a teaser-only feed reads every page before it returns: bodies
        are the pages' text (F1 >= 0.9 against the ground truth), summaries the teasers."""
        serve_pages(feed_server)
        feed_id = add_feed(engine, teaser_feed(feed_server))
        (result,) = feed_service.fetch_feeds(engine=engine, selection=feed_id)
        assert result.error is None and result.summary is not None
        rows = stored(engine)
        assert len(rows) == len(SAVED)
        for name, row in zip(SAVED, rows, strict=True):
            assert row["body_source"] == "page", row["full_text_error"]
            assert shingle_f1(row["body"], truth(name)) >= 0.9
            assert row["summary"].endswith("…")
            assert row["full_text_error"] is None
        assert [row["language"] for row in rows] == ["ar", "zh", "en", "en", "es", "en"]

    def test_unchanged_teasers_do_not_fetch_their_pages_again(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A second fetch of the same teasers stores nothing and requests no page."""
        serve_pages(feed_server, SAVED[:2])
        feed_id = add_feed(engine, teaser_feed(feed_server, SAVED[:2]))
        # This test's pages only: a slow page of an earlier test may still arrive late.
        mine = {f"/news/{name}.html" for name in SAVED[:2]}
        feed_service.fetch_feeds(engine=engine, selection=feed_id)
        pages_before = len([r for r, _ in feed_server.log if r.path in mine])
        (again,) = feed_service.fetch_feeds(engine=engine, selection=feed_id)
        assert (again.unchanged, again.job_id) == (2, None)
        pages_after = len([r for r, _ in feed_server.log if r.path in mine])
        assert pages_after == pages_before == 2

    def test_passing_failure_is_tried_again_and_updates_the_article(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A page that answered 503 is asked again at the next fetch and its text replaces
        the teaser (an article.updated event); a 404 is not asked again."""
        serve_pages(feed_server, ())
        answers = iter([Response("busy", status=503), Response(page_html("yna_co_kr"),
                                                               content_type=HTML)])  # fmt: skip
        feed_server.expect_request("/news/flaky.html").respond_with_handler(lambda _: next(answers))
        feed_server.expect_request("/news/gone.html").respond_with_data("", status=404)
        items = [
            rss_item(1, feed_server.url_for("/news/flaky.html"), description="Flaky teaser …"),
            rss_item(2, feed_server.url_for("/news/gone.html"), description="Gone teaser …"),
        ]
        feed_server.expect_request("/retry.xml").respond_with_data(
            rss_feed(items), content_type=RSS
        )
        feed_id = add_feed(engine, feed_server.url_for("/retry.xml"))
        feed_service.fetch_feeds(engine=engine, selection=feed_id)
        first = stored(engine)
        assert [r["full_text_error"][:8] for r in first] == ["http_503", "http_404"]
        feed_service.fetch_feeds(engine=engine, selection=feed_id)
        flaky, gone = stored(engine)
        assert (flaky["id"], flaky["body_source"], flaky["full_text_error"]) == (
            first[0]["id"], "page", None
        )  # fmt: skip
        assert shingle_f1(flaky["body"], truth("yna_co_kr")) >= 0.9
        assert flaky["summary"] == "Flaky teaser …"
        assert gone["body_source"] == "feed"
        assert len(requests_to(feed_server, "/news/gone.html")) == 1
        with engine.connect() as connection:
            kinds = connection.execute(select(OutboxEvent.event_type)).scalars().all()
        assert sorted(kinds) == ["article.created", "article.created", "article.updated"]

    def test_mode_never_and_full_content_feeds_fetch_no_page(
        self, sqlite_db: str, feed_server: HTTPServer
    ) -> None:
        """A feed set to never, and full-content entries in auto, keep the feed's text."""
        from worker.storage.session import get_engine

        engine = get_engine(sqlite_db)
        serve_pages(feed_server)
        never = add_feed(engine, teaser_feed(feed_server, SAVED[:1], "/never.xml"), "never")
        body = truth("cnn_article")
        feed_server.expect_request("/full.xml").respond_with_data(
            rss_feed([rss_item(9, feed_server.url_for("/news/x.html"), description=body[:300],
                               content=body)]),
            content_type=RSS,
        )  # fmt: skip
        full = add_feed(engine, feed_server.url_for("/full.xml"))
        for feed_id in (never, full):
            feed_service.fetch_feeds(engine=engine, selection=feed_id)
        assert [(r["body_source"], r["full_text_error"]) for r in stored(engine)] == [
            ("feed", None),
            ("feed", None),
        ]
        assert [r for r, _ in feed_server.log if r.path.startswith("/news/")] == []

    def test_teaser_of_a_story_printed_in_full_elsewhere_joins_that_story(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Outlet A prints the story in full; outlet B's teaser links to the page: B's
        article, stored with the page's text, ends in A's story."""
        serve_pages(feed_server, ("cnn_article",))
        text = truth("cnn_article")
        html = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n") if p.strip())
        feed_server.expect_request("/outlet-a.xml").respond_with_data(
            rss_feed([rss_item(1, "https://outlet-a.test/storm", description=text[:200],
                               content=html)]),
            content_type=RSS,
        )  # fmt: skip
        outlet_a = add_feed(engine, feed_server.url_for("/outlet-a.xml"))
        outlet_b = add_feed(
            engine,
            teaser_feed(feed_server, ("cnn_article",), "/outlet-b.xml", teaser=REWRITTEN_TEASER),
        )
        feed_service.fetch_feeds(engine=engine, selection=outlet_a)
        feed_service.fetch_feeds(engine=engine, selection=outlet_b)
        rows = stored(engine)
        first = rows[0]
        assert first["body_source"] == "feed"
        assert len(rows) == 2
        assert rows[1]["body_source"] == "page"
        assert (rows[1]["story_id"], rows[1]["duplicate_of"]) == (first["id"], first["id"])

    def test_teaser_without_full_text_stays_its_own_story(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """The same rewritten teaser with full text off stays a story of its own: the page
        is what links it to the full copy."""
        serve_pages(feed_server, ("cnn_article",))
        text = truth("cnn_article")
        feed_server.expect_request("/outlet-a.xml").respond_with_data(
            rss_feed([rss_item(1, "https://outlet-a.test/storm", description=text[:200],
                               content=text)]),
            content_type=RSS,
        )  # fmt: skip
        outlet_a = add_feed(engine, feed_server.url_for("/outlet-a.xml"))
        outlet_b = add_feed(
            engine,
            teaser_feed(feed_server, ("cnn_article",), "/outlet-b.xml", teaser=REWRITTEN_TEASER),
            "never",
        )
        feed_service.fetch_feeds(engine=engine, selection=outlet_a)
        feed_service.fetch_feeds(engine=engine, selection=outlet_b)
        rows = stored(engine)
        assert len(rows) == 2 and rows[1]["story_id"] == rows[1]["id"]


class TestMetadata:
    def test_rss_entry_metadata_and_channel_language(self) -> None:
        """dc:creator, RSS author's name, categories, media:content and the channel's
        <language> become the entry's authors, tags, image and language."""
        items = [
            rss_item(1, "https://n.test/1", description="Kurz.", extra=(
                "<dc:creator>Anna Muster</dc:creator><category>Politik</category>"
                "<category>Inland</category>"
                '<media:content url="https://img.test/1.jpg" medium="image"/>'
            )),
            rss_item(2, "https://n.test/2", description="Kurz.", extra=(
                "<author>bob@n.test (Bob Beispiel)</author>"
                '<enclosure url="https://img.test/2.png" type="image/png" length="1"/>'
            )),
        ]  # fmt: skip
        parsed = parse_feed(rss_feed(items, channel_extra="<language>de-DE</language>"),
                            feed_url="https://n.test/rss")  # fmt: skip
        first, second = (article_metadata(e.extra) for e in parsed.entries)
        assert first == {
            "summary": None, "body_source": None, "full_text_error": None, "language": "de",
            "authors": ["Anna Muster"], "tags": ["Politik", "Inland"],
            "image_url": "https://img.test/1.jpg",
        }  # fmt: skip
        assert (second["authors"], second["image_url"]) == (
            ["Bob Beispiel"],
            "https://img.test/2.png",
        )
        assert parsed.entries[0].extra["has_content"] is False

    def test_atom_entry_metadata(self) -> None:
        """Atom author names, category labels or terms, xml:lang and an image enclosure."""
        atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr"><title>Actu</title><id>urn:f</id>
<updated>2024-05-01T10:00:00Z</updated>
<entry><title>Un</title><id>urn:1</id><updated>2024-05-01T10:00:00Z</updated>
<link href="https://n.test/1"/><link rel="enclosure" type="image/jpeg" href="/img/1.jpg"/>
<author><name>Claire Dupont</name></author><author><name>Jean Martin</name></author>
<category term="monde" label="Monde"/><category term="europe"/>
<content type="html">&lt;p&gt;Le texte.&lt;/p&gt;</content></entry>
<entry xml:lang="en"><title>Two</title><id>urn:2</id><updated>2024-05-01T10:00:00Z</updated>
<link href="https://n.test/2"/><summary>Text.</summary></entry></feed>"""
        first, second = parse_feed(atom, feed_url="https://n.test/atom").entries
        meta = article_metadata(first.extra)
        assert meta["authors"] == ["Claire Dupont", "Jean Martin"]
        assert meta["tags"] == ["Monde", "europe"]
        assert (meta["language"], meta["image_url"]) == ("fr", "https://n.test/img/1.jpg")
        assert "has_content" not in first.extra
        assert (language_tag(second.extra.get("language")), second.extra["has_content"]) == (
            "en",
            False,
        )

    def test_page_fills_what_the_entry_lacks_and_the_entry_wins(
        self, feed_server: HTTPServer
    ) -> None:
        """Metadata come from the entry first, the page second."""
        serve_pages(feed_server, ("cnn_article",))
        pages = reader(local_settings())
        url = feed_server.url_for("/news/cnn_article.html")
        bare = raw_entry(url)
        tagged = bare.model_copy(update={"extra": {"authors": ["Desk"], "language": "de"}})
        from_page = full_text.with_page(bare, "A teaser", settings=pages.settings, reader=pages)
        own = full_text.with_page(tagged, "A teaser", settings=pages.settings, reader=pages)
        assert "Dana A Ford" in from_page.extra["authors"]
        assert from_page.extra["language"] == "en"
        assert from_page.extra["image_url"].startswith("http://i2.cdn.turner.com/")
        assert (own.extra["authors"], own.extra["language"]) == (["Desk"], "de")

    def test_undeclared_language_is_detected_offline(self) -> None:
        """Without a declared language, the text's language is detected (no download)."""
        raw = RawArticle(body="Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen, "
                              "das die Mieten in den Städten begrenzen soll.")  # fmt: skip
        done = full_text.finish_without_page(raw, raw.body)
        assert done.extra["language"] == "de"
        assert "language" not in full_text.finish_without_page(RawArticle(body="Hi"), "Hi").extra

    def test_metadata_in_api_filters_exports_and_events(
        self, engine: Any, feed_server: HTTPServer, tmp_path: Path
    ) -> None:
        """Stored metadata show in ArticlePublic, every export format and the event payload;
        the language filter narrows the API search, the CLI and the export."""
        serve_pages(feed_server, ("spanish_article", "yna_co_kr"))
        feed_id = add_feed(engine, teaser_feed(feed_server, ("spanish_article", "yna_co_kr")))
        feed_service.fetch_feeds(engine=engine, selection=feed_id)

        spanish = search.find_articles(engine=engine, where=search.ArticleFilter(language="es-ES"))
        (article,) = spanish.articles
        assert (article.language, article.body_source, article.full_text_error) == (
            "es",
            "page",
            None,
        )
        assert article.summary and article.summary.endswith("…")
        assert article.authors and article.tags
        assert [
            a.language
            for a in search.iter_articles(engine=engine, where=search.ArticleFilter(language="en"))
        ] == ["en"]

        record = export.article_record(article)
        assert {"summary", "body_source", "full_text_error", "language", "authors", "tags",
                "image_url"} <= set(record)  # fmt: skip
        buffer = io.StringIO()
        export.write_csv(iter([record]), buffer)
        row = next(csv.DictReader(io.StringIO(buffer.getvalue())))
        assert (row["language"], json.loads(row["authors"])) == ("es", article.authors)
        pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        export.write_parquet(iter([record]), str(tmp_path / "a.parquet"))
        table = pq.read_table(tmp_path / "a.parquet").to_pylist()
        assert (table[0]["language"], table[0]["tags"]) == ("es", article.tags)

        with engine.connect() as connection:
            payloads = connection.execute(select(OutboxEvent.payload)).scalars().all()
        events = [ArticleEvent.model_validate(p) for p in payloads]
        assert sorted((e.language, e.body_source) for e in events) == [
            ("en", "page"),
            ("es", "page"),
        ]

    def test_cli_language_filter_and_feeds_add_full_text(self, sqlite_db: str) -> None:
        """`articles --language` and `export --language` filter; `feeds add --full-text`
        sets the feed's mode."""
        from worker.storage.session import get_engine

        engine = get_engine(sqlite_db)
        runner = CliRunner()
        added = runner.invoke(cli, ["feeds", "add", "https://n.test/rss", "--full-text",
                                    "always", "--json"])  # fmt: skip
        assert added.exit_code == 0, added.output
        assert json.loads(added.stdout.strip().splitlines()[-1])["full_text"] == "always"
        bad = runner.invoke(cli, ["feeds", "add", "https://n.test/x", "--full-text", "maybe"])
        assert bad.exit_code != 0
        with engine.connect() as connection:
            assert full_text_rows.feed_full_text_mode(connection=connection, feed_id=1) == "always"

        documents = [
            {"body": "Ein Text über die Brücke. " * 5, "extra": {"language": "de-AT"}},
            {"body": "Un texte sur le pont. " * 5, "extra": {"language": "fr"}},
        ]
        job_id = job_service.create_job(engine=engine)
        (part_no,) = job_service.add_article_parts(
            engine=engine, job_id=job_id, documents=documents, batch_size=10
        )
        part_service.run_part(engine=engine, job_id=job_id, part_no=part_no)
        listed = runner.invoke(cli, ["articles", "--language", "de", "--json"])
        assert listed.exit_code == 0, listed.output
        assert [a["language"] for a in json.loads(listed.stdout.strip().splitlines()[-1])] == ["de"]
        exported = runner.invoke(cli, ["export", "--language", "fr"])
        lines = [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
        assert [line["language"] for line in lines] == ["fr"]


class TestWorker:
    def test_feed_fetch_on_a_worker_leaves_pages_to_their_own_part(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """With `send_pages`, the feed fetch stores no teaser and queues "full_text" parts;
        running a part reads its pages, then stores the articles, once."""
        serve_pages(feed_server, SAVED[:2])
        feed_id = add_feed(engine, teaser_feed(feed_server, SAVED[:2]))
        queued: list[tuple[str, int, str]] = []
        result = feed_service.fetch_feed_now(
            engine=engine, feed_id=feed_id, send_pages=lambda *part: queued.append(part)
        )
        assert result.error is None and stored(engine) == []
        assert [r for r, _ in feed_server.log if r.path.startswith("/news/")] == []
        ((job_id, part_no, kind),) = queued
        assert kind == "full_text"
        summary = full_text.run_full_text_part(
            engine=engine, job_id=job_id, part_no=part_no, time_limit_s=60
        )
        assert summary is not None and summary.new == 2
        assert [r["body_source"] for r in stored(engine)] == ["page", "page"]
        assert full_text.run_full_text_part(engine=engine, job_id=job_id, part_no=part_no) is None
        with engine.connect() as connection:
            part = connection.execute(select(IngestJobPart.kind, IngestJobPart.status)).one()
        assert tuple(part) == ("articles", "done")

    def test_real_worker_reads_pages_in_feeds_full_text(
        self, celery_worker: Any, feed_server: HTTPServer
    ) -> None:
        """A real worker's `feeds.fetch` hands the teasers to `feeds.full_text`, which
        stores them with their pages' text."""
        from worker.app import app
        from worker.storage.session import get_engine

        engine = get_engine()
        serve_pages(feed_server, SAVED[:2])
        feed_id = add_feed(engine, teaser_feed(feed_server, SAVED[:2]))
        app.send_task("feeds.fetch", kwargs={"feed_id": feed_id})
        rows = wait_for(lambda: len(stored(engine)) == 2 and stored(engine), what="2 articles")
        assert [r["body_source"] for r in rows] == ["page", "page"]
