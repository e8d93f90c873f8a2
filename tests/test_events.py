"""The outbox relay and the event stream, on real Postgres/SQLite and the test Redis (db 15),
including a relay process killed mid-stream."""

from __future__ import annotations

import json
import signal
import threading
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from schemas import ArticleEvent
from tests.cli_processes import CliProcess, store_articles
from tests.polling import wait_for
from worker.cli import app as cli
from worker.services import events
from worker.storage import outbox as outbox_rows
from worker.storage.models import Article, OutboxEvent
from worker.storage.session import get_engine

STREAM = events.EVENTS_STREAM


def _entries(redis_client) -> list[events.StreamEntry]:  # type: ignore[no-untyped-def]
    return list(events.read_stream(redis_client, start="0"))


def _outbox(engine) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(OutboxEvent.__table__).order_by(OutboxEvent.id)
            ).mappings()
        ]


def _unsent(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return outbox_rows.unsent_count(connection=connection)


def _assert_exactly_one_key_per_article(engine, entries: list[events.StreamEntry]) -> None:  # type: ignore[no-untyped-def]
    """Every stored article has its event in the stream under one idempotency key; copies
    of an event (after a crash) are identical; nothing is in the stream that is not stored."""
    with engine.connect() as connection:
        article_ids = set(connection.execute(select(Article.id)).scalars())
    keys_by_article: dict[int, set[str]] = defaultdict(set)
    payloads_by_key: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        keys_by_article[entry.payload["article_id"]].add(entry.idempotency_key)
        payloads_by_key[entry.idempotency_key].add(json.dumps(entry.payload, sort_keys=True))
    assert set(keys_by_article) == article_ids
    assert all(len(keys) == 1 for keys in keys_by_article.values())
    assert all(len(payloads) == 1 for payloads in payloads_by_key.values())


class TestRelay:
    def test_publishes_every_event_in_outbox_order_and_marks_it_sent(
        self, engine, redis_client
    ) -> None:
        """A relay run puts each unsent event on the stream once, in id order, with its entry id recorded."""
        store_articles(engine, 30, batch=7)
        assert events.relay_outbox(engine, redis_client, batch=8) == 30
        entries = _entries(redis_client)
        rows = _outbox(engine)
        assert [e.idempotency_key for e in entries] == [r["idempotency_key"] for r in rows]
        assert [e.id for e in entries] == [r["stream_id"] for r in rows]
        assert all(r["sent_at"] is not None for r in rows)
        assert all(e.type == "article.created" for e in entries)
        ArticleEvent.model_validate(entries[0].payload)
        assert events.relay_outbox(engine, redis_client) == 0
        assert redis_client.xlen(STREAM) == 30

    def test_crash_after_xadd_publishes_again_with_the_same_key(
        self, postgres_db, redis_client
    ) -> None:
        """Events accepted by Redis whose UPDATE never committed go out again, same keys: at least once."""
        engine = get_engine()
        store_articles(engine, 5)
        with engine.connect() as connection, connection.begin() as transaction:
            rows = outbox_rows.lock_unsent(connection=connection, limit=100)
            events._publish(redis_client, rows, maxlen=10_000, stream=STREAM)
            transaction.rollback()  # the process died before its commit
        assert _unsent(engine) == 5
        assert events.relay_outbox(engine, redis_client) == 5
        entries = _entries(redis_client)
        assert len(entries) == 10
        _assert_exactly_one_key_per_article(engine, entries)
        assert _unsent(engine) == 0

    def test_concurrent_relays_publish_each_event_once_in_order(
        self, postgres_db, redis_client
    ) -> None:
        """Four relays racing over one outbox publish every event exactly once, in id order."""
        engine = get_engine()
        store_articles(engine, 2000)
        errors: list[BaseException] = []

        def relay() -> None:
            try:
                while events.relay_outbox(engine, redis_client, batch=25) or _unsent(engine):
                    pass
            except BaseException as error:  # any failure fails the test below
                errors.append(error)

        threads = [threading.Thread(target=relay) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        keys = [e.idempotency_key for e in _entries(redis_client)]
        assert keys == [row["idempotency_key"] for row in _outbox(engine)]
        assert len(set(keys)) == 2000

    def test_stream_length_is_bounded(self, postgres_db, redis_client) -> None:
        """XADD MAXLEN ~ keeps the stream near NEWS_INGEST_EVENTS_MAXLEN entries."""
        engine = get_engine()
        store_articles(engine, 1500)
        events.relay_outbox(engine, redis_client, maxlen=1000)
        assert 1000 <= redis_client.xlen(STREAM) < 1200

    def test_relay_task_runs_on_a_worker(self, celery_worker, redis_client) -> None:
        """The `events.relay` Celery task publishes the outbox."""
        from worker.app import app

        engine = get_engine()
        store_articles(engine, 12)
        app.send_task("events.relay")
        wait_for(lambda: redis_client.xlen(STREAM) == 12, timeout=60, what="12 events")
        assert _unsent(engine) == 0


@pytest.mark.slow
class TestPrune:
    def test_prunes_only_old_published_events_every_subscriber_has(
        self, engine, redis_client
    ) -> None:
        """Pruning keeps unsent events, recently published ones, and those past the lowest
        enabled subscriber's cursor; the rest go, in batches."""
        from datetime import timedelta

        from worker.storage.models import Subscriber, utcnow

        store_articles(engine, 30, batch=10)
        assert events.relay_outbox(engine, redis_client, batch=10, max_batches=2) == 20  # 10 unsent
        ids = [row["id"] for row in _outbox(engine)]
        now = utcnow()
        with engine.begin() as connection:
            connection.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids[:15]))
                .values(sent_at=now - timedelta(days=8))
            )
            connection.execute(
                Subscriber.__table__.insert(),
                [
                    {
                        "url": "https://hooks.example/a",
                        "last_event_id": ids[11],
                        "enabled": True,
                        "status": "active",
                        "error_count": 0,
                        "created_at": now,
                    },
                    {
                        "url": "https://hooks.example/b",
                        "last_event_id": 0,
                        "enabled": False,
                        "status": "active",
                        "error_count": 0,
                        "created_at": now,
                    },
                ],
            )
        assert events.prune_outbox(engine, retention_s=7 * 86400, batch=5, now=now) == 12
        assert [row["id"] for row in _outbox(engine)] == ids[12:]
        assert events.prune_outbox(engine, retention_s=0, now=now + timedelta(days=30)) == 0

    def test_prune_task_runs_on_a_worker(self, celery_worker, monkeypatch) -> None:
        """Beat's `events.prune` deletes events once the retention has passed."""
        from worker.app import app
        from worker.settings import get_settings

        engine = get_engine()
        store_articles(engine, 3)
        with engine.begin() as connection:
            connection.execute(update(OutboxEvent).values(sent_at=func.now()))
        monkeypatch.setenv("NEWS_INGEST_EVENTS_RETENTION_S", "0.001")
        get_settings.cache_clear()
        app.send_task("events.prune")
        wait_for(lambda: _outbox(engine) == [], timeout=60, what="the outbox pruned")


