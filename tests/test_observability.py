"""What operators see of a real prefork worker: its metrics port and its JSON log lines."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.apiserver import console_script, free_port
from tests.conftest import TEST_REDIS_URL
from tests.factories import STORY, distinct_article
from tests.polling import wait_for
from worker.storage.models import IngestJob
from worker.storage.session import get_engine

pytestmark = pytest.mark.slow


class Worker:
    def __init__(self, metrics_url: str, log: Path) -> None:
        self.metrics_url = metrics_url
        self.log = log

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(self.metrics_url, timeout=5).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def log_lines(self) -> list[dict]:  # type: ignore[type-arg]
        lines = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"unparsed": line})
        return lines


@pytest.fixture
def prefork_worker(postgres_db: str, redis_client: object, tmp_path: Path) -> Iterator[Worker]:
    """`celery -A worker.app worker` with a prefork pool of 2, JSON logs, and its metrics
    port in multiprocess mode."""
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": postgres_db,
        "BROKER_URL": TEST_REDIS_URL,
        "NEWS_INGEST_LOG_FORMAT": "json",
        "NEWS_INGEST_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                console_script("celery"),
                "-A",
                "worker.app",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                f"--hostname=obs-{uuid.uuid4().hex[:6]}@%h",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(f"http://127.0.0.1:{port}/metrics", log)
    try:

        def serving() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(worker.metrics_url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(serving)
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class TestWorkerObservability:
    def test_task_durations_and_task_log_lines(self, prefork_worker: Worker) -> None:
        """Tasks run in pool processes are counted on the main process's port, and every
        task's log line is JSON carrying its task id, job id and source."""
        from worker.app import app

        task_id = str(uuid.uuid4())
        articles = [
            {"body": STORY, "source": "wire-x"},
            {"body": distinct_article(3), "source": "wire-x"},
        ]
        app.send_task("ingest.articles", args=[articles], task_id=task_id)
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"news-ingest:message:{task_id}"))
        engine = get_engine()

        def done() -> bool:
            with engine.connect() as connection:
                return (
                    connection.execute(
                        select(IngestJob.status).where(IngestJob.id == job_id)
                    ).scalar()
                    == "done"
                )

        wait_for(done)
        from worker.services import jobs as job_service
        from worker.tasks.jobs import send_part

        queued_job = job_service.create_job(engine=engine)
        job_service.add_article_parts(
            engine=engine,
            job_id=queued_job,
            batch_size=10,
            documents=[{"body": distinct_article(4)}],
            send_part=send_part,
        )
        job_service.seal_job(engine=engine, job_id=queued_job)

        success = (
            "news_ingest_task_duration_seconds_count",
            frozenset({("task", "ingest.articles"), ("state", "SUCCESS")}),
        )
        wait_for(lambda: prefork_worker.samples().get(success, 0) >= 2)

        def finished(**fields: str) -> dict | None:  # type: ignore[type-arg]
            return next(
                (
                    line
                    for line in prefork_worker.log_lines()
                    if line.get("event") == "task finished"
                    and all(line.get(k) == v for k, v in fields.items())
                ),
                None,
            )

        message_line = wait_for(lambda: finished(task_id=task_id))
        assert (message_line["task_name"], message_line["state"], message_line["source"]) == (
            "ingest.articles",
            "SUCCESS",
            "wire-x",
        )
        assert message_line["level"] == "info" and message_line["timestamp"].endswith("Z")
        part_line = wait_for(lambda: finished(job_id=queued_job))
        assert part_line["task_id"] and part_line["part_no"] == 0
        # Once the worker is up (before it, Celery prints its banner), every line is JSON,
        # Celery's own included.
        lines = prefork_worker.log_lines()
        ready = next(
            i for i, entry in enumerate(lines) if str(entry.get("event")).endswith("ready.")
        )
        assert lines[ready]["logger"] == "celery.apps.worker"
        assert not [entry for entry in lines[ready:] if "unparsed" in entry]
