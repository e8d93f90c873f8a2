"""The queue paths with a real Celery worker on the local Redis and Postgres."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import STORY, distinct_article
from tests.polling import wait_for
from worker.cli import app as cli
from worker.storage.models import Article, IngestJob, Reject
from worker.storage.session import get_engine


def make_seeds(directory: Path, count: int) -> None:
    for i in range(count):
        body = distinct_article(i)
        (directory / f"{i:03d}_{i:016x}.txt").write_text(
            f" date 2024-05-{i % 28 + 1:02d} {body}", encoding="utf-8"
        )


class TestEnqueue:
    def test_enqueue_wait_reports_final_counts(self, celery_worker, tmp_path: Path) -> None:
        """`enqueue --batch-size 4 --wait --json` prints {"job_id"} first, then the job's
        counts with status done."""
        make_seeds(tmp_path, 10)
        result = CliRunner().invoke(
            cli, ["enqueue", str(tmp_path), "--batch-size", "4", "--wait", "--json"]
        )
        assert result.exit_code == 0, result.output
        first, summary = (json.loads(line) for line in result.stdout.splitlines())
        assert first == {"job_id": summary["job_id"]}
        assert summary["status"] == "done"
        assert (summary["received"], summary["new"], summary["rejected"]) == (10, 10, 0)
        show = CliRunner().invoke(cli, ["jobs", "show", summary["job_id"], "--json"])
        assert json.loads(show.stdout)["parts_total"] == 3

    def test_enqueue_without_wait_prints_job_id(self, celery_worker, tmp_path: Path) -> None:
        """Without --wait, enqueue prints {"job_id"} and the worker finishes the job."""
        make_seeds(tmp_path, 3)
        result = CliRunner().invoke(cli, ["enqueue", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
        job_id = json.loads(result.stdout)["job_id"]
        engine = get_engine()

        def status() -> str | None:
            with engine.connect() as connection:
                return connection.execute(
                    select(IngestJob.status).where(IngestJob.id == job_id)
                ).scalar_one()

        assert wait_for(lambda: status() == "done")


class TestProducerInterface:
    def test_ingest_articles_message_from_another_service(self, celery_worker) -> None:
        """A bare `ingest.articles` message with RawArticle JSON is stored as a job."""
        from worker.app import app

        task_id = str(uuid.uuid4())
        app.send_task(
            "ingest.articles",
            args=[
                [
                    {"body": STORY, "url": "https://x.example/1"},
                    {"body": STORY, "url": "https://x.example/1"},
                    {"nobody": 1},
                ]
            ],
            task_id=task_id,
        )
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"news-ingest:message:{task_id}"))
        engine = get_engine()

        def job() -> dict | None:
            with engine.connect() as connection:
                row = (
                    connection.execute(select(IngestJob.__table__).where(IngestJob.id == job_id))
                    .mappings()
                    .one_or_none()
                )
            return dict(row) if row and row["status"] == "done" else None

        done = wait_for(job)
        assert (done["received"], done["new"], done["duplicates"], done["rejected"]) == (3, 1, 1, 1)

    def test_payload_that_is_not_a_list_is_rejected_not_retried(self, celery_worker) -> None:
        """A poison payload ends as one reject with its reason."""
        from worker.app import app

        app.send_task("ingest.articles", args=["not a list"])
        engine = get_engine()

        def rejected() -> list[str]:
            with engine.connect() as connection:
                return connection.execute(select(Reject.reason)).scalars().all()

        assert "payload is not a list" in wait_for(rejected)[0]
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(Article)).scalar_one() == 0