class TestRelayProcess:
    def test_relay_killed_mid_stream_loses_and_invents_nothing(
        self, postgres_db, redis_client, tmp_path: Path
    ) -> None:
        """SIGKILL the relay three times mid-stream while articles keep arriving: every stored
        article ends up in the stream under exactly one idempotency key."""
        engine = get_engine()
        store_articles(engine, 3000)
        log = tmp_path / "relay.log"
        args = ["events", "relay", "--batch", "10", "--poll", "0.05"]
        for kill_at in (400, 1200, 2200):
            relay = CliProcess(args, log).start()
            try:
                wait_for(
                    lambda at=kill_at: redis_client.xlen(STREAM) >= at,
                    timeout=120,
                    what=f"{kill_at} entries",
                )
            finally:
                relay.kill()
            assert relay.process is not None and relay.process.returncode == -signal.SIGKILL
            # More articles arrive while no relay runs.
            store_articles(engine, 100, start=10_000 + kill_at)
        with CliProcess(args, log) as relay:
            wait_for(lambda: _unsent(engine) == 0, timeout=120, what="outbox drained")
            assert relay.terminate() == 0, relay.log
        entries = _entries(redis_client)
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(Article)).scalar_one()
        assert stored == 3300
        assert len({e.idempotency_key for e in entries}) == 3300
        assert len(entries) >= 3300
        _assert_exactly_one_key_per_article(engine, entries)

    def test_sigterm_finishes_and_exits_cleanly(
        self, postgres_db, redis_client, tmp_path: Path
    ) -> None:
        """SIGTERM stops an idle relay at once with exit code 0."""
        with CliProcess(["events", "relay", "--poll", "0.05"], tmp_path / "relay.log") as relay:
            engine = get_engine()
            store_articles(engine, 3)
            wait_for(lambda: redis_client.xlen(STREAM) == 3, timeout=60, what="3 entries")
            assert relay.terminate(timeout=15) == 0


