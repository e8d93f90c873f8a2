"""Tables that do not grow for ever (issue 20, item 7, in part): one sighting per
(article, source, location), with first and last seen, however often it arrives again;
retention for job part payloads, old jobs, rejects (raw capped) and revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, update

from tests.factories import distinct_article
from tests.polling import wait_for
from tests.store import store_articles
from worker.storage.migrate import upgrade
from worker.storage.models import (
    Article,
    ArticleRevision,
    IngestJob,
    IngestJobPart,
    Reject,
    Sighting,
    Source,
    utcnow,
)


def _sightings(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(
                Sighting.article_id,
                Sighting.location,
                Sighting.seen_at,
                Sighting.last_seen_at,
            ).order_by(Sighting.id)
        ).all()


class TestOneSightingPerPlace:
    def test_the_same_arrival_again_moves_last_seen(self, engine: Engine) -> None:
        """The same document from the same producer and URL, in two jobs, is one sighting
        whose first-seen time stays and whose last-seen time moves on."""
        document = {"body": distinct_article(1), "url": "https://a.example/1", "source": "p"}
        store_articles(engine, [document])
        ((_, _, first, last),) = _sightings(engine)
        assert first == last
        summary = store_articles(engine, [document])
        assert summary.duplicates == 1
        ((_, _, first_again, last_again),) = _sightings(engine)
        assert first_again == first and last_again >= last

    def test_many_copies_in_one_batch_are_one_sighting_per_location(self, engine: Engine) -> None:
        """500 copies of one text from one producer at one URL add one sighting; copies at
        other locations add one each."""
        body = distinct_article(2)
        same = [{"body": body, "url": "https://a.example/2", "source": "p"}] * 500
        elsewhere = [
            {"body": body, "extra": {"path": f"/mirror/{n}"}, "source": "p"} for n in range(3)
        ]
        summary = store_articles(engine, same + elsewhere)
        assert summary.received == 503 and summary.new == 1
        locations = [row.location for row in _sightings(engine)]
        assert sorted(locations) == sorted(
            ["https://a.example/2", "/mirror/0", "/mirror/1", "/mirror/2"]
        )


class TestMigrationFoldsRepeats:
    def test_0006_keeps_one_row_with_first_and_last_seen(self, tmp_path: Path) -> None:
        """Repeated sightings stored before 0006 become one row: the first one's time as
        seen_at, the latest as last_seen_at; other places keep their own row."""
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(engine, "0004")
        now = utcnow()
        times = [datetime(2024, 5, day, tzinfo=UTC) for day in (1, 2, 3)]
        with engine.begin() as connection:
            connection.execute(
                insert(Source.__table__).values(
                    id=1, kind="producer", name="p", created_at=now, status="active",
                    enabled=True, error_count=0,
                )
            )  # fmt: skip
            connection.execute(
                insert(Article.__table__).values(
                    id=1, title="t", body="b", url=None, source_id=1, content_hash="h" * 64,
                    story_id=1, shingle_count=0, normalizer_version=1, raw=b"{}",
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
            for seen_at in times:
                connection.execute(
                    insert(Sighting.__table__).values(
                        article_id=1, source_id=1, location="/seeds/001.txt", seen_at=seen_at
                    )
                )
            connection.execute(
                insert(Sighting.__table__).values(
                    article_id=1, source_id=1, location="/seeds/002.txt", seen_at=times[1]
                )
            )
        upgrade(engine)
        rows = [(r.location, r.seen_at, r.last_seen_at) for r in _sightings(engine)]
        engine.dispose()
        assert rows == [
            ("/seeds/001.txt", times[0], times[2]),
            ("/seeds/002.txt", times[1], times[1]),
        ]


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def _age_everything(engine: Engine, days: int) -> None:
    """Make every finished job, part, reject and revision `days` old."""
    then = utcnow() - timedelta(days=days)
    with engine.begin() as connection:
        connection.execute(update(IngestJob.__table__).values(finished_at=then))
        connection.execute(update(IngestJobPart.__table__).values(finished_at=then))
        connection.execute(update(Reject.__table__).values(created_at=then))
        connection.execute(update(ArticleRevision.__table__).values(replaced_at=then))


def _fill(engine: Engine) -> None:
    """A job with stored articles, one changed text (a revision) and one reject."""
    store_articles(engine, [{"body": distinct_article(5), "url": "https://a.example/5"}])
    store_articles(
        engine,
        [
            {"body": distinct_article(6), "url": "https://a.example/5"},  # changed text
            {"body": "   "},  # rejected: no text
        ],
    )


class TestRetention:
    def test_each_rule_prunes_only_what_is_older_than_its_setting(self, engine: Engine) -> None:
        """At 10 days old: part payloads (7 d) are emptied, jobs (90 d), rejects (30 d) and
        revisions (90 d) are kept; at 100 days everything old is deleted; 0 keeps for ever."""
        from worker.services.retention import prune_stored
        from worker.settings import Settings

        _fill(engine)
        assert (_count(engine, Reject), _count(engine, ArticleRevision)) == (1, 1)
        parts = _count(engine, IngestJobPart)
        _age_everything(engine, 10)
        counts = prune_stored(engine=engine)
        assert counts == {"part_payloads": parts, "jobs": 0, "rejects": 0, "revisions": 0}
        with engine.connect() as connection:
            payloads = connection.execute(select(IngestJobPart.payload)).scalars().all()
        assert payloads == [{"pruned": True}] * parts
        assert prune_stored(engine=engine)["part_payloads"] == 0  # idempotent

        _age_everything(engine, 100)
        keep_all = Settings(
            retention_part_payload_s=0,
            retention_jobs_s=0,
            retention_rejects_s=0,
            retention_revisions_s=0,
        )
        assert set(prune_stored(engine=engine, settings=keep_all).values()) == {0}
        counts = prune_stored(engine=engine)
        assert counts == {"part_payloads": 0, "jobs": 2, "rejects": 1, "revisions": 1}
        assert [_count(engine, m) for m in (IngestJob, IngestJobPart, Reject, ArticleRevision)] == [
            0,
            0,
            0,
            0,
        ]
        assert _count(engine, Article) == 1  # articles and their sightings are kept

    def test_a_rejects_raw_input_is_capped(self, engine: Engine) -> None:
        """A rejected input keeps at most NEWS_INGEST_REJECT_RAW_MAX_BYTES of its bytes."""
        from worker.storage.articles import insert_rejects

        with engine.begin() as connection:
            insert_rejects(
                connection=connection,
                rows=[{"reason": "binary", "raw": b"\x00" * 300_000, "created_at": utcnow()}],
            )
        with engine.connect() as connection:
            (raw,) = connection.execute(select(Reject.raw)).scalars().all()
        assert len(raw) == 64 * 1024

    def test_beat_task_prunes_on_a_worker(self, celery_worker: object, postgres_db: str) -> None:
        """`retention.prune`, as beat sends it, runs on a real worker and prunes."""
        from worker.app import app
        from worker.storage.session import get_engine

        engine = get_engine()
        _fill(engine)
        _age_everything(engine, 100)
        app.send_task("retention.prune")
        wait_for(
            lambda: _count(engine, IngestJob) == 0 and _count(engine, Reject) == 0,
            timeout=60,
            what="the retention task",
        )
        assert "prune-retained" in app.conf.beat_schedule


class TestBoundedResponses:
    def test_a_page_of_articles_stops_at_the_byte_cap(
        self, pg_url: str, postgres_db: str, redis_client: object, tmp_path: Path
    ) -> None:
        """With NEWS_INGEST_API_MAX_PAGE_BYTES=2048, pages of ~1,450-character articles hold
        one article each whatever the limit, and following next_cursor still yields every
        article once."""
        from tests.apiserver import running_api
        from worker.storage.session import get_engine

        store_articles(
            get_engine(postgres_db),
            [{"body": distinct_article(n), "url": f"https://a.example/{n}"} for n in range(5)],
        )
        seen: list[int] = []
        sizes: list[int] = []
        with (
            running_api(
                pg_url, tmp_path / "server.log", NEWS_INGEST_API_MAX_PAGE_BYTES="2048"
            ) as server,
            server.client() as api,
        ):
            cursor = None
            while True:
                params: dict[str, object] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
                page = api.get("/articles", params=params).json()
                sizes.append(len(page["items"]))
                seen.extend(item["id"] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        assert sizes == [1, 1, 1, 1, 1]
        assert seen == sorted(set(seen)) and len(seen) == 5
