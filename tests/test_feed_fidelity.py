"""Entries read as publishers mean them and as established parsers read them: JSON Feed,
original links, the right base for relative links, fragments that identify, non-http
permalinks, dates in any zone; and the agreement with peers' test suites (>= 95% per
field, no crash). The end-to-end cases run against a local HTTP server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from tests import feeds_fixtures
from tests.peer_cases import PEER_CASES
from tests.peer_fidelity import FIELDS, feedparser_cases, score
from tests.test_feeds import (
    _feed_environment,  # noqa: F401 -- autouse fixture: flushed Redis, fresh gates
    add_feed,
    fetch,
)
from worker.pipeline.normalize import normalize_article
from worker.sources.feed_parser import parse_feed
from worker.sources.json_feed import looks_like_json_feed, parse_json_feed
from worker.storage.models import Article

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server

FEED_URL = "https://feeds.example/feed.xml"


def parse(document: bytes | str, **headers: str) -> Any:
    content = document.encode() if isinstance(document, str) else document
    return parse_feed(content, feed_url=FEED_URL, headers=headers)


def rss(items: str, *, link: str = "https://site.example/", ns: str = "") -> str:
    return (
        f'<rss version="2.0"{ns}><channel><title>T</title><link>{link}</link>'
        f"<description>d</description>{items}</channel></rss>"
    )


JSON_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON Example",
    "home_page_url": "https://site.example/",
    "language": "en",
    "authors": [{"name": "Feed Author"}],
    "items": [
        {
            "id": "2",
            "title": "Second",
            "url": "https://site.example/2",
            "content_html": "<p>Second <b>post</b>, the long one.</p>",
            "content_text": "Second post.",
            "summary": "A summary",
            "date_published": "2020-01-02T14:00:00-07:00",
            "date_modified": "2020-01-04T01:00:00+0100",
            "authors": [{"name": "Joe", "url": "https://joe.example/"}],
            "tags": ["markets", " ", 3, "rates"],
            "image": "https://site.example/2.png",
        },
        {"id": 1, "url": "/1", "content_text": "First post, text only."},
        "not an object",
    ],
}


class TestJsonFeed:
    def test_json_feed_11_becomes_the_same_entries_as_rss(self) -> None:
        """Items map to RawArticles: id as guid, HTML body preferred, dates in UTC."""
        feed = parse(json.dumps(JSON_11), **{"Content-Type": "application/feed+json"})
        assert (feed.version, feed.title, feed.site_url) == (
            "json11",
            "JSON Example",
            "https://site.example/",
        )
        second, first = feed.entries
        assert (second.guid, second.title, second.url) == ("2", "Second", "https://site.example/2")
        assert (second.content_type, second.body) == (
            "text/html",
            "<p>Second <b>post</b>, the long one.</p>",
        )
        assert second.published_at == "2020-01-02T21:00:00+00:00"
        assert (first.guid, first.url, first.content_type) == (
            "1",
            "https://site.example/1",
            "text/plain",
        )
        assert first.title is None
        assert any("item 3 is not an object" in w for w in feed.warnings)

    def test_metadata_is_in_feedparser_shape(self) -> None:
        """Authors, tags, image, language and modified date come as feedparser names them."""
        document = parse_json_feed(json.dumps(JSON_11).encode())
        assert document is not None
        item = document.entries[0]
        assert item["authors"] == [{"name": "Joe", "href": "https://joe.example/"}]
        assert item["author"] == "Joe"
        assert [t["term"] for t in item["tags"]] == ["markets", "rates"]
        assert item["image"] == {"href": "https://site.example/2.png"}
        assert item["language"] == "en"
        assert item["updated_parsed"][:6] == (2020, 1, 4, 0, 0, 0)
        assert document.entries[1]["authors"] == [{"name": "Feed Author"}]

    def test_json_feed_10_author_and_served_as_text(self) -> None:
        """Version 1 (`author`, numeric id) is read, and sniffed when served as text/plain."""
        document = {
            "version": "https://jsonfeed.org/version/1",
            "items": [{"id": 7, "title": "Old", "content_text": "x", "author": {"name": "Ann"}}],
        }
        raw = json.dumps(document).encode()
        assert looks_like_json_feed(raw, "text/plain")
        feed = parse(raw, **{"Content-Type": "text/plain"})
        assert feed.version == "json10"
        assert feed.entries[0].guid == "7"

    @pytest.mark.parametrize(
        "document",
        [b"{not json", b'{"version": "https://jsonfeed.org/version/1.1", "items": 5}', b"[1, 2]"],
    )
    def test_broken_json_feeds_never_raise(self, document: bytes) -> None:
        """Malformed JSON Feed gives no entries (and a warning when it claimed to be one)."""
        feed = parse(document, **{"Content-Type": "application/feed+json"})
        assert feed.entries == []

    def test_json_feed_is_fetched_with_its_media_type_and_stored(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """The fetch asks for application/feed+json; the items reach the article table."""
        feed_server.expect_request("/feed.json").respond_with_data(
            json.dumps(JSON_11), content_type="application/feed+json"
        )
        feed = add_feed(engine, feed_server.url_for("/feed.json"))
        result = fetch(engine, feed.id)
        assert (result.outcome, result.summary.new) == ("fetched", 2)
        (request, _), *_ = feed_server.log
        assert "application/feed+json" in request.headers["Accept"]
        with engine.connect() as connection:
            urls = set(connection.execute(select(Article.url)).scalars())
        assert urls == {"https://site.example/2", "https://site.example/1"}


class TestLinks:
    def test_feedburner_and_pheedo_original_links_win(self) -> None:
        """origLink is the entry's URL; the redirector is not kept."""
        items = (
            "<item><title>a</title><link>http://feedproxy.google.com/~r/x/~3/1/</link>"
            "<feedburner:origLink>https://site.example/a</feedburner:origLink></item>"
            "<item><title>b</title><link>http://www.pheedo.com/click.phdo?i=2</link>"
            "<pheedo:origLink>https://site.example/b</pheedo:origLink></item>"
        )
        ns = (
            ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
            ' xmlns:pheedo="http://www.pheedo.com/namespace/pheedo"'
        )
        assert [e.url for e in parse(rss(items, ns=ns)).entries] == [
            "https://site.example/a",
            "https://site.example/b",
        ]

    def test_relative_links_resolve_against_xml_base_then_channel_then_feed(self) -> None:
        """xml:base first, then the channel's link, then the feed URL."""
        atom = (
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/d/">'
            '<title>t</title><entry><id>1</id><title>x</title><link href="p/1"/></entry></feed>'
        )
        assert parse(atom).entries[0].url == "https://base.example/d/p/1"
        channel = rss(
            "<item><title>x</title><link>p/2</link></item>", link="https://site.example/b/"
        )
        assert parse(channel).entries[0].url == "https://site.example/b/p/2"
        bare = '<rss version="2.0"><channel><title>t</title><item><title>x</title><link>/p/3</link></item></channel></rss>'
        assert parse(bare).entries[0].url == "https://feeds.example/p/3"

    def test_fragment_kept_only_where_it_tells_entries_apart(self) -> None:
        """Links equal but for #fragment keep it through canonicalization; a lone one loses it."""
        items = (
            "<item><title>v2</title><link>https://site.example/log#v2</link><description>Two.</description></item>"
            "<item><title>v1</title><link>https://site.example/log#v1</link><description>One.</description></item>"
            "<item><title>x</title><link>https://site.example/x#top</link><description>X.</description></item>"
        )
        entries = parse(rss(items)).entries
        assert [normalize_article(e).url for e in entries] == [
            "https://site.example/log#v2",
            "https://site.example/log#v1",
            "https://site.example/x",
        ]

    def test_fragment_entries_are_two_articles_when_stored(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """A changelog feed whose entries differ only by #fragment stores every entry."""
        items = "".join(
            f"<item><title>Release {n}</title><link>https://site.example/changelog#v{n}</link>"
            f"<description>Release {n} fixes bug number {n * 7} and adds feature {n * 3}.</description></item>"
            for n in (1, 2, 3)
        )
        feed_server.expect_request("/feed.xml").respond_with_data(
            rss(items), content_type="application/rss+xml"
        )
        feed = add_feed(engine, feed_server.url_for("/feed.xml"))
        assert fetch(engine, feed.id).summary.new == 3

    def test_non_http_permalinks_are_guids_never_urls(self) -> None:
        """at://, urn: and tag: permalinks identify the entry but are never its URL."""
        items = (
            "<item><title>a</title><link>at://did:plc:x/app.bsky.feed.post/1</link><description>a</description></item>"
            "<item><title>b</title><guid>tag:site.example,2024:b</guid><description>b</description></item>"
            '<item><title>c</title><guid isPermaLink="false">urn:uuid:c</guid>'
            "<link>https://site.example/c</link><description>c</description></item>"
        )
        entries = parse(rss(items)).entries
        assert [(e.guid, e.url) for e in entries] == [
            ("at://did:plc:x/app.bsky.feed.post/1", None),
            ("tag:site.example,2024:b", None),
            ("urn:uuid:c", "https://site.example/c"),
        ]
        assert entries[0].extra["link_dropped"] == "not an http(s) URL"


class TestTitlesAndDates:
    def test_trailing_period_of_a_title_is_kept(self) -> None:
        """A feed's title ending in a period is stored as written."""
        (entry,) = parse(
            rss("<item><title>Markets closed higher.</title><description>x</description></item>")
        ).entries
        assert normalize_article(entry).title == "Markets closed higher."

    def test_plain_text_title_keeps_angle_brackets(self) -> None:
        """ "1 < 2 and <b>" in a text title are characters, not markup to strip."""
        atom = (
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id>'
            '<title type="text">Why &lt;b&gt; is not bold &amp; 1 &lt; 2</title><content>x</content></entry></feed>'
        )
        assert normalize_article(parse(atom).entries[0]).title == "Why <b> is not bold & 1 < 2"

    @pytest.mark.parametrize(
        ("written", "utc"),
        [
            ("Mon, 01 Jul 2019 09:00:00 BST", "2019-07-01T08:00:00+00:00"),
            ("Wed, 14 Aug 2019 12:30:00 CEST", "2019-08-14T10:30:00+00:00"),
            ("Thu, 05 Dec 2019 10:00:00 AEST", "2019-12-05T00:00:00+00:00"),
            ("Tue, 10 Jun 2003 04:00:00 PDT", "2003-06-10T11:00:00+00:00"),
            ("20031231T101455Z", "2003-12-31T10:14:55+00:00"),
            ("Sun, 19 May 2002 15:21:36 XYZ", "2002-05-19T15:21:36+00:00"),
        ],
    )
    def test_zone_names_feedparser_does_not_know_are_applied(self, written: str, utc: str) -> None:
        """European, Asian and Pacific zone names shift to UTC; unknown names read as UTC."""
        (entry,) = parse(rss(f"<item><title>t</title><pubDate>{written}</pubDate></item>")).entries
        assert entry.published_at == utc

    def test_atom_03_dates_are_not_shifted(self) -> None:
        """Atom 0.3 issued/modified with Z, offsets and fractions read exactly (feedparser 6)."""
        for written, utc in (
            ("2004-01-01T19:48:21Z", "2004-01-01T19:48:21+00:00"),
            ("2004-07-01T10:14:55+01:00", "2004-07-01T09:14:55+00:00"),
            ("2003-12-13T18:30:02.25-05:00", "2003-12-13T23:30:02+00:00"),
        ):
            document = (
                '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><entry>'
                f"<title>x</title><id>1</id><issued>{written}</issued><modified>{written}</modified>"
                "<content>b</content></entry></feed>"
            )
            assert parse(document).entries[0].published_at == utc


class TestPeerAgreement:
    def test_peer_cases_agree_on_every_field_and_never_crash(self) -> None:
        """gofeed, Miniflux, reader and ROME cases: >= 95% per field, no crash."""
        total = score(PEER_CASES)["all"]
        assert total.crashes == []
        for name in FIELDS:
            assert total.fields[name].rate >= 0.95, (name, total.differences)
        assert {case.suite for case in PEER_CASES} == {"gofeed", "miniflux", "reader", "rome"}

    def test_feedparser_test_feeds_agree_and_never_crash(self) -> None:
        """feedparser's own expectations about entries: >= 95% per field, no crash."""
        total = score(feedparser_cases())["all"]
        assert total.cases > 500
        assert total.crashes == []
        for name in FIELDS:
            assert total.fields[name].rate >= 0.95, (name, total.differences[:20])
