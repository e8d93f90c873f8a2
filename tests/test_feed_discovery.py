"""Subscribing by a site's address, against local HTTP servers laid out like real sites:
`<link rel="alternate">` discovery, the usual paths, the SSRF guard and the host's
politeness on every request, and the CLI, API and OPML ways in. Never the internet."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from typer.testing import CliRunner

from tests import feeds_fixtures
from tests.apiserver import running_api
from tests.feeds_fixtures import local_settings
from worker.cli import app as cli
from worker.errors import FetchError
from worker.services import discovery
from worker.services.politeness import host_gate
from worker.settings import get_settings
from worker.sources.discover import alternate_links
from worker.sources.fetch import new_client
from worker.storage.models import Source

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server
second_server = feeds_fixtures.second_server

RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def rss(title: str, n: int = 2) -> bytes:
    items = "".join(
        f"<item><title>{title} {i}</title><link>https://site.example/{i}</link>"
        f"<description>Entry {i} of {title}.</description></item>"
        for i in range(n)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://site.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def json_feed(title: str) -> bytes:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": title,
            "items": [{"id": "1", "content_text": "Hello.", "url": "https://site.example/1"}],
        }
    ).encode()


def page(head: str) -> bytes:
    return f"<!doctype html><html><head><title>Home</title>{head}</head><body><p>Hi</p></body></html>".encode()


@pytest.fixture(autouse=True)
def _fresh_gates(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A flushed Redis for the host limits and no request spacing (fresh gates: the
    registry is closed after every test)."""
    monkeypatch.setenv("NEWS_INGEST_PER_HOST_RATE_PER_MINUTE", "600000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def paths(server: HTTPServer) -> list[str]:
    return [request.full_path.rstrip("?") for request, _ in server.log]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def last_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def feed_urls(engine: Any) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(Source.name)).scalars())


class TestSiteLayouts:
    def test_wordpress_layout_offers_the_posts_feed_before_the_comments_feed(
        self, feed_server: HTTPServer
    ) -> None:
        """A page listing a posts feed and a comments feed: the posts feed is best, both found."""
        feed_server.expect_request("/").respond_with_data(
            page(
                '<link rel="alternate" type="application/rss+xml" title="Blog &raquo; Comments Feed" '
                'href="/comments/feed/">'
                '<link rel="alternate" type="application/rss+xml" title="Blog &raquo; Feed" href="/feed/">'
            ),
            content_type=HTML,
        )
        feed_server.expect_request("/feed/").respond_with_data(rss("Blog"), content_type=RSS)
        feed_server.expect_request("/comments/feed/").respond_with_data(
            rss("Comments on Blog"), content_type=RSS
        )
        found = discovery.discover(feed_server.url_for("/"), settings=local_settings())
        assert [(f.url, f.found_by, f.comments) for f in found.feeds] == [
            (feed_server.url_for("/feed/"), "link", False),
            (feed_server.url_for("/comments/feed/"), "link", True),
        ]
        assert "/feed" not in paths(feed_server)  # links answered: no path guessing

    def test_hugo_layout_without_links_is_found_at_a_common_path(
        self, feed_server: HTTPServer
    ) -> None:
        """A page with no feed links: the usual paths are tried in order until one is a feed."""
        feed_server.expect_request("/").respond_with_data(page(""), content_type=HTML)
        feed_server.expect_request("/index.xml").respond_with_data(rss("Hugo"), content_type=RSS)
        found = discovery.discover(feed_server.url_for("/"), settings=local_settings())
        assert [(f.url, f.found_by, f.format) for f in found.feeds] == [
            (feed_server.url_for("/index.xml"), "path", "rss20")
        ]
        assert paths(feed_server) == ["/", "/feed", "/rss", "/atom.xml", "/index.xml"]

    def test_json_feed_link_is_resolved_against_the_base_element(
        self, feed_server: HTTPServer
    ) -> None:
        """A JSON Feed listed with a relative href under <base href> is found there."""
        feed_server.expect_request("/journal/").respond_with_data(
            page(
                '<base href="/static/"><link rel="alternate" type="application/feed+json" '
                'title="Journal" href="feed.json">'
            ),
            content_type=HTML,
        )
        feed_server.expect_request("/static/feed.json").respond_with_data(
            json_feed("Journal"), content_type="application/feed+json"
        )
        found = discovery.discover(feed_server.url_for("/journal/"), settings=local_settings())
        assert [(f.url, f.format, f.title) for f in found.feeds] == [
            (feed_server.url_for("/static/feed.json"), "json11", "Journal")
        ]

    def test_blog_in_a_section_is_found_below_the_section(self, feed_server: HTTPServer) -> None:
        """A blog at /blog/ without links: /blog/feed is tried before the site's root paths."""
        feed_server.expect_request("/blog/").respond_with_data(page(""), content_type=HTML)
        feed_server.expect_request("/blog/feed").respond_with_data(rss("Section"), content_type=RSS)
        found = discovery.discover(feed_server.url_for("/blog/"), settings=local_settings())
        assert [f.url for f in found.feeds] == [feed_server.url_for("/blog/feed")]
        assert paths(feed_server) == ["/blog/", "/blog/feed"]

    def test_a_feed_address_is_its_own_answer(self, feed_server: HTTPServer) -> None:
        """A feed's own URL is found directly, with one request."""
        feed_server.expect_request("/rss.xml").respond_with_data(rss("Direct"), content_type=RSS)
        found = discovery.discover(feed_server.url_for("/rss.xml"), settings=local_settings())
        assert [(f.found_by, f.entries) for f in found.feeds] == [("direct", 2)]
        assert paths(feed_server) == ["/rss.xml"]

    def test_a_link_that_is_not_a_feed_is_reported_not_offered(
        self, feed_server: HTTPServer
    ) -> None:
        """A listed feed URL serving HTML is a problem noted, and the paths are tried next."""
        feed_server.expect_request("/").respond_with_data(
            page('<link rel="alternate" type="application/atom+xml" href="/broken">'),
            content_type=HTML,
        )
        feed_server.expect_request("/broken").respond_with_data(page(""), content_type=HTML)
        feed_server.expect_request("/atom.xml").respond_with_data(rss("Atom"), content_type=RSS)
        found = discovery.discover(feed_server.url_for("/"), settings=local_settings())
        assert [f.url for f in found.feeds] == [feed_server.url_for("/atom.xml")]
        assert any("/broken: not a feed" in problem for problem in found.problems)

    def test_alternate_links_ignore_other_types_and_script_urls(self) -> None:
        """Only feed types with http(s) targets are taken; duplicates and fragments folded."""
        html = (
            '<link rel="alternate" hreflang="fr" type="text/html" href="/fr/">'
            '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
            '<link rel="alternate stylesheet" type="text/css" href="/s.css">'
            '<LINK REL="Alternate" TYPE="application/rss+xml; charset=utf-8" HREF="/a#x">'
            '<link rel="alternate" type="application/rss+xml" href="/a">'
        )
        assert alternate_links(html, base="https://site.example/x/") == [
            ("https://site.example/a", None)
        ]


