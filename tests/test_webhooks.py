"""Webhook delivery to a local HTTP server (pytest-httpserver): order, signatures, retries
with backoff, giving up after a day, SSRF refusal, and the `subscribers` commands."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from typer.testing import CliRunner
from werkzeug import Request, Response

from tests.cli_processes import store_articles
from tests.feeds_fixtures import raw_socket_server, trickle
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


def _receiver_verifies(header: str, body: bytes, secret: str, *, now: float) -> bool:
    """What the README tells a receiver to do, written out independently of worker code."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return abs(now - timestamp) <= 300 and hmac.compare_digest(expected, fields["v1"])


class TestSignature:
    def test_signature_covers_the_timestamp_and_the_body(self) -> None:
        """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed with the secret."""
        body = b'{"a":1}'
        expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
        assert webhooks.sign(body, SECRET, 1700000000) == f"t=1700000000,v1={expected}"

    def test_a_replayed_delivery_is_refused_once_old(self) -> None:
        """A captured delivery verifies while fresh, not 10 minutes later, and a new
        timestamp put in front of the old signature does not verify at all."""
        body = b'{"article_id":1}'
        header = webhooks.sign(body, SECRET, 1700000000)
        assert webhooks.verify(header, body, SECRET, now=1700000010)
        assert _receiver_verifies(header, body, SECRET, now=1700000010)
        assert not webhooks.verify(header, body, SECRET, now=1700000600)
        assert not _receiver_verifies(header, body, SECRET, now=1700000600)
        forged = header.replace("t=1700000000", "t=1700000600")
        assert not webhooks.verify(forged, body, SECRET, now=1700000600)
        assert not webhooks.verify(header, body + b" ", SECRET, now=1700000010)
        assert not webhooks.verify("v1=00", body, SECRET, now=1700000010)


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
            signature = headers["X-News-Ingest-Signature"]
            assert signature.startswith(f"t={headers['X-News-Ingest-Timestamp']},v1=")
            assert _receiver_verifies(signature, body, SECRET, now=time.time())
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


