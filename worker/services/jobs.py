"""Jobs: split a request into parts, seal a job, resume parts whose messages were lost.

The CLI's `run`, the Celery tasks and the HTTP API all go through these functions, so there
is one ingest path; a part is run by services.parts. Queueing is a callback (`send_part`)
invoked only after the part's row is committed: a worker never receives a part that could
still roll back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine

from schemas import FINISHED_STATUSES, IngestJobPublic, IngestSummary, JobStatus
from worker.settings import Settings, get_settings
from worker.sources.seeds import iter_seed_files
from worker.storage import jobs
from worker.storage.feeds import without_credentials
from worker.storage.rejects import insert_rejects, reject_row

log = structlog.get_logger(__name__)

SendPart = Callable[[str, int, str], None]  # (job_id, part_no, kind) -> None


def create_job(
    *, engine: Engine, request: dict[str, Any] | None = None, job_id: str | None = None
) -> str:
    if request and request.get("feeds"):
        # A feed URL's `user:password@` is the feed's to keep (sources.credentials), never
        # the job's record, which `jobs show` and GET /jobs print.
        request = {**request, "feeds": [without_credentials(u)[0] for u in request["feeds"]]}
    with engine.begin() as connection:
        return jobs.create_job(connection=connection, request=request, job_id=job_id)


def add_seed_parts(
    *,
    engine: Engine,
    job_id: str,
    paths: Iterable[str | Path],
    batch_size: int,
    send_part: SendPart | None = None,
    within: Sequence[Path] = (),
) -> int:
    """Scan seed paths and add one part per `batch_size` files, streaming: the first parts
    are queued (and can be worked on) while the scan goes on. Returns the file count.

    Each part carries the root its files must be opened beneath (the worker checks): the
    first of `within` (the API's seed roots) holding the path, else a directory given is
    its own root; a file given outside `within` has none (the operator named it: followed).
    """
    count = 0
    for source, root, batch in _seed_batches(paths, batch_size, within):
        add_seed_part(
            engine=engine,
            job_id=job_id,
            source=source,
            paths=batch,
            send_part=send_part,
            root=root,
        )
        count += len(batch)
    return count


def add_seed_part(
    *,
    engine: Engine,
    job_id: str,
    source: str,
    paths: list[str],
    send_part: SendPart | None = None,
    root: str | None = None,
) -> int:
    """One part of seed files from one source (a registered directory, say), queued after
    its row is committed. With `root`, the worker reads only files opened beneath it (no
    symbolic link followed). Returns the part number."""
    payload: dict[str, Any] = {"source": source, "paths": paths}
    if root is not None:
        payload["root"] = root
    with engine.begin() as connection:
        (part_no,) = jobs.add_parts(
            connection=connection, job_id=job_id, kind="seeds", payloads=[payload]
        )
    if send_part is not None:
        send_part(job_id, part_no, "seeds")
    return part_no


def add_article_parts(
    *,
    engine: Engine,
    job_id: str,
    documents: list[dict[str, Any]],
    batch_size: int,
    send_part: SendPart | None = None,
    kind: str = "articles",
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """`documents` as parts of the job, `batch_size` to a part, each committed on its own
    and then handed to `send_part` (never queued before its row exists). `extra` goes into
    every part's payload beside its "articles"."""
    numbers: list[int] = []
    for start in range(0, len(documents), batch_size):
        with engine.begin() as connection:
            numbers += jobs.add_parts(
                connection=connection,
                job_id=job_id,
                kind=kind,
                payloads=[{"articles": documents[start : start + batch_size], **(extra or {})}],
            )
        if send_part is not None:
            send_part(job_id, numbers[-1], kind)
    return numbers


def accept_message(*, engine: Engine, job_id: str, articles: Any, settings: Settings) -> None:
    """Turn a producer's `ingest.articles` message into a one-part job, once per message.

    A payload that is not a list, a batch over NEWS_INGEST_MAX_BATCH_SIZE, or a message
    refused before decoding (`{"__refused__": reason, "count": n}`, see
    worker.tasks.messages) becomes a failed part with ONE reject that counts its inputs:
    checked before any work is done, never retried, and never a row per item (200,000
    tiny items once wrote 176 MB of reject rows).
    """
    refusal: tuple[str, int, bytes | None] | None = None
    if isinstance(articles, dict) and isinstance(articles.get("__refused__"), str):
        count = articles.get("count")
        refusal = (articles["__refused__"], count if isinstance(count, int) else 1, None)
    elif not isinstance(articles, list):
        shown = repr(articles)[:10_000].encode("utf-8", "replace")
        refusal = ("payload is not a list of RawArticle documents", 1, shown)
    elif len(articles) > settings.max_batch_size:
        reason = (
            f"batch of {len(articles)} articles exceeds "
            f"NEWS_INGEST_MAX_BATCH_SIZE={settings.max_batch_size}"
        )
        refusal = (reason, len(articles), None)
    with engine.begin() as connection:
        jobs.create_job(
            connection=connection, request={"producer": "ingest.articles"}, job_id=job_id
        )
        job = jobs.get_job(connection=connection, job_id=job_id)
        if job is None or job["parts_total"] != 0:
            return
        if refusal is None:
            jobs.add_parts(
                connection=connection,
                job_id=job_id,
                kind="articles",
                payloads=[{"articles": articles}],
            )
            jobs.seal_job(connection=connection, job_id=job_id)
            return
        reason, count, head = refusal
        (part_no,) = jobs.add_parts(
            connection=connection,
            job_id=job_id,
            kind="articles",
            payloads=[{"refused": reason, "count": count}],
        )
        jobs.seal_job(connection=connection, job_id=job_id)
        location = f"ingest.articles message ({count} inputs)"
        insert_rejects(
            connection=connection,
            rows=[reject_row(job_id=job_id, location=location, reason=reason, raw=head)],
        )
        jobs.finish_part(
            connection=connection,
            job_id=job_id,
            part_no=part_no,
            summary=IngestSummary(received=count, rejected=count),
            status=JobStatus.failed,
            error=reason,
        )


def seal_job(*, engine: Engine, job_id: str) -> None:
    with engine.begin() as connection:
        jobs.seal_job(connection=connection, job_id=job_id)


def claim_open_part(
    *, engine: Engine, job_id: str, part_no: int, count_delivery: bool = True
) -> jobs.PartClaim | None:
    """Claim a part for this delivery (its own transaction, see `storage.jobs.claim_part`).
    None when there is nothing to do: no such part, or one already finished (a late
    redelivery)."""
    with engine.begin() as connection:
        claim = jobs.claim_part(
            connection=connection, job_id=job_id, part_no=part_no, count_delivery=count_delivery
        )
    if claim is None:
        log.warning("unknown job part", job_id=job_id, part_no=part_no)
        return None
    return None if claim.status in FINISHED_STATUSES else claim


def resume_stalled(
    *,
    engine: Engine,
    send_part: SendPart,
    job_id: str | None = None,
    older_than: timedelta | None = None,
) -> int:
    """Re-enqueue parts that made no progress for a while (broker lost the message, worker
    died and the redelivery is far off). Running a part twice is harmless."""
    older_than = (
        older_than if older_than is not None else timedelta(seconds=get_settings().job_stall_s)
    )
    with engine.begin() as connection:
        stalled = jobs.stalled_parts(connection=connection, older_than=older_than, job_id=job_id)
        jobs.touch_parts(connection=connection, keys=[(j, p) for j, p, _ in stalled])
    for stalled_job, part_no, kind in stalled:
        send_part(stalled_job, part_no, kind)
    if stalled:
        log.warning("re-enqueued stalled parts", parts=len(stalled))
    return len(stalled)


def _seed_batches(
    paths: Iterable[str | Path], batch_size: int, within: Sequence[Path] = ()
) -> Iterator[tuple[str, str | None, list[str]]]:
    """Batches of up to `batch_size` files sharing a source (a directory given, or the
    parent directory of a file given) and a root, streamed as the paths are scanned."""

    def located() -> Iterator[tuple[tuple[str, str | None], str]]:
        for given in paths:
            root_path = Path(given).resolve()
            is_dir = root_path.is_dir()
            source = str(root_path if is_dir else root_path.parent)
            allowed = next((str(r) for r in within if root_path.is_relative_to(r)), None)
            root = allowed or (str(root_path) if is_dir else None)
            for path in iter_seed_files([root_path]):
                yield (source, root), str(path)

    batch: list[str] = []
    current: tuple[str, str | None] | None = None
    for key, path in located():
        if batch and current is not None and (key != current or len(batch) >= batch_size):
            yield current[0], current[1], batch
            batch = []
        current = key
        batch.append(path)
    if batch and current is not None:
        yield current[0], current[1], batch


# ---------------------------------------------------------------------------------------
# Reading jobs: what `news-ingest jobs`, `enqueue --wait` and `GET /jobs/{id}` show.


def get_job(*, engine: Engine, job_id: str) -> IngestJobPublic | None:
    """A job's status and counts; None if there is no such job."""
    with engine.connect() as connection:
        row = jobs.get_job(connection=connection, job_id=job_id)
    return IngestJobPublic.model_validate(row) if row is not None else None


def list_jobs(*, engine: Engine, limit: int = 50) -> list[IngestJobPublic]:
    """The newest jobs first."""
    with engine.connect() as connection:
        rows = jobs.list_jobs(connection=connection, limit=limit)
    return [IngestJobPublic.model_validate(row) for row in rows]


def job_ids_starting_with(*, engine: Engine, prefix: str) -> list[str]:
    """Job ids that start with `prefix` (what a person types for `jobs show abc1`)."""
    with engine.connect() as connection:
        return jobs.job_ids_starting_with(connection=connection, prefix=prefix)