class TestGuards:
    def test_every_candidate_passes_the_ssrf_guard(
        self, feed_server: HTTPServer, second_server: HTTPServer
    ) -> None:
        """A page linking to a refused address: the link is never requested, only reported."""
        feed_server.expect_request("/").respond_with_data(
            page(
                '<link rel="alternate" type="application/rss+xml" '
                f'href="{second_server.url_for("/internal.xml")}">'
            ),
            content_type=HTML,
        )
        second_server.expect_request("/internal.xml").respond_with_data(rss("Inside"))

        def policy(ip: Any) -> bool:
            return ip != ipaddress.ip_address("127.0.0.2")

        settings = local_settings()
        with new_client(settings, address_policy=policy) as client:
            found = discovery.discover(feed_server.url_for("/"), settings=settings, client=client)
        assert found.feeds == []
        assert second_server.log == []
        assert any("refused" in problem for problem in found.problems)

    def test_the_site_address_itself_is_refused_on_a_private_network(
        self, feed_server: HTTPServer
    ) -> None:
        """Without ALLOW_PRIVATE_NETWORKS a loopback site is refused before any request."""
        feed_server.expect_request("/").respond_with_data(page(""), content_type=HTML)
        with pytest.raises(FetchError) as refused:
            discovery.discover(
                feed_server.url_for("/"), settings=local_settings(allow_private_networks=False)
            )
        assert refused.value.kind == "ssrf_refused"
        assert feed_server.log == []

    def test_a_host_asking_to_wait_is_not_asked_again(self, feed_server: HTTPServer) -> None:
        """A 429 with Retry-After on one candidate stops every later request to that host."""
        feed_server.expect_request("/").respond_with_data(page(""), content_type=HTML)
        feed_server.expect_request("/feed").respond_with_data(
            "slow down", status=429, headers={"Retry-After": "3600"}
        )
        settings = local_settings()
        found = discovery.discover(feed_server.url_for("/"), settings=settings)
        assert found.feeds == []
        assert paths(feed_server) == ["/", "/feed"]
        assert host_gate(settings, require_shared=False).retry_after_s("127.0.0.1") > 3000


