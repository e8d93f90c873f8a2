"""Webhook delivery to a local HTTP server (pytest-httpserver): order, signatures, retries
with backoff, giving up after a day, SSRF refusal, and the `subscribers` commands."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from typer.testing import CliRunner
from werkzeug import Request, Response

from tests.cli_processes import store_articles
from tests.polling import wait_for
from worker.cli import app as cli
from worker.services import webhooks
from worker.storage.models import OutboxEvent, Subscriber, utcnow
from worker.storage.session import get_engine

SECRET = "s3cret-for-tests"


def _subscriber(engine, subscriber_id: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    with engine.connect() as connection:
        return dict(
            connection.execute(select(Subscriber.__table__).where(Subscriber.id == subscriber_id))
            .mappings()
            .one()
        )


def _event_ids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(connection.execute(select(OutboxEvent.id).order_by(OutboxEvent.id)).scalars())


def _add(engine, url: str, *, secret: str | None = SECRET) -> int:  # type: ignore[no-untyped-def]
    subscriber_id = webhooks.add_subscriber(engine=engine, url=url, secret=secret)
    assert subscriber_id is not None
    return subscriber_id


class _Flaky:
    """A handler that answers `failures` 500s, then 204s, recording each request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data()))
        if len(self.requests) <= self.failures:
            return Response("down", status=500)
        return Response(status=204)


class TestSignature:
    def test_signature_is_hmac_sha256_of_the_body(self) -> None:
        """`sha256=` plus the hex HMAC-SHA256 of the exact body bytes, keyed with the secret."""
        body = b'{"a":1}'
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert webhooks.sign(body, SECRET) == f"sha256={expected}"