class TestSecretSources:
    def test_secret_from_the_environment_signs_and_is_never_stored(
        self, engine, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`--secret-env NAME` stores only `env:NAME`; deliveries are signed with the value
        read from the environment, which `subscribers list` never prints."""
        monkeypatch.setenv("HOOK_SECRET_FOR_TEST", "env-secret-0123456789")
        handler = _Flaky(failures=0)
        httpserver.expect_request("/env").respond_with_handler(handler)
        url = httpserver.url_for("/env")
        runner = CliRunner()
        added = runner.invoke(
            cli, ["subscribers", "add", url, "--secret-env", "HOOK_SECRET_FOR_TEST", "--json"]
        )
        assert added.exit_code == 0, added.output
        stored = _subscriber(engine, json.loads(added.stdout)["id"])
        assert (stored["secret"], stored["secret_ref"]) == (None, "env:HOOK_SECRET_FOR_TEST")
        listed = runner.invoke(cli, ["subscribers", "list", "--json"])
        (row,) = json.loads(listed.stdout)
        assert (row["signed"], row["secret_source"]) == (True, "env:HOOK_SECRET_FOR_TEST")
        assert "env-secret-0123456789" not in listed.stdout
        store_articles(engine, 1)
        assert webhooks.deliver_webhooks(engine=engine).delivered == 1
        ((headers, body),) = handler.requests
        assert _receiver_verifies(
            headers["X-News-Ingest-Signature"], body, "env-secret-0123456789", now=time.time()
        )

    def test_an_unreadable_secret_fails_the_delivery_and_sends_nothing(
        self, engine, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the named variable is gone when a delivery is signed, the event is not sent
        unsigned: the delivery fails as `secret_unavailable` and is retried later."""
        monkeypatch.setenv("HOOK_SECRET_FOR_TEST", "env-secret-0123456789")
        handler = _Flaky(failures=0)
        httpserver.expect_request("/gone").respond_with_handler(handler)
        reference = webhooks.secret_reference(env="HOOK_SECRET_FOR_TEST")
        subscriber_id = webhooks.add_subscriber(
            engine=engine, url=httpserver.url_for("/gone"), secret_ref=reference
        )
        assert subscriber_id is not None
        store_articles(engine, 1)
        monkeypatch.delenv("HOOK_SECRET_FOR_TEST")
        report = webhooks.deliver_webhooks(engine=engine)
        assert (report.delivered, report.failed) == (0, 1)
        state = _subscriber(engine, subscriber_id)
        assert "secret_unavailable" in state["last_error"] and state["next_attempt_at"]
        assert handler.requests == []

    def test_secret_from_a_file_is_read_at_each_delivery(
        self, engine, httpserver: HTTPServer, tmp_path
    ) -> None:
        """`--secret-file PATH` stores the path; a rotated file signs the next delivery."""
        secret_file = tmp_path / "hook.secret"
        secret_file.write_text("first-file-secret\n")
        handler = _Flaky(failures=0)
        httpserver.expect_request("/file").respond_with_handler(handler)
        url = httpserver.url_for("/file")
        added = CliRunner().invoke(
            cli, ["subscribers", "add", url, "--secret-file", str(secret_file), "--json"]
        )
        assert added.exit_code == 0, added.output
        stored = _subscriber(engine, json.loads(added.stdout)["id"])
        assert stored["secret"] is None and stored["secret_ref"] == f"file:{secret_file}"
        store_articles(engine, 1)
        webhooks.deliver_webhooks(engine=engine)
        secret_file.write_text("second-file-secret\n")
        store_articles(engine, 1, start=10)
        webhooks.deliver_webhooks(engine=engine)
        (first_headers, first_body), (second_headers, second_body) = handler.requests
        now = time.time()
        assert _receiver_verifies(
            first_headers["X-News-Ingest-Signature"], first_body, "first-file-secret", now=now
        )
        assert _receiver_verifies(
            second_headers["X-News-Ingest-Signature"], second_body, "second-file-secret", now=now
        )

    def test_add_refuses_a_missing_secret_and_warns_about_secret(
        self, engine, httpserver: HTTPServer, tmp_path
    ) -> None:
        """A variable that is unset or a file that is missing fails `add` with one line;
        two sources at once are refused; `--secret` still works, with a warning."""
        runner = CliRunner()
        url = httpserver.url_for("/cli-secret")
        unset = runner.invoke(cli, ["subscribers", "add", url, "--secret-env", "NO_SUCH_VAR_X"])
        assert unset.exit_code == 1 and "NO_SUCH_VAR_X" in unset.output
        missing = runner.invoke(
            cli, ["subscribers", "add", url, "--secret-file", str(tmp_path / "none")]
        )
        assert missing.exit_code == 1 and "cannot be read" in missing.output
        both = runner.invoke(
            cli, ["subscribers", "add", url, "--secret", "x", "--secret-env", "HOME"]
        )
        assert both.exit_code == 1
        legacy = runner.invoke(cli, ["subscribers", "add", url, "--secret", SECRET])
        assert legacy.exit_code == 0 and "warning" in legacy.output
        assert "--secret-env" in legacy.output


def _read_request(conn: socket.socket) -> None:
    """Read one HTTP request (headers, then a Content-Length body) off `conn`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


_NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class TestDeadlines:
    def test_a_trickling_receiver_cannot_hold_a_delivery_past_its_deadline(self, engine) -> None:
        """A receiver that answers one byte every 0.5 s (each read well within any per-read
        timeout, the whole answer taking ~20 s) fails the delivery as a timeout at the
        deadline: the delivery is cut off, not completed."""
        from worker.settings import get_settings

        def trickler(conn: socket.socket) -> None:
            _read_request(conn)
            for piece in trickle(_NO_CONTENT, every_s=0.5, max_s=60):
                conn.sendall(piece)

        with raw_socket_server(trickler) as (host, port):
            subscriber_id = _add(engine, f"http://{host}:{port}/slow")
            store_articles(engine, 1)
            settings = get_settings().model_copy(update={"webhook_timeout_s": 1.5})
            report = webhooks.deliver_webhooks(engine=engine, settings=settings)
        assert (report.delivered, report.failed) == (0, 1)
        assert "timeout" in _subscriber(engine, subscriber_id)["last_error"]

    def test_a_slow_subscriber_never_delays_another(self, engine, httpserver: HTTPServer) -> None:
        """While the first subscriber's receiver holds its delivery open, the second
        subscriber gets every event; the slow one gets them once it answers."""
        from worker.settings import get_settings

        release = threading.Event()

        def holder(conn: socket.socket) -> None:
            _read_request(conn)
            # Hold the answer open (a byte now and then) until the test lets go.
            pieces = iter(_NO_CONTENT)
            while not release.wait(0.2):
                conn.sendall(bytes([next(pieces)]))
            conn.sendall(bytes(pieces))

        fast = _Flaky(failures=0)
        httpserver.expect_request("/fast").respond_with_handler(fast)
        with raw_socket_server(holder) as (host, port):
            slow_id = _add(engine, f"http://{host}:{port}/slow")
            fast_id = _add(engine, httpserver.url_for("/fast"))
            assert slow_id < fast_id  # the slow one comes first in a run
            store_articles(engine, 3)
            reports: list[webhooks.DeliveryReport] = []
            # A deadline far beyond the test: only the holder decides when it answers.
            settings = get_settings().model_copy(update={"webhook_timeout_s": 120.0})
            run = threading.Thread(
                target=lambda: reports.append(
                    webhooks.deliver_webhooks(engine=engine, settings=settings)
                )
            )
            run.start()
            try:
                wait_for(lambda: len(fast.requests) == 3, timeout=20, what="the fast deliveries")
                assert run.is_alive() and _subscriber(engine, slow_id)["last_event_id"] == 0
            finally:
                release.set()
                run.join(timeout=60)
        (report,) = reports
        assert (report.subscribers, report.delivered, report.failed) == (2, 6, 0)
        last = _event_ids(engine)[-1]
        assert _subscriber(engine, slow_id)["last_event_id"] == last
        assert _subscriber(engine, fast_id)["last_event_id"] == last