class TestSubscribing:
    def _site(self, server: HTTPServer) -> None:
        server.expect_request("/").respond_with_data(
            page(
                '<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml">'
                '<link rel="alternate" type="application/feed+json" title="JSON" href="/feed.json">'
            ),
            content_type=HTML,
        )
        server.expect_request("/atom.xml").respond_with_data(rss("Main"), content_type=RSS)
        server.expect_request("/feed.json").respond_with_data(
            json_feed("Main JSON"), content_type="application/feed+json"
        )

    def test_feeds_add_registers_the_best_feed_of_a_site(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """`feeds add SITE` registers the first listed feed, with its title."""
        self._site(feed_server)
        added = last_json(invoke("feeds", "add", feed_server.url_for("/"), "--json"))
        assert (added["url"], added["title"], added["created"]) == (
            feed_server.url_for("/atom.xml"),
            "Main",
            True,
        )
        assert feed_urls(engine) == [feed_server.url_for("/atom.xml")]

    def test_feeds_add_all_found_registers_every_feed(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """`--all-found` registers every feed the address led to."""
        self._site(feed_server)
        added = last_json(invoke("feeds", "add", feed_server.url_for("/"), "--all-found", "--json"))
        assert sorted(a["url"] for a in added) == feed_urls(engine)
        assert len(added) == 2

    def test_feeds_discover_lists_without_registering(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """`feeds discover --json` lists the feeds found and registers nothing."""
        self._site(feed_server)
        found = last_json(invoke("feeds", "discover", feed_server.url_for("/"), "--json"))
        assert [(f["url"], f["format"]) for f in found["feeds"]] == [
            (feed_server.url_for("/atom.xml"), "rss20"),
            (feed_server.url_for("/feed.json"), "json11"),
        ]
        assert feed_urls(engine) == []

    def test_a_site_without_feeds_is_a_one_line_error(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """An HTML page leading to no feed: `feeds add` exits 1 and registers nothing."""
        feed_server.expect_request("/").respond_with_data(page(""), content_type=HTML)
        result = invoke("feeds", "add", feed_server.url_for("/"))
        assert result.exit_code == 1
        assert result.stderr.startswith("news-ingest: error: no feed found at")
        assert feed_urls(engine) == []
        assert invoke("feeds", "discover", feed_server.url_for("/")).exit_code == 1

    def test_an_unreachable_address_is_registered_as_given(self, engine: Any) -> None:
        """A site that cannot be reached now is registered as given, with a warning."""
        result = invoke("feeds", "add", "http://127.0.0.1:9/feed.xml")
        assert result.exit_code == 0
        assert "could not check" in result.stderr
        assert feed_urls(engine) == ["http://127.0.0.1:9/feed.xml"]

    def test_opml_outline_with_only_a_site_address_is_discovered(
        self, engine: Any, feed_server: HTTPServer, tmp_path: Path
    ) -> None:
        """An OPML outline with htmlUrl and no xmlUrl subscribes the site's feed."""
        self._site(feed_server)
        opml = tmp_path / "subs.opml"
        opml.write_text(
            '<opml version="2.0"><body>'
            f'<outline text="Site" htmlUrl="{feed_server.url_for("/")}"/>'
            '<outline text="Plain" xmlUrl="https://plain.example/rss"/>'
            "</body></opml>"
        )
        summary = last_json(invoke("feeds", "import", str(opml), "--json"))
        assert (summary["added"], summary["invalid"]) == (2, [])
        assert feed_urls(engine) == sorted(
            [feed_server.url_for("/atom.xml"), "https://plain.example/rss"]
        )

    def test_api_post_feeds_subscribes_a_site(
        self,
        postgres_db: str,
        feed_server: HTTPServer,
        second_server: HTTPServer,
        tmp_path: Path,
    ) -> None:
        """POST /feeds with a site's address registers its best feed; no feed is a 422."""
        self._site(feed_server)
        second_server.expect_request("/empty/").respond_with_data(page(""), content_type=HTML)
        with running_api(postgres_db, tmp_path / "api.log") as server, server.client() as api:
            created = api.post("/feeds", json={"url": feed_server.url_for("/")})
            assert created.status_code == 201, created.text
            assert created.json()["url"] == feed_server.url_for("/atom.xml")
            empty = api.post("/feeds", json={"url": second_server.url_for("/empty/")})
            assert empty.status_code == 422


class TestRedirects:
    def test_permanent_redirect_is_followed_temporary_one_kept(
        self, feed_server: HTTPServer
    ) -> None:
        """A feed behind a 301 is registered at its new URL; behind a 302, at the one given."""
        feed_server.expect_request("/old.xml").respond_with_data(
            "", status=301, headers={"Location": "/new.xml"}
        )
        feed_server.expect_request("/today.xml").respond_with_data(
            "", status=302, headers={"Location": "/new.xml"}
        )
        feed_server.expect_request("/new.xml").respond_with_data(rss("Moved"), content_type=RSS)
        moved = discovery.discover(feed_server.url_for("/old.xml"), settings=local_settings())
        assert [f.url for f in moved.feeds] == [feed_server.url_for("/new.xml")]
        temporary = discovery.discover(feed_server.url_for("/today.xml"), settings=local_settings())
        assert [f.url for f in temporary.feeds] == [feed_server.url_for("/today.xml")]