class TestDelivery:
    def test_events_are_posted_in_order_signed(self, engine, httpserver: HTTPServer) -> None:
        """Each event is POSTed once, oldest first, as its JSON with verifiable headers."""
        handler = _Flaky(failures=0)
        httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
        subscriber_id = _add(engine, httpserver.url_for("/hook"))
        store_articles(engine, 5)

        report = webhooks.deliver_webhooks(engine=engine)

        assert (report.delivered, report.failed) == (5, 0)
        bodies = [json.loads(body) for _, body in handler.requests]
        assert [b["article_id"] for b in bodies] == [1, 2, 3, 4, 5]
        for headers, body in handler.requests:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-News-Ingest-Signature"], expected)
            assert headers["X-News-Ingest-Event"] == "article.created"
            assert headers["X-News-Ingest-Idempotency-Key"] == json.loads(body)["idempotency_key"]
            assert headers["X-News-Ingest-Timestamp"].isdigit()
            assert headers["Content-Type"] == "application/json"
        assert _subscriber(engine, subscriber_id)["last_event_id"] == _event_ids(engine)[-1]
        assert webhooks.deliver_webhooks(engine=engine).delivered == 0

    def test_unsigned_without_a_secret(self, postgres_db, httpserver: HTTPServer) -> None:
        """A subscriber added without --secret gets no signature header."""
        engine = get_engine()
        handler = _Flaky(failures=0)
        httpserver.expect_request("/plain").respond_with_handler(handler)
        _add(engine, httpserver.url_for("/plain"), secret=None)
        store_articles(engine, 1)
        webhooks.deliver_webhooks(engine=engine)
        assert "X-News-Ingest-Signature" not in handler.requests[0][0]

    def test_500s_are_retried_with_growing_backoff(
        self, postgres_db, httpserver: HTTPServer
    ) -> None:
        """After 500s the subscriber waits (exponentially longer), then delivers in order."""
        engine = get_engine()
        handler = _Flaky(failures=2)
        httpserver.expect_request("/hook").respond_with_handler(handler)
        subscriber_id = _add(engine, httpserver.url_for("/hook"))
        store_articles(engine, 3)
        now = utcnow()

        assert webhooks.deliver_webhooks(engine=engine, now=now).failed == 1
        first = _subscriber(engine, subscriber_id)
        assert (first["status"], first["error_count"], first["last_event_id"]) == ("failing", 1, 0)
        assert "HTTP 500" in first["last_error"]
        assert first["failing_since"] is not None
        wait_1 = first["next_attempt_at"] - now
        assert timedelta(seconds=2) <= wait_1 <= timedelta(seconds=5)
        # Not due yet: nothing is sent.
        assert webhooks.deliver_webhooks(engine=engine, now=now).subscribers == 0
        assert len(handler.requests) == 1

        later = first["next_attempt_at"]
        assert webhooks.deliver_webhooks(engine=engine, now=later).failed == 1
        second = _subscriber(engine, subscriber_id)
        assert second["error_count"] == 2
        assert second["next_attempt_at"] - later > wait_1 / 2

        report = webhooks.deliver_webhooks(engine=engine, now=second["next_attempt_at"])
        assert report.delivered == 3
        done = _subscriber(engine, subscriber_id)
        assert (done["status"], done["error_count"], done["failing_since"]) == ("active", 0, None)
        ids = [json.loads(body)["article_id"] for _, body in handler.requests]
        assert ids == [1, 1, 1, 2, 3]  # the failed event again, then the rest in order

    def test_gives_up_on_an_event_only_after_a_day(
        self, postgres_db, httpserver: HTTPServer
    ) -> None:
        """An event refused for a day is skipped with the failure recorded; before that it is kept."""
        engine = get_engine()
        httpserver.expect_request("/broken").respond_with_data("no", status=500)
        subscriber_id = _add(engine, httpserver.url_for("/broken"))
        store_articles(engine, 2)
        start = utcnow()
        webhooks.deliver_webhooks(engine=engine, now=start)
        almost = start + timedelta(hours=23)
        webhooks.deliver_webhooks(engine=engine, now=almost)
        assert _subscriber(engine, subscriber_id)["last_event_id"] == 0

        report = webhooks.deliver_webhooks(engine=engine, now=start + timedelta(days=1, seconds=1))
        assert report.skipped == 2
        state = _subscriber(engine, subscriber_id)
        assert state["last_event_id"] == _event_ids(engine)[-1]
        assert state["status"] == "failing"
        assert "gave up on event" in state["last_error"] and "HTTP 500" in state["last_error"]
        listed = CliRunner().invoke(cli, ["subscribers", "list", "--json"])
        (row,) = json.loads(listed.stdout)
        assert row["status"] == "failing" and "gave up" in row["last_error"]
        assert row["backlog"] == 0 and "secret" not in row

    def test_private_addresses_are_refused_without_the_opt_in(
        self, postgres_db, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without NEWS_INGEST_ALLOW_PRIVATE_NETWORKS, a loopback webhook is never connected to."""
        from worker.settings import get_settings

        engine = get_engine()
        httpserver.expect_request("/hook").respond_with_data("", status=204)
        subscriber_id = _add(engine, httpserver.url_for("/hook"))
        store_articles(engine, 1)
        monkeypatch.setenv("NEWS_INGEST_ALLOW_PRIVATE_NETWORKS", "0")
        get_settings.cache_clear()
        report = webhooks.deliver_webhooks(engine=engine)
        assert report.failed == 1
        assert "ssrf_refused" in _subscriber(engine, subscriber_id)["last_error"]
        assert len(httpserver.log) == 0

    def test_deliver_task_runs_on_a_worker(self, celery_worker, httpserver: HTTPServer) -> None:
        """The `events.deliver` Celery task posts the backlog."""
        from worker.app import app

        engine = get_engine()
        handler = _Flaky(failures=0)
        httpserver.expect_request("/hook").respond_with_handler(handler)
        _add(engine, httpserver.url_for("/hook"))
        store_articles(engine, 4)
        app.send_task("events.deliver")
        wait_for(lambda: len(handler.requests) == 4, timeout=60, what="4 deliveries")


class TestSubscribersCommands:
    def test_add_list_remove(self, engine, httpserver: HTTPServer) -> None:
        """`subscribers add/list/remove` manage the registry; the secret is never printed."""
        url = httpserver.url_for("/cli")
        runner = CliRunner()
        added = runner.invoke(cli, ["subscribers", "add", url, "--secret", SECRET, "--json"])
        assert added.exit_code == 0, added.output
        subscriber_id = json.loads(added.stdout)["id"]
        again = runner.invoke(cli, ["subscribers", "add", url])
        assert again.exit_code == 1 and "already" in again.output
        listed = runner.invoke(cli, ["subscribers", "list", "--json"])
        (row,) = json.loads(listed.stdout)
        assert (row["url"], row["signed"], row["status"]) == (url, True, "active")
        assert SECRET not in listed.stdout
        assert runner.invoke(cli, ["subscribers", "remove", str(subscriber_id)]).exit_code == 0
        assert json.loads(runner.invoke(cli, ["subscribers", "list", "--json"]).stdout) == []
        assert runner.invoke(cli, ["subscribers", "remove", str(subscriber_id)]).exit_code == 1

    def test_rejects_a_url_that_is_not_http(self, engine) -> None:
        """Only absolute http(s) URLs can subscribe."""
        result = CliRunner().invoke(cli, ["subscribers", "add", "file:///etc/passwd"])
        assert result.exit_code == 1 and "http" in result.output

    def test_a_new_subscriber_starts_after_existing_events(
        self, engine, httpserver: HTTPServer
    ) -> None:
        """Events written before a subscriber was added are not sent to it (unless --from-start)."""
        store_articles(engine, 2)
        handler = _Flaky(failures=0)
        httpserver.expect_request("/late").respond_with_handler(handler)
        _add(engine, httpserver.url_for("/late"))
        store_articles(engine, 1, start=50)
        webhooks.deliver_webhooks(engine=engine)
        assert [json.loads(body)["article_id"] for _, body in handler.requests] == [3]