class TestTail:
    def test_tail_prints_json_lines_from_an_id(self, postgres_db, redis_client) -> None:
        """`events tail --from ID` prints that entry and the ones after it as JSON lines."""
        engine = get_engine()
        store_articles(engine, 5)
        events.relay_outbox(engine, redis_client)
        ids = [e.id for e in _entries(redis_client)]
        result = CliRunner().invoke(cli, ["events", "tail", "--from", ids[2]])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["id"] for line in lines] == ids[2:]
        assert set(lines[0]) == {"id", "type", "idempotency_key", "payload"}
        last_two = CliRunner().invoke(cli, ["events", "tail", "-n", "2"])
        assert [json.loads(line)["id"] for line in last_two.stdout.splitlines()] == ids[3:]
        limited = CliRunner().invoke(cli, ["events", "tail", "--from", "0", "--count", "3"])
        assert len(limited.stdout.splitlines()) == 3

    def test_bad_start_id_is_a_one_line_error(self, redis_client) -> None:
        """An id Redis cannot parse gives a clear error and a non-zero exit."""
        result = CliRunner().invoke(cli, ["events", "tail", "--from", "yesterday"])
        assert result.exit_code == 1
        assert "bad --from" in result.output

    def test_follow_prints_new_entries_as_they_arrive(
        self, postgres_db, redis_client, tmp_path: Path
    ) -> None:
        """`events tail -n 1 --follow` prints the newest entry, then each one published later."""
        engine = get_engine()
        store_articles(engine, 1)
        events.relay_outbox(engine, redis_client)
        out = tmp_path / "tail.out"

        def printed() -> list[dict]:  # type: ignore[type-arg]
            return [
                json.loads(line)
                for line in out.read_text().splitlines()
                if line.startswith("{") and '"payload"' in line
            ]

        with CliProcess(["events", "tail", "-n", "1", "--follow"], out) as tail:
            wait_for(lambda: len(printed()) == 1, timeout=30, what="the newest entry")
            store_articles(engine, 4, start=100)
            events.relay_outbox(engine, redis_client)
            lines = wait_for(
                lambda: len(printed()) == 5 and printed(), timeout=30, what="4 more lines"
            )
            assert tail.terminate(timeout=15) == 0
        assert [line["payload"]["article_id"] for line in lines] == [1, 2, 3, 4, 5]


class TestConsumerGroups:
    def test_ensure_group_creates_once_and_the_group_reads_every_event(
        self, postgres_db, redis_client
    ) -> None:
        """`events ensure-group` is idempotent, and a group made before any event sees all."""
        first = CliRunner().invoke(cli, ["events", "ensure-group", "indexer"])
        again = CliRunner().invoke(cli, ["events", "ensure-group", "indexer"])
        assert json.loads(first.stdout)["created"] is True
        assert json.loads(again.stdout)["created"] is False
        engine = get_engine()
        store_articles(engine, 3)
        events.relay_outbox(engine, redis_client)
        read = redis_client.xreadgroup("indexer", "consumer-1", {STREAM: ">"}, count=10)
        assert len(read[0][1]) == 3


class TestOutboxRows:
    def test_updated_article_gets_its_own_event(self, sqlite_db, redis_client) -> None:
        """A text change under the same URL is an `article.updated` event after the creation."""
        from tests.factories import distinct_article
        from worker.services import jobs as job_service
        from worker.services import parts as part_service

        engine = get_engine()
        for body in (distinct_article(1), distinct_article(2)):
            job_id = job_service.create_job(engine=engine)
            (part,) = job_service.add_article_parts(
                engine=engine,
                job_id=job_id,
                batch_size=10,
                documents=[{"body": body, "url": "https://news.example/same"}],
            )
            part_service.run_part(engine=engine, job_id=job_id, part_no=part)
        events.relay_outbox(engine, redis_client)
        assert [e.type for e in _entries(redis_client)] == ["article.created", "article.updated"]
        with engine.begin() as connection:  # mark unsent again: a replay reuses the keys
            connection.execute(update(OutboxEvent.__table__).values(sent_at=None))
        events.relay_outbox(engine, redis_client)
        assert len({e.idempotency_key for e in _entries(redis_client)}) == 2
