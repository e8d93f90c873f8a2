"""worker.sources.fetch against local HTTP servers: conditional GET, limits, redirects,
status mapping, and SSRF refusal at connect time. Never the internet."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import ssl
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import feeds_fixtures
from tests.feeds_fixtures import (
    gzip_bomb,
    local_settings,
    raw_socket_server,
    rss_document,
    rss_items,
    trickle,
)
from worker import USER_AGENT
from worker.errors import FetchError
from worker.settings import Settings
from worker.sources.fetch import (
    FeedClient,
    fetch_feed,
    is_public_address,
    new_client,
    parse_retry_after,
)

FEED = rss_document(rss_items(3))

# Fixtures shared with the other feed tests, kept out of conftest.py; bound here by
# assignment so pytest finds them in this module.
_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server
second_server = feeds_fixtures.second_server


def _fetch_error(url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch_feed(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


class TestConditionalGet:
    def test_200_returns_body_validators_and_lowercase_headers(
        self, feed_server: HTTPServer
    ) -> None:
        """A 200 gives the body, ETag, Last-Modified and lower-case header names."""
        feed_server.expect_request("/feed.xml").respond_with_data(
            FEED,
            content_type="application/rss+xml; charset=utf-8",
            headers={
                "ETag": '"v1"',
                "Last-Modified": "Mon, 01 Jan 2024 10:00:00 GMT",
                "Cache-Control": "max-age=600",
            },
        )
        result = fetch_feed(feed_server.url_for("/feed.xml"), settings=local_settings())
        assert result.status == 200
        assert result.content == FEED
        assert result.etag == '"v1"'
        assert result.last_modified == "Mon, 01 Jan 2024 10:00:00 GMT"
        assert result.headers["content-type"].startswith("application/rss+xml")
        assert result.headers["cache-control"] == "max-age=600"
        assert result.url == feed_server.url_for("/feed.xml")
        assert result.elapsed_s > 0

    def test_request_names_news_ingest_and_asks_for_feeds(self, feed_server: HTTPServer) -> None:
        """The request carries our User-Agent, a feed Accept header and no conditional headers."""
        feed_server.expect_request("/feed.xml").respond_with_data(FEED)
        fetch_feed(feed_server.url_for("/feed.xml"), settings=local_settings())
        request = feed_server.log[0][0]
        assert request.headers["User-Agent"] == USER_AGENT
        assert "news-ingest/" in request.headers["User-Agent"]
        assert "application/rss+xml" in request.headers["Accept"]
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        assert "If-None-Match" not in request.headers
        assert "If-Modified-Since" not in request.headers

    def test_304_on_matching_etag_and_date(self, feed_server: HTTPServer) -> None:
        """Validators are sent back; a 304 has no content and keeps the validators."""
        feed_server.expect_request(
            "/feed.xml",
            headers={"If-None-Match": '"v1"', "If-Modified-Since": "Mon, 01 Jan 2024 10:00:00 GMT"},
        ).respond_with_data("", status=304)
        result = fetch_feed(
            feed_server.url_for("/feed.xml"),
            etag='"v1"',
            last_modified="Mon, 01 Jan 2024 10:00:00 GMT",
            settings=local_settings(),
        )
        assert result.status == 304
        assert result.content is None
        assert result.etag == '"v1"'
        assert result.last_modified == "Mon, 01 Jan 2024 10:00:00 GMT"
        feed_server.check_assertions()

    def test_304_takes_a_new_etag_from_the_server(self, feed_server: HTTPServer) -> None:
        """A 304 that carries a new ETag replaces the one we sent."""
        feed_server.expect_request("/feed.xml").respond_with_data(
            "", status=304, headers={"ETag": '"v2"'}
        )
        result = fetch_feed(
            feed_server.url_for("/feed.xml"), etag='"v1"', settings=local_settings()
        )
        assert (result.status, result.etag) == (304, '"v2"')

    def test_pooled_client_fetches_many_feeds(self, feed_server: HTTPServer) -> None:
        """One client from new_client serves many fetches (connection pooling)."""
        feed_server.expect_request("/feed.xml").respond_with_data(FEED)
        settings = local_settings()
        with new_client(settings) as client:
            results = [
                fetch_feed(feed_server.url_for("/feed.xml"), settings=settings, client=client)
                for _ in range(5)
            ]
        assert [r.content for r in results] == [FEED] * 5


class TestBody:
    def test_gzip_and_deflate_bodies_are_decoded(self, feed_server: HTTPServer) -> None:
        """gzip, zlib-wrapped deflate and raw deflate bodies all come back decoded."""
        raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        bodies = {
            "/gzip": (gzip.compress(FEED), "gzip"),
            "/zlib": (zlib.compress(FEED), "deflate"),
            "/raw": (raw_deflate.compress(FEED) + raw_deflate.flush(), "deflate"),
            "/multi": (gzip.compress(FEED[:100]) + gzip.compress(FEED[100:]), "gzip"),
        }
        for path, (body, coding) in bodies.items():
            feed_server.expect_request(path).respond_with_data(
                body, headers={"Content-Encoding": coding}
            )
        for path in bodies:
            result = fetch_feed(feed_server.url_for(path), settings=local_settings())
            assert result.content == FEED, path

    def test_body_labelled_gzip_but_sent_plain_passes(self, feed_server: HTTPServer) -> None:
        """A server that says gzip but sends plain XML still gets its feed read."""
        feed_server.expect_request("/liar").respond_with_data(
            FEED, headers={"Content-Encoding": "gzip"}
        )
        assert fetch_feed(feed_server.url_for("/liar"), settings=local_settings()).content == FEED

    def test_unsupported_encoding_is_a_decode_error(self, feed_server: HTTPServer) -> None:
        """An encoding we never asked for (br) is refused rather than guessed."""
        feed_server.expect_request("/br").respond_with_data(
            b"\x0b\x02", headers={"Content-Encoding": "br"}
        )
        assert _fetch_error(feed_server.url_for("/br"), settings=local_settings()).kind == "decode"

    def test_gzip_bomb_is_cut_off_with_bounded_memory(self, feed_server: HTTPServer) -> None:
        """1 GiB of gzip-compressed zeros stops at the cap, fast, without allocating it."""
        bomb = gzip_bomb(1024 * 1024 * 1024)
        assert len(bomb) < 2 * 1024 * 1024
        feed_server.expect_request("/bomb").respond_with_data(
            bomb, headers={"Content-Encoding": "gzip"}, content_type="application/rss+xml"
        )
        settings = local_settings(fetch_max_bytes=1024 * 1024)
        tracemalloc.start()
        try:
            error = _fetch_error(feed_server.url_for("/bomb"), settings=settings)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert error.kind == "too_large"
        assert "after decompression" in str(error)
        assert peak < 16 * 1024 * 1024, f"peak {peak} bytes"

    def test_declared_length_over_cap_is_refused_before_reading(
        self, feed_server: HTTPServer
    ) -> None:
        """A Content-Length over the cap is refused without reading the body."""
        feed_server.expect_request("/big").respond_with_data(b"x" * (2 * 1024 * 1024))
        error = _fetch_error(feed_server.url_for("/big"), settings=local_settings())
        assert error.kind == "too_large"

    def test_endless_body_is_cut_off(self, feed_server: HTTPServer) -> None:
        """A chunked body with no end stops at the cap."""

        def endless(_: Request) -> Response:
            def chunks() -> Iterator[bytes]:
                yield b"<rss><channel>"
                for _ in range(10_000):  # 640 MiB: bounded so the server thread ends
                    yield b"<item>" + b"x" * (64 * 1024) + b"</item>"

            return Response(chunks(), content_type="application/rss+xml")

        feed_server.expect_request("/endless").respond_with_handler(endless)
        error = _fetch_error(feed_server.url_for("/endless"), settings=local_settings())
        assert error.kind == "too_large"


class TestDeadline:
    def test_silent_server_hits_total_deadline(self, feed_server: HTTPServer) -> None:
        """A server that accepts and then says nothing fails at the total deadline."""

        def silent(_: Request) -> Response:
            time.sleep(3)
            return Response(FEED)

        feed_server.expect_request("/silent").respond_with_handler(silent)
        # The server answers after 3 s, well inside every per-read timeout: only the 1 s total
        # deadline can make this a timeout.
        error = _fetch_error(
            feed_server.url_for("/silent"), settings=local_settings(fetch_total_timeout=1.0)
        )
        assert error.kind == "timeout"

    def test_trickling_body_hits_total_deadline(self, feed_server: HTTPServer) -> None:
        """A body sent a byte every 50 ms never lets a per-read timeout fire; the total does."""

        def slow(_: Request) -> Response:
            return Response(
                trickle(FEED, every_s=0.05, max_s=4), content_type="application/rss+xml"
            )

        feed_server.expect_request("/slow").respond_with_handler(slow)
        # Each byte arrives within 50 ms, so no per-read timeout fires: only the total can.
        error = _fetch_error(
            feed_server.url_for("/slow"), settings=local_settings(fetch_total_timeout=1.0)
        )
        assert error.kind == "timeout"

    def test_trickling_headers_hit_total_deadline(self) -> None:
        """Response headers sent a byte at a time are cut off at the total deadline too."""

        def drip_headers(conn: socket.socket) -> None:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 5000 + b"\r\n\r\n"
            for piece in trickle(head, every_s=0.05, max_s=4):
                conn.sendall(piece)

        with raw_socket_server(drip_headers) as (host, port):
            error = _fetch_error(
                f"http://{host}:{port}/feed", settings=local_settings(fetch_total_timeout=1.0)
            )
        assert error.kind == "timeout"

    def test_refused_port_is_a_connect_error(self) -> None:
        """Nothing listening gives a connect error, not a hang."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        error = _fetch_error(f"http://127.0.0.1:{port}/feed", settings=local_settings())
        assert error.kind == "connect"


