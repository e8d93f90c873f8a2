"""No silent gaps: a fetch that shows none of the entries already seen is flagged (column,
metric, `feeds list`) and the feed's interval shortened; `feeds list --json` says why the
interval is what it is. Against a local HTTP server and both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
from pytest_httpserver import HTTPServer

from tests import feeds_fixtures
from tests.test_feeds import (
    RSS,
    _feed_environment,  # noqa: F401 -- autouse fixture: flushed Redis, fresh gates
    add_feed,
    entry,
    fetch,
    get_feed,
    invoke,
    last_json,
    rss,
    serve_with_etag,
)
from worker.sources.schedule import IntervalChoice, after_gap, choose_interval, explain_adaptive

_module_feed_server = feeds_fixtures._module_feed_server
feed_server = feeds_fixtures.feed_server

HOUR = timedelta(hours=1)


def hourly(first: int, count: int, *, newest: datetime) -> list[dict[str, Any]]:
    """`count` entries numbered from `first`, an hour apart, the last published at `newest`."""
    return [
        entry(n, published=newest - (first + count - 1 - n) * HOUR)
        for n in range(first, first + count)
    ]


def gaps_counted() -> float:
    return (
        prometheus_client.REGISTRY.get_sample_value(
            "news_ingest_feed_gaps_total", {"reason": "window_moved"}
        )
        or 0.0
    )


def serve(server: HTTPServer, document: bytes) -> None:
    server.clear()
    server.expect_request("/feed.xml").respond_with_data(document, content_type=RSS)


class TestGapDetection:
    def test_a_window_past_everything_seen_is_flagged_and_the_interval_halved(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Second fetch with only unseen entries, all newer than the first fetch: a gap."""
        now = datetime.now(UTC)
        serve(feed_server, rss(hourly(0, 5, newest=now - HOUR)))
        feed = add_feed(engine, feed_server.url_for("/feed.xml"))
        first = fetch(engine, feed.id)
        assert (first.outcome, first.gap) == ("fetched", False)
        before = get_feed(engine, feed.id)
        assert (before.fetch_interval_s, before.interval_reason) == (1800, "rhythm")
        assert before.gap_detected_at is None

        counted = gaps_counted()
        serve(feed_server, rss(hourly(20, 5, newest=now + 5 * HOUR)))
        second = fetch(engine, feed.id)
        assert (second.outcome, second.gap, second.summary.new) == ("fetched", True, 5)
        after = get_feed(engine, feed.id)
        assert after.gap_detected_at is not None
        assert (after.fetch_interval_s, after.interval_reason) == (900, "gap")
        assert gaps_counted() == counted + 1

        (listed,) = last_json(invoke("feeds", "list", "--json"))
        assert listed["gap_detected_at"] == after.gap_detected_at.isoformat()
        assert (listed["fetch_interval_s"], listed["interval_reason"]) == (900, "gap")
        assert "gap at" in invoke("feeds", "list").stdout

    def test_an_overlapping_window_is_no_gap(self, engine: Any, feed_server: HTTPServer) -> None:
        """One entry still seen from the last fetch: no flag, the usual interval."""
        now = datetime.now(UTC)
        serve(feed_server, rss(hourly(0, 5, newest=now - HOUR)))
        feed = add_feed(engine, feed_server.url_for("/feed.xml"))
        fetch(engine, feed.id)
        serve(feed_server, rss(hourly(4, 5, newest=now + 3 * HOUR)))
        assert fetch(engine, feed.id).gap is False
        after = get_feed(engine, feed.id)
        assert after.gap_detected_at is None
        assert after.interval_reason == "rhythm"

    def test_new_identities_for_old_entries_are_no_gap(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Unseen guids on entries dated before the last fetch: re-identified, not missed."""
        now = datetime.now(UTC)
        serve(feed_server, rss(hourly(0, 3, newest=now - HOUR)))
        feed = add_feed(engine, feed_server.url_for("/feed.xml"))
        fetch(engine, feed.id)
        renamed = [
            entry(n + 100, published=now - (3 - n) * HOUR, body=f"Different text {n} " * 20)
            for n in range(3)
        ]
        serve(feed_server, rss(renamed))
        assert fetch(engine, feed.id).gap is False
        assert get_feed(engine, feed.id).gap_detected_at is None

    def test_a_304_keeps_the_interval_and_its_reason(
        self, engine: Any, feed_server: HTTPServer
    ) -> None:
        """Not modified: the interval in force and its reason stay."""
        now = datetime.now(UTC)
        feed_server.clear()
        serve_with_etag(feed_server, "/feed.xml", rss(hourly(0, 5, newest=now - HOUR)))
        feed = add_feed(engine, feed_server.url_for("/feed.xml"))
        fetch(engine, feed.id)
        assert fetch(engine, feed.id).outcome == "not_modified"
        after = get_feed(engine, feed.id)
        assert (after.fetch_interval_s, after.interval_reason) == (1800, "rhythm")

    def test_a_fixed_interval_says_so(self, engine: Any, feed_server: HTTPServer) -> None:
        """A user's --interval is the interval in force, with reason "user"."""
        serve(feed_server, rss(hourly(0, 5, newest=datetime.now(UTC) - HOUR)))
        feed = add_feed(engine, feed_server.url_for("/feed.xml"), interval_s=7200)
        fetch(engine, feed.id)
        after = get_feed(engine, feed.id)
        assert (after.fetch_interval_s, after.interval_reason) == (7200, "user")


class TestIntervalReasons:
    def test_adaptive_reasons(self) -> None:
        """rhythm, quiet, default, minimum and maximum name which rule set the interval."""
        now = datetime(2024, 6, 1, tzinfo=UTC)

        def explain(times: list[datetime]) -> IntervalChoice:
            return explain_adaptive(times, now=now, min_s=300, max_s=86400, default_s=3600)

        assert explain([now - HOUR, now]) == IntervalChoice(1800, "rhythm")
        assert explain([now - 10 * HOUR, now - 9 * HOUR]) == IntervalChoice(8100, "quiet")
        assert explain([now]) == IntervalChoice(3600, "default")
        assert explain([now - timedelta(minutes=1), now]) == IntervalChoice(300, "minimum")
        assert explain([now - 30 * 24 * HOUR, now - 20 * 24 * HOUR]).reason == "maximum"

    def test_after_gap_halves_the_interval_in_force_down_to_the_minimum(self) -> None:
        """A gap halves the previous interval, never below the minimum, never above the estimate."""
        estimate = IntervalChoice(3600, "rhythm")
        assert after_gap(estimate, previous_s=3600, min_s=300) == IntervalChoice(1800, "gap")
        assert after_gap(estimate, previous_s=400, min_s=300) == IntervalChoice(300, "gap")
        assert after_gap(IntervalChoice(600, "rhythm"), previous_s=7200, min_s=300).seconds == 600

    def test_server_freshness_and_user_interval_reasons(self) -> None:
        """A longer server freshness wins as "server"; a user's interval as "user"."""
        estimate = IntervalChoice(600, "rhythm")
        assert choose_interval(
            estimate, user_interval_s=None, server_fresh_s=3600, max_s=86400
        ) == IntervalChoice(3600, "server")
        assert choose_interval(
            estimate, user_interval_s=7200, server_fresh_s=None, max_s=86400
        ) == IntervalChoice(7200, "user")
        assert choose_interval(
            estimate, user_interval_s=None, server_fresh_s=60, max_s=86400
        ) == IntervalChoice(600, "rhythm")
