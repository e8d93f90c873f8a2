"""Retention: finished jobs, part payloads, rejects and revisions are pruned by their
settings; sightings and articles are never touched."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select, update

from tests.factories import STORY, distinct_article
from tests.store import store_articles
from worker.app import app as celery_app
from worker.services.retention import prune
from worker.settings import Settings
from worker.storage.models import (
    Article,
    ArticleRevision,
    IngestJob,
    IngestJobPart,
    Reject,
    Sighting,
    table_of,
    utcnow,
)
from worker.storage.rejects import insert_rejects

jobs, parts = table_of(IngestJob), table_of(IngestJobPart)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(table_of(model))).scalar_one()
        )


def _age_everything(engine: Engine, days: int) -> None:
    past = utcnow() - timedelta(days=days)
    with engine.begin() as connection:
        connection.execute(update(jobs).values(finished_at=past, created_at=past))
        connection.execute(update(parts).values(finished_at=past))
        connection.execute(update(table_of(Reject)).values(created_at=past))


class TestPrune:
    def test_part_payloads_are_emptied_after_a_day(self, engine: Engine) -> None:
        """A finished part's documents go after `part_payload_retention_s`; the job stays."""
        store_articles(engine, [{"body": distinct_article(n)} for n in range(3)])
        assert prune(engine).part_payloads == 0  # just finished: kept
        _age_everything(engine, days=2)
        pruned = prune(engine)
        assert pruned.part_payloads == 1 and pruned.jobs == 0
        with engine.connect() as connection:
            assert connection.execute(select(parts.c.payload)).scalars().all() == [{}]
        assert prune(engine).part_payloads == 0  # already empty: not rewritten

    def test_old_jobs_and_rejects_go_articles_and_sightings_stay(self, engine: Engine) -> None:
        """After `job_retention_s` and `reject_retention_s`, jobs, parts and rejects are
        deleted; what was stored, and where it was seen, is not."""
        store_articles(engine, [{"body": STORY}, {"body": " "}])
        _age_everything(engine, days=31)
        pruned = prune(engine)
        assert (pruned.jobs, pruned.rejects) == (1, 1)
        assert (
            _count(engine, IngestJob)
            == _count(engine, IngestJobPart)
            == _count(engine, Reject)
            == 0
        )
        assert _count(engine, Article) == 1 and _count(engine, Sighting) == 1

    def test_zero_keeps_everything(self, engine: Engine) -> None:
        """A retention of 0 turns that pruning off."""
        store_articles(engine, [{"body": STORY}, {"body": " "}])
        _age_everything(engine, days=365)
        keep_all = Settings(
            part_payload_retention_s=0, job_retention_s=0, reject_retention_s=0, revisions_kept=0
        )
        assert prune(engine, settings=keep_all).as_dict() == {
            "part_payloads": 0,
            "jobs": 0,
            "rejects": 0,
            "revisions": 0,
        }
        assert _count(engine, IngestJob) == 1

    def test_revisions_keep_the_latest(self, engine: Engine) -> None:
        """An article whose text changed 14 times under one URL keeps its 10 latest
        earlier texts (`revisions_kept`)."""
        for version in range(15):
            store_articles(
                engine,
                [
                    {
                        "body": distinct_article(100 + version),
                        "url": "https://example.com/live",
                        "source": "s",
                    }
                ],
            )
        assert _count(engine, ArticleRevision) == 14
        assert prune(engine).revisions == 4
        with engine.connect() as connection:
            kept = connection.execute(select(table_of(ArticleRevision).c.id)).scalars().all()
        assert len(kept) == 10 and min(kept) == 5

    def test_beat_runs_it_hourly(self) -> None:
        """Beat schedules `retention.prune` every hour, and the worker knows the task."""
        entries = {entry["task"]: entry for entry in celery_app.conf.beat_schedule.values()}
        assert entries["retention.prune"]["schedule"].run_every == timedelta(hours=1)
        celery_app.loader.import_default_modules()
        assert "retention.prune" in celery_app.tasks


class TestRejectRawIsCapped:
    def test_a_huge_reject_keeps_only_its_start(self, engine: Engine) -> None:
        """A rejected input's raw bytes are stored up to `reject_raw_max_bytes` (64 KiB)."""
        with engine.begin() as connection:
            insert_rejects(
                connection=connection,
                rows=[{"location": "big.txt", "reason": "binary file", "raw": b"\x00" * 2_000_000}],
            )
        with engine.connect() as connection:
            raw = connection.execute(select(table_of(Reject).c.raw)).scalar_one()
        assert raw == b"\x00" * (64 * 1024)