class TestStatelessClient:
    def test_environment_proxies_are_ignored(
        self, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A proxy from the environment would hide the real peer from the SSRF check."""
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        feed_server.expect_request("/feed").respond_with_data(FEED)
        assert fetch_feed(feed_server.url_for("/feed"), settings=local_settings()).status == 200

    def test_cookies_are_not_carried_between_fetches(self, feed_server: HTTPServer) -> None:
        """A Set-Cookie from one fetch is not sent back on the next."""
        feed_server.expect_request("/feed").respond_with_data(
            FEED, headers={"Set-Cookie": "track=1; Path=/"}
        )
        settings = local_settings()
        with new_client(settings) as client:
            for _ in range(2):
                fetch_feed(feed_server.url_for("/feed"), settings=settings, client=client)
        assert all("Cookie" not in request.headers for request, _ in feed_server.log)

    def test_unknown_host_is_a_dns_error(self) -> None:
        """A name that does not resolve fails as kind "dns" within the connect timeout."""
        error = _fetch_error(
            "http://no-such-host.invalid/feed", settings=local_settings(fetch_connect_timeout=2.0)
        )
        assert error.kind == "dns"


class TestRedirects:
    def test_follows_redirects_and_reports_final_url(self, feed_server: HTTPServer) -> None:
        """Absolute and relative Locations are followed; the result names the final URL."""
        feed_server.expect_request("/a").respond_with_data(
            "", status=301, headers={"Location": "/b"}
        )
        feed_server.expect_request("/b").respond_with_data(
            "", status=302, headers={"Location": feed_server.url_for("/c")}
        )
        feed_server.expect_request("/c").respond_with_data(
            "", status=307, headers={"Location": "d"}
        )
        feed_server.expect_request("/d").respond_with_data(FEED, headers={"ETag": '"d"'})
        result = fetch_feed(feed_server.url_for("/a"), settings=local_settings())
        assert result.url == feed_server.url_for("/d")
        assert result.content == FEED
        assert result.etag == '"d"'

    def test_moved_to_only_when_every_hop_is_permanent(self, feed_server: HTTPServer) -> None:
        """301 then 308 name the new home of the feed; a 302 anywhere in the chain does not."""
        feed_server.expect_request("/p1").respond_with_data(
            "", status=301, headers={"Location": "/p2"}
        )
        feed_server.expect_request("/p2").respond_with_data(
            "", status=308, headers={"Location": "/p3"}
        )
        feed_server.expect_request("/p3").respond_with_data(FEED)
        feed_server.expect_request("/t1").respond_with_data(
            "", status=301, headers={"Location": "/t2"}
        )
        feed_server.expect_request("/t2").respond_with_data(
            "", status=302, headers={"Location": "/p3"}
        )
        assert fetch_feed(feed_server.url_for("/p1"), settings=local_settings()).moved_to == (
            feed_server.url_for("/p3")
        )
        assert fetch_feed(feed_server.url_for("/t1"), settings=local_settings()).moved_to is None
        assert fetch_feed(feed_server.url_for("/p3"), settings=local_settings()).moved_to is None

    def test_conditional_headers_survive_redirects(self, feed_server: HTTPServer) -> None:
        """A moved feed still gets its validators, so it can answer 304."""
        feed_server.expect_request("/old").respond_with_data(
            "", status=308, headers={"Location": "/new"}
        )
        feed_server.expect_request("/new", headers={"If-None-Match": '"v"'}).respond_with_data(
            "", status=304
        )
        result = fetch_feed(feed_server.url_for("/old"), etag='"v"', settings=local_settings())
        assert result.status == 304

    def test_exactly_max_redirects_is_fine(self, feed_server: HTTPServer) -> None:
        """Five hops with a limit of five arrive."""
        for hop in range(5):
            feed_server.expect_request(f"/r{hop}").respond_with_data(
                "", status=302, headers={"Location": f"/r{hop + 1}"}
            )
        feed_server.expect_request("/r5").respond_with_data(FEED)
        assert fetch_feed(feed_server.url_for("/r0"), settings=local_settings()).content == FEED

    def test_too_many_redirects(self, feed_server: HTTPServer) -> None:
        """Six hops with a limit of five fail, and the sixth target is never requested."""
        for hop in range(6):
            feed_server.expect_request(f"/r{hop}").respond_with_data(
                "", status=302, headers={"Location": f"/r{hop + 1}"}
            )
        error = _fetch_error(feed_server.url_for("/r0"), settings=local_settings())
        assert error.kind == "too_many_redirects"
        assert len(feed_server.log) == 6

    def test_redirect_loop_is_detected(self, feed_server: HTTPServer) -> None:
        """a -> b -> a fails as a loop on the first repeat, before the hop limit."""
        feed_server.expect_request("/a").respond_with_data(
            "", status=302, headers={"Location": "/b"}
        )
        feed_server.expect_request("/b").respond_with_data(
            "", status=302, headers={"Location": "/a#x"}
        )
        error = _fetch_error(
            feed_server.url_for("/a"), settings=local_settings(fetch_max_redirects=50)
        )
        assert error.kind == "redirect_loop"
        assert len(feed_server.log) == 2

    def test_redirect_to_non_http_scheme_is_refused(self, feed_server: HTTPServer) -> None:
        """A redirect to file:// or javascript: is never followed."""
        feed_server.expect_request("/a").respond_with_data(
            "", status=302, headers={"Location": "file:///etc/passwd"}
        )
        assert (
            _fetch_error(feed_server.url_for("/a"), settings=local_settings()).kind == "invalid_url"
        )

    def test_redirect_without_location(self, feed_server: HTTPServer) -> None:
        """A 302 without Location is an HTTP error, not a crash."""
        feed_server.expect_request("/a").respond_with_data("", status=302)
        assert _fetch_error(feed_server.url_for("/a"), settings=local_settings()).kind == "http_302"


class TestStatusErrors:
    @pytest.mark.parametrize(
        ("status", "kind"),
        [(410, "gone"), (404, "http_404"), (403, "http_403"), (500, "http_500"), (503, "http_503")],
    )
    def test_status_kinds(self, feed_server: HTTPServer, status: int, kind: str) -> None:
        """Each failing status maps to a kind the scheduler can act on."""
        feed_server.expect_request("/feed").respond_with_data("nope", status=status)
        error = _fetch_error(feed_server.url_for("/feed"), settings=local_settings())
        assert error.kind == kind
        assert str(status) in str(error)

    def test_429_with_retry_after_seconds(self, feed_server: HTTPServer) -> None:
        """429 with Retry-After: 120 is rate_limited with 120 s to wait."""
        feed_server.expect_request("/feed").respond_with_data(
            "", status=429, headers={"Retry-After": "120"}
        )
        error = _fetch_error(feed_server.url_for("/feed"), settings=local_settings())
        assert (error.kind, error.retry_after_s) == ("rate_limited", 120.0)

    def test_503_with_retry_after_http_date(self, feed_server: HTTPServer) -> None:
        """503 with an HTTP-date Retry-After is rate_limited with the seconds until then."""
        until = datetime.now(UTC) + timedelta(seconds=90)
        feed_server.expect_request("/feed").respond_with_data(
            "", status=503, headers={"Retry-After": format_datetime(until, usegmt=True)}
        )
        error = _fetch_error(feed_server.url_for("/feed"), settings=local_settings())
        assert error.kind == "rate_limited"
        assert 85 <= (error.retry_after_s or 0) <= 90

    def test_429_without_retry_after(self, feed_server: HTTPServer) -> None:
        """429 alone is still rate_limited, with no wait given."""
        feed_server.expect_request("/feed").respond_with_data("", status=429)
        error = _fetch_error(feed_server.url_for("/feed"), settings=local_settings())
        assert (error.kind, error.retry_after_s) == ("rate_limited", None)

    def test_parse_retry_after(self) -> None:
        """Seconds, HTTP dates (past ones as 0) and junk are all handled."""
        assert parse_retry_after("0") == 0.0
        assert parse_retry_after(" 30 ") == 30.0
        assert parse_retry_after("-5") == 0.0
        assert parse_retry_after("soon") is None
        assert parse_retry_after(None) is None
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
        # Measured against the server's clock when it sent a Date, whatever ours says.
        assert (
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", date="Wed, 21 Oct 2015 07:26:30 GMT")
            == 90.0
        )
        future = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
        assert 3500 < (parse_retry_after(future) or 0) <= 3600


class TestUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "file:///etc/passwd",
            "ftp://example.com/feed",
            "javascript:alert(1)",
            "not a url",
            "http://",
            "",
        ],
    )
    def test_invalid_urls_are_refused(self, url: str) -> None:
        """Only http(s) URLs with a host are fetched."""
        assert _fetch_error(url, settings=local_settings()).kind == "invalid_url"


