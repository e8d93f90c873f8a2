"""Helpers for tests that run `news-ingest` commands as real processes, and for filling the
database with articles (and so the outbox with events) quickly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from tests.factories import distinct_article

NEWS_INGEST = Path(sys.executable).parent / "news-ingest"


class CliProcess:
    """`news-ingest ARGS...` in its own process, its output in a log file."""

    def __init__(
        self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(NEWS_INGEST), *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last commit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def store_articles(engine, count: int, *, start: int = 0, batch: int = 500) -> str:  # type: ignore[no-untyped-def]
    """Store `count` distinct articles through the one ingest path; returns the job id."""
    from worker.services import jobs as job_service
    from worker.services import parts as part_service

    documents = [
        {"body": distinct_article(start + i), "url": f"https://news.example/{start + i}"}
        for i in range(count)
    ]
    job_id = job_service.create_job(engine=engine, request={"test": "store_articles"})
    for part_no in job_service.add_article_parts(
        engine=engine, job_id=job_id, documents=documents, batch_size=batch
    ):
        part_service.run_part(engine=engine, job_id=job_id, part_no=part_no)
    job_service.seal_job(engine=engine, job_id=job_id)
    return job_id


def write_seed(path: Path, number: int, *, date: str = "2024-05-01") -> str:
    """Write a distinct seed file; returns its body."""
    body = distinct_article(number)
    path.write_text(f"date {date} {body}", encoding="utf-8")
    return body
