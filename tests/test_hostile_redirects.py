"""Issue 19 item 5: a malformed redirect (`Location: http:99999`, an impossible port) from a
feed or a webhook receiver fails that one fetch or delivery with a clear error; the rest go
on. Real loopback servers, the real CLI and delivery run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cli_processes import store_articles
from tests.factories import distinct_article
from worker.cli import app as cli
from worker.services import webhooks
from worker.settings import get_settings
from worker.storage import feeds as feed_rows

BAD_LOCATIONS = [
    "http:99999",
    "http://127.0.0.1:99999/feed",
    "https://x.example:99999999999999999999/",
    "http://[::1/",
]


@pytest.fixture(autouse=True)
def _feed_environment(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEWS_INGEST_PER_HOST_RATE_PER_MINUTE", "600000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _rss(n: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>Story {n}</title><link>https://news.example/{n}</link>"
        f"<guid>g-{n}</guid><description>{distinct_article(n)}</description></item>"
        "</channel></rss>"
    ).encode()


@dataclass
class _Receiver:
    """A stdlib HTTP server on 127.0.0.1 (it writes a Location header verbatim, where
    werkzeug would rewrite it): `/badN` redirects to BAD_LOCATIONS[N], `/good` answers
    a feed to GET and 204 to POST, recording the bodies posted."""

    base_url: str
    posted: list[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    posted: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.path.startswith("/bad"):
                self.send_response(302)
                self.send_header("Location", BAD_LOCATIONS[int(self.path[4:])])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.command == "POST":
                posted.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()
            else:
                body = _rss(1)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Receiver(f"http://127.0.0.1:{server.server_port}", posted)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class TestFeedRedirects:
    def test_fetch_all_goes_on_past_malformed_redirects(
        self, engine: Any, receiver: _Receiver
    ) -> None:
        """`feeds fetch --all` with feeds redirecting to malformed URLs: those fail with an
        invalid-URL error, the good feed is fetched, and the command exits 0."""
        with engine.begin() as connection:
            good, _ = feed_rows.add_feed(connection=connection, url=receiver.url("/good"))
            bad_ids = []
            for index in range(len(BAD_LOCATIONS)):
                bad, _ = feed_rows.add_feed(connection=connection, url=receiver.url(f"/bad{index}"))
                bad_ids.append(bad.id)
        result = CliRunner().invoke(cli, ["feeds", "fetch", "--all", "--json"])
        assert result.exit_code == 0, result.output
        document = json.loads(result.output.strip().splitlines()[-1])
        by_id = {feed["id"]: feed for feed in document["feeds"]}
        assert by_id[good.id]["outcome"] == "fetched"
        for feed_id in bad_ids:
            assert by_id[feed_id]["outcome"] == "failed", by_id[feed_id]
            # the error kind only (no details: see worker.errors.public_fetch_error)
            kind = by_id[feed_id]["error"].split(":")[0]
            assert kind in {"invalid_url", "protocol"}, by_id[feed_id]


class TestWebhookRedirects:
    def test_a_malformed_redirect_fails_one_subscriber_not_the_others(
        self, engine: Any, receiver: _Receiver
    ) -> None:
        """Receivers answering with malformed Locations get a clear error; the good one
        gets every event in the same run."""
        bad_ids = []
        for index in range(len(BAD_LOCATIONS)):
            subscriber_id = webhooks.add_subscriber(
                engine=engine, url=receiver.url(f"/bad{index}"), secret=None
            )
            assert subscriber_id is not None
            bad_ids.append(subscriber_id)
        assert webhooks.add_subscriber(engine=engine, url=receiver.url("/good"), secret=None)
        store_articles(engine, 2)

        report = webhooks.deliver_webhooks(engine=engine)

        assert len(receiver.posted) == 2 and report.delivered == 2
        assert set(report.errors) == set(bad_ids)
        for error in report.errors.values():
            assert error.startswith(("HTTP 302", "InvalidURL", "RemoteProtocolError")), error