class TestSsrf:
    @pytest.mark.parametrize(
        "host",
        [
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "[fe80::1]",
            "[fc00::1]",
        ],
    )
    def test_non_public_addresses_are_never_contacted(
        self, feed_server: HTTPServer, host: str
    ) -> None:
        """With private networks not allowed, these are refused and nothing is requested."""
        feed_server.expect_request("/feed").respond_with_data(FEED)
        port = feed_server.port
        error = _fetch_error(
            f"http://{host}:{port}/feed", settings=Settings(allow_private_networks=False)
        )
        assert error.kind == "ssrf_refused"
        assert feed_server.log == []

    def test_env_var_allows_private_networks(
        self, feed_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """NEWS_INGEST_ALLOW_PRIVATE_NETWORKS=1 lets the local server be fetched."""
        monkeypatch.setenv("NEWS_INGEST_ALLOW_PRIVATE_NETWORKS", "1")
        feed_server.expect_request("/feed").respond_with_data(FEED)
        assert fetch_feed(feed_server.url_for("/feed"), settings=Settings()).status == 200

    def test_redirect_hop_to_refused_address_is_not_followed(
        self, feed_server: HTTPServer, second_server: HTTPServer
    ) -> None:
        """Each redirect hop is checked: a hop to a refused address is never contacted."""
        second_server.expect_request("/internal").respond_with_data("secret")
        feed_server.expect_request("/feed").respond_with_data(
            "", status=302, headers={"Location": second_server.url_for("/internal")}
        )
        only_first = ipaddress.ip_address("127.0.0.1")
        settings = Settings(allow_private_networks=False)
        with new_client(settings, address_policy=lambda ip: ip == only_first) as client:
            error = _fetch_error(feed_server.url_for("/feed"), settings=settings, client=client)
        assert error.kind == "ssrf_refused"
        assert len(feed_server.log) == 1
        assert second_server.log == []

    def test_name_is_resolved_once_and_the_checked_address_is_connected(
        self, feed_server: HTTPServer
    ) -> None:
        """No second lookup for DNS rebinding to answer; Host still names the feed's host."""
        lookups: list[str] = []
        checked: list[str] = []

        def resolver(host: str, port: int, timeout: float | None) -> list[str]:
            lookups.append(host)
            return ["127.0.0.1"] if len(lookups) == 1 else ["169.254.169.254"]

        def policy(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
            checked.append(str(ip))
            return ip.is_loopback

        feed_server.expect_request("/feed").respond_with_data(FEED)
        settings = Settings(allow_private_networks=False)
        url = f"http://feeds.example.test:{feed_server.port}/feed"
        with new_client(settings, address_policy=policy, resolver=resolver) as client:
            result = fetch_feed(url, settings=settings, client=client)
        assert result.content == FEED
        assert lookups == ["feeds.example.test"]
        assert checked[0] == "127.0.0.1"
        assert set(checked) == {"127.0.0.1"}
        assert feed_server.log[0][0].headers["Host"] == f"feeds.example.test:{feed_server.port}"

    def test_unguarded_client_is_refused(self) -> None:
        """A plain httpx.Client cannot bypass the connect-time check."""
        with httpx.Client() as client, pytest.raises(TypeError):
            fetch_feed(
                "http://example.com/feed",
                settings=Settings(allow_private_networks=False),
                client=client,
            )

    @pytest.mark.parametrize(
        ("address", "public"),
        [
            ("93.184.216.34", True),
            ("8.8.8.8", True),
            ("2606:4700:4700::1111", True),
            ("::ffff:8.8.8.8", True),
            ("127.0.0.1", False),
            ("10.1.2.3", False),
            ("100.64.0.1", False),
            ("100.127.255.254", False),
            ("169.254.169.254", False),
            ("192.0.2.1", False),
            ("198.18.0.1", False),
            ("240.0.0.1", False),
            ("255.255.255.255", False),
            ("0.0.0.0", False),
            ("239.255.255.250", False),
            ("::", False),
            ("::1", False),
            ("::ffff:127.0.0.1", False),
            ("::ffff:10.0.0.1", False),
            ("64:ff9b::a00:1", False),
            ("2002:7f00:1::", False),
            ("fe80::1", False),
            ("fec0::1", False),
            ("fd00::1", False),
            ("ff02::1", False),
            ("2001:db8::1", False),
        ],
    )
    def test_address_policy(self, address: str, public: bool) -> None:
        """Public unicast passes; every private, special or embedded-private form is refused."""
        assert is_public_address(ipaddress.ip_address(address)) is public


class TestTls:
    @pytest.fixture
    def tls_server(self) -> Iterator[tuple[HTTPServer, ssl.SSLContext]]:
        trustme = pytest.importorskip("trustme", reason="trustme (a test extra) is not installed")
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("feeds.example.test").configure_cert(server_context)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context, threaded=True)
        server.start()
        yield server, client_context
        server.clear()
        server.stop()

    def test_pinned_ip_keeps_sni_and_certificate_name(
        self, tls_server: tuple[HTTPServer, ssl.SSLContext]
    ) -> None:
        """Connecting to the resolved IP still verifies the certificate for the URL's name."""
        server, client_context = tls_server
        server.expect_request("/feed").respond_with_data(FEED)
        settings = Settings(allow_private_networks=True)
        url = f"https://feeds.example.test:{server.port}/feed"
        with new_client(
            settings, resolver=lambda host, port, timeout: ["127.0.0.1"], verify=client_context
        ) as client:
            assert fetch_feed(url, settings=settings, client=client).content == FEED

    def test_untrusted_certificate_is_a_tls_error(
        self, tls_server: tuple[HTTPServer, ssl.SSLContext]
    ) -> None:
        """A certificate our trust store does not know fails as kind "tls"."""
        server, _ = tls_server
        error = _fetch_error(f"https://127.0.0.1:{server.port}/feed", settings=local_settings())
        assert error.kind == "tls"
        assert server.log == []


def test_feed_client_is_an_httpx_client() -> None:
    """new_client returns a FeedClient, usable as a context manager."""
    with new_client(local_settings()) as client:
        assert isinstance(client, FeedClient)
        assert client.follow_redirects is False
