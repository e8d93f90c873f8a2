"""`run` (ingest now, in this process) and `enqueue` (queue a job for the workers).

Both say what went wrong with each input: a named path or URL that could not be read at all
makes the exit code non-zero; files rejected inside a directory are listed (stderr, and
`news-ingest rejects`) and do not.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import redis
import typer
from redis.exceptions import RedisError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas import FINISHED_STATUSES, IngestJobPublic, IngestSummary, JobStatus
from worker.cli.common import (
    console,
    database_engine,
    database_label,
    errors,
    fail,
    interactive,
    note,
    print_json,
    warn,
)
from worker.cli.rejects import report_job_rejects, report_job_warnings
from worker.runtime import prepare_for_batches
from worker.settings import get_settings
from worker.sources.seeds import iter_seed_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

PathsArg = Annotated[
    list[str], typer.Argument(help="Seed files or directories, or feed URLs.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
# `enqueue --wait`: after this long with no part taken by a worker, say so (and how to
# start one); the wait goes on.
NO_WORKER_NOTICE_S = 5.0
TIMEOUT_EXIT_CODE = 124  # as timeout(1)
SEED_FILES_HELP = 'seed files are *.txt (see "Seed files" in the README)'


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(enqueue)


@dataclass
class _Inputs:
    paths: list[Path] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # named, but not there at all


def _split_inputs(inputs: list[str]) -> _Inputs:
    """Existing paths and feed URLs; a missing path is reported (and fails the run at the
    end, after the rest is ingested)."""
    found = _Inputs()
    for item in inputs:
        if item.startswith(("http://", "https://")):
            found.urls.append(item)
        elif Path(item).exists():
            found.paths.append(Path(item))
            check_seed_directory(Path(item))
        else:
            warn(f"{item}: no such file or directory")
            found.unreadable.append(item)
    if not found.paths and not found.urls:
        fail("nothing to ingest: " + ("no given path exists" if inputs else "no input given"))
    return found


def check_seed_directory(path: Path) -> None:
    """A directory without a single seed file is almost always the wrong one: say so."""
    if not path.is_dir() or next(iter(iter_seed_files([path])), None) is not None:
        return
    others = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    if others:
        entries = "entry" if len(others) == 1 else "entries"
        held = f"it holds {len(others)} other {entries}: {', '.join(others[:3])}"
        held += ", ..." if len(others) > 3 else ""
    else:
        held = "it is empty"
    warn(f"{path}: no *.txt files in this directory ({held}); {SEED_FILES_HELP}")


def _new_job(engine: Engine, found: _Inputs) -> str:
    from worker.services import jobs as job_service

    return job_service.create_job(
        engine=engine, request={"paths": [str(p) for p in found.paths], "feeds": found.urls}
    )


def _count_files(paths: list[Path]) -> int:
    return sum(1 for _ in iter_seed_files(paths))


def run(
    inputs: PathsArg,
    json_output: JsonOpt = False,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Files per batch.")] = None,
    subscribe: Annotated[
        bool,
        typer.Option(
            "--subscribe", help="Also add the feed URLs to the registry (fetched on schedule)."
        ),
    ] = False,
) -> None:
    """Ingest now, in this process: no broker needed."""
    import worker.services.ingest  # noqa: F401 -- loaded before prepare_for_batches
    from worker.services import jobs as job_service
    from worker.services.batches import RunInline

    prepare_for_batches()
    settings = get_settings()
    found = _split_inputs(inputs)
    engine = database_engine()
    job_id = _new_job(engine, found)
    not_modified: list[str] = []
    unreadable = list(found.unreadable)
    with _progress(total=_count_files(found.paths) if interactive() else None) as advance:
        run_now = RunInline(engine, settings, on_stored=lambda done: advance(done.received))
        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=found.paths,
            batch_size=batch_size or settings.batch_size,
            send_part=run_now,
        )
        for url in found.urls:
            outcome = _run_feed(engine, job_id, url, run_now, subscribe=subscribe)
            if outcome == "not_modified":
                not_modified.append(url)
            elif outcome is not None:
                warn(f"{url}: {outcome}")
                unreadable.append(url)
        job_service.seal_job(engine=engine, job_id=job_id)
    summary = run_now.summary
    document: dict[str, Any] = summary.model_dump()
    if found.urls:
        document["not_modified"] = not_modified
    _print_summary(document, json_output)
    _report_job(engine, job_id, summary.rejected)
    if unreadable:
        fail(f"{len(unreadable)} of the inputs named could not be read: {', '.join(unreadable)}")


def _run_feed(
    engine: Engine,
    job_id: str,
    url: str,
    run_now: Callable[[str, int, str], None],
    *,
    subscribe: bool,
) -> str | None:
    """Fetch one feed URL into the job: None when read, "not_modified" for a 304, else the
    reason it could not be read. The URL joins the feed registry only with `subscribe`
    (or if it was registered already); its fetch state is kept, so the next `run` of the
    same URL is a conditional GET."""
    from worker.services import feed_registry
    from worker.services import feeds as feed_service

    try:
        known = feed_registry.get_feed_by_url(engine=engine, url=url)
    except ValueError:
        known = None  # ingest_feed_url says why the URL is not usable
    registered = known is not None and known.enabled and known.status != "removed"
    result = feed_service.ingest_feed_url(engine=engine, job_id=job_id, url=url, send_part=run_now)
    if result.feed_id is not None and not (registered or subscribe):
        feed_registry.remove_feed(engine=engine, feed_id=result.feed_id)
    elif result.feed_id is not None and subscribe and not registered:
        note(
            f"subscribed to {result.url or url} (feed {result.feed_id}): "
            "a worker and beat fetch it on schedule from now on"
        )
    if result.error:
        return result.error
    return "not_modified" if result.outcome == "not_modified" else None


def _report_job(engine: Engine, job_id: str, rejected: int) -> None:
    report_job_rejects(engine, job_id, rejected)
    report_job_warnings(engine, job_id)


def enqueue(
    inputs: PathsArg,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Files per queued batch.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job and print its counts.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help=f"With --wait: give up after this many seconds (exit {TIMEOUT_EXIT_CODE}); "
            "the job goes on.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Queue a job for the workers. Prints its id first; with --wait, then its final counts."""
    # send_part never raises for a broker that is down: the committed parts wait for
    # jobs.resume, and the scan goes on so the job is complete.
    from worker.tasks.jobs import send_part

    if timeout is not None and not wait:
        fail("--timeout needs --wait")
    settings = get_settings()
    found = _split_inputs(inputs)
    engine = database_engine()
    broker_error = _broker_error(settings.broker_url)
    job_id = _new_job(engine, found)
    if json_output:
        print_json({"job_id": job_id})
    else:
        console.print(job_id)
    sys.stdout.flush()  # a script reading the pipe has the id before the wait
    if broker_error:
        message = (
            f"cannot reach the broker {broker_error}: job {job_id} is stored and its parts "
            "are queued by beat's jobs.resume once the broker is back "
            f"(`news-ingest jobs show {job_id}`)"
        )
        if wait:
            _queue_parts(engine, job_id, found, batch_size or settings.batch_size, None)
            fail(message)
        warn(message)
    sender = None if broker_error else send_part
    _queue_parts(engine, job_id, found, batch_size or settings.batch_size, sender)
    if not wait:
        if found.unreadable:
            raise typer.Exit(1)
        return
    job = _wait_for(engine, job_id, queue=settings.queue, timeout=timeout)
    _print_summary(
        {key: getattr(job, key) for key in IngestSummary.model_fields}
        | {"status": job.status.value, "job_id": job_id},
        json_output,
    )
    _report_job(engine, job_id, job.rejected)
    if job.status == JobStatus.failed or found.unreadable:
        raise typer.Exit(1)


