"""`POST /jobs` (queue seed paths, feed URLs or RawArticle documents) and `GET /jobs/{id}`.

Goes through worker.services.jobs like `news-ingest enqueue`: one ingest path. Each part is
committed before it is queued; if the broker is down the job still holds every part and
`jobs.resume` queues them once it is back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from schemas import IngestJobPublic, JobRequest
from worker.api.deps import EngineDep
from worker.api.models import JobAccepted, check_feed_url
from worker.api.problems import ProblemError, problem_responses
from worker.api.security import require_api_key
from worker.services import jobs as job_service
from worker.services.feeds import queue_feed_url
from worker.settings import Settings, get_settings
from worker.tasks.jobs import send_part

log = structlog.get_logger(__name__)
router = APIRouter(tags=["jobs"])

JobId = Annotated[
    str,
    PathParam(
        min_length=1,
        max_length=36,
        pattern=r"^[0-9A-Fa-f-]+$",
        description="The id `POST /jobs` returned.",
    ),
]


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobAccepted,
    dependencies=[Depends(require_api_key)],
    responses=problem_responses(400, 401, 403, 413, 422, 503),
    summary="Queue an ingestion job",
)
def create_job(request: JobRequest, engine: EngineDep) -> JobAccepted:
    """Queue seed paths (files or directories on the server), feed URLs and RawArticle
    documents as one job; poll `GET /jobs/{job_id}` for its status and counts. The API only
    queues: Celery workers consuming `NEWS_INGEST_QUEUE` (and one beat, which re-queues lost
    parts) do the rest; with none running the job stays `queued`."""
    settings = get_settings()
    if not (request.paths or request.feeds or request.articles):
        raise ProblemError(400, "nothing to ingest: give paths, feeds or articles")
    paths = _seed_paths(request.paths, settings)
    roots = [Path(root).resolve() for root in settings.api_seed_roots.split(",") if root.strip()]
    feeds = [_feed_url(url) for url in request.feeds]
    job_id = job_service.create_job(
        engine=engine,
        request={
            "via": "api",
            "paths": [str(path) for path in paths],
            "feeds": feeds,
            "articles": len(request.articles),
        },
    )
    send = _Sender()
    # The part carries the seed root: the worker opens each file beneath it, so a file
    # swapped for a link after this check is still refused.
    job_service.add_seed_parts(
        engine=engine,
        job_id=job_id,
        paths=paths,
        batch_size=settings.batch_size,
        send_part=send,
        within=roots,
    )
    if request.articles:
        job_service.add_article_parts(
            engine=engine,
            job_id=job_id,
            batch_size=settings.batch_size,
            send_part=send,
            documents=[a.model_dump(mode="json", exclude_defaults=True) for a in request.articles],
        )
    for url in feeds:
        queue_feed_url(engine=engine, job_id=job_id, url=url, send_part=send)
    job_service.seal_job(engine=engine, job_id=job_id)
    log.info(
        "job queued",
        job_id=job_id,
        paths=len(paths),
        feeds=len(feeds),
        articles=len(request.articles),
        deferred_parts=send.deferred,
    )
    return JobAccepted(job_id=job_id)


@router.get(
    "/jobs/{job_id}",
    response_model=IngestJobPublic,
    responses=problem_responses(404, 422),
    summary="A job's status and counts",
)
def get_job(job_id: JobId, engine: EngineDep) -> IngestJobPublic:
    job = job_service.get_job(engine=engine, job_id=job_id)
    if job is None:
        raise ProblemError(404, f"no job {job_id}")
    return job


class _Sender:
    """Queue parts; after the first broker failure, leave the rest to `jobs.resume` rather
    than wait on a dead broker once per part (every part is already committed)."""

    def __init__(self) -> None:
        self.broker_down = False
        self.deferred = 0

    def __call__(self, job_id: str, part_no: int, kind: str) -> None:
        if not self.broker_down:
            try:
                send_part(job_id, part_no, kind)
                return
            except (KombuOperationalError, RedisError, OSError) as error:
                self.broker_down = True
                log.warning(
                    "broker unavailable: jobs.resume will queue the job's parts",
                    job_id=job_id,
                    error=f"{type(error).__name__}: {error}",
                )
        self.deferred += 1


NOT_READABLE = "no such file or directory under NEWS_INGEST_API_SEED_ROOTS"


def _seed_paths(paths: list[str], settings: Settings) -> list[Path]:
    """Absolute, existing paths inside NEWS_INGEST_API_SEED_ROOTS; none at all without it.

    One answer for "missing" and "not allowed", inside the roots or outside, so the API
    tells nothing of the server's files. A path outside the roots is refused on its text
    (os.path.normpath) before anything touches the file system; one inside is resolved
    (symlinks followed) and must still be inside."""
    if not paths:
        return []
    given_roots = [root.strip() for root in settings.api_seed_roots.split(",") if root.strip()]
    roots = [Path(root).resolve() for root in given_roots]
    lexical_roots = [*roots, *(Path(os.path.normpath(root)) for root in given_roots)]
    if not roots:
        raise ProblemError(
            403,
            "this server reads no seed paths: its operator has not set "
            "NEWS_INGEST_API_SEED_ROOTS (send articles or feeds instead)",
        )
    resolved: list[Path] = []
    problems: list[dict[str, str]] = []
    for given in paths:
        path = _inside_roots(given, roots, lexical_roots)
        if path is None:
            problems.append({"path": given[:1000], "reason": NOT_READABLE})
        else:
            resolved.append(path)
    if problems:
        log.info("seed paths refused", paths=[p["path"] for p in problems[:20]])
        raise ProblemError(
            400,
            f"{len(problems)} path(s) cannot be read: {problems[0]['path']!r}: {NOT_READABLE}",
            paths=problems[:100],
        )
    return resolved


def _inside_roots(given: str, roots: list[Path], lexical_roots: list[Path]) -> Path | None:
    if "\x00" in given or not os.path.isabs(given):
        return None
    lexical = Path(os.path.normpath(given))
    if not any(lexical.is_relative_to(root) for root in lexical_roots):
        return None
    try:
        path = lexical.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not any(path.is_relative_to(root) for root in roots):
        return None
    return path


def _feed_url(url: str) -> str:
    try:
        return check_feed_url(url)
    except ValueError as error:
        raise ProblemError(400, f"feed URL {url[:200]!r}: {error}") from None