def _queue_parts(
    engine: Engine,
    job_id: str,
    found: _Inputs,
    batch_size: int,
    send_part: Callable[[str, int, str], None] | None,
) -> None:
    """Add (and queue, with `send_part`) every part, then seal the job. Interrupted, the
    job is sealed with the parts queued so far, so it still finishes."""
    from worker.services import jobs as job_service

    try:
        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=found.paths,
            batch_size=batch_size,
            send_part=send_part,
        )
        if found.urls:
            # Only for URLs: with the page extractor it imports in ~0.25 s, which stood
            # between the job's row and its first queued part.
            from worker.services import feeds as feed_service

            for url in found.urls:
                feed_service.queue_feed_url(
                    engine=engine, job_id=job_id, url=url, send_part=send_part or _not_sent
                )
    except KeyboardInterrupt:
        job_service.seal_job(engine=engine, job_id=job_id)
        fail(
            f"interrupted while queueing job {job_id}: it goes on with the files queued so "
            f"far (`news-ingest jobs show {job_id}`)",
            130,
        )
    job_service.seal_job(engine=engine, job_id=job_id)


def _not_sent(_job_id: str, _part_no: int, _kind: str) -> None:
    """The broker is down: the part stays committed for jobs.resume."""


def _broker_error(broker_url: str) -> str | None:
    """Why the broker cannot be reached right now (None when it answers): checked once,
    quickly, so a producer with the broker down says so in one line."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        client.ping()
    except (RedisError, OSError) as error:
        return f"{database_label(broker_url)} ({error})"
    finally:
        client.close()
    return None


def _wait_for(engine: Engine, job_id: str, *, queue: str, timeout: float | None) -> IngestJobPublic:
    """Poll the job until it is done or failed. Says once when no worker has taken it after
    a few seconds; gives up after `timeout` seconds; Ctrl-C leaves the job running."""
    from worker.services import jobs as job_service

    started = time.monotonic()
    noticed = False
    try:
        with _progress(total=None) as advance:
            seen = 0
            while True:
                job = job_service.get_job(engine=engine, job_id=job_id)
                assert job is not None
                advance(job.received - seen)
                seen = job.received
                if job.status in FINISHED_STATUSES:
                    return job
                waited = time.monotonic() - started
                if not noticed and job.status == JobStatus.queued and waited >= NO_WORKER_NOTICE_S:
                    noticed = True
                    warn(
                        f"no worker has taken job {job_id} after {NO_WORKER_NOTICE_S:g} s: "
                        f"is a worker consuming the queue {queue!r}? Start one with "
                        f"`celery -A worker.app worker -Q {queue}` "
                        '(README: "Run the worker yourself"); still waiting'
                    )
                if timeout is not None and waited >= timeout:
                    fail(
                        f"job {job_id} is not finished after {timeout:g} s "
                        f"(status {job.status.value}, {job.parts_done}/{job.parts_total} "
                        f"parts done); it goes on: `news-ingest jobs show {job_id}`",
                        TIMEOUT_EXIT_CODE,
                    )
                time.sleep(0.2)
    except KeyboardInterrupt:
        fail(
            f"interrupted: job {job_id} goes on without waiting (`news-ingest jobs show {job_id}`)",
            130,
        )


class _progress:
    """A rich progress bar on a terminal (on stderr, where warnings print above it);
    nothing when the output is a pipe or a file."""

    def __init__(self, *, total: int | None) -> None:
        self.total = total
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not interactive() or not errors.is_terminal:
            return lambda n: None
        self.bar = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=errors,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("ingest", total=self.total)

        def advance(n: int) -> None:
            if self.bar is not None:
                self.bar.advance(task, n)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_summary(summary: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(summary)
        return
    parts = [f"{summary[key]} {key.replace('_', ' ')}" for key in IngestSummary.model_fields]
    prefix = f"job {summary['job_id']} {summary['status']}: " if "status" in summary else ""
    line = prefix + ", ".join(parts)
    if summary.get("not_modified"):
        line += f"; not modified since the last fetch: {', '.join(summary['not_modified'])}"
    console.print(line, soft_wrap=True)
