"""`run` (ingest now, in this process) and `enqueue` (queue a job for the workers)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas import IngestSummary
from worker.cli.common import console, database_engine, fail, interactive, print_json, warn

PathsArg = Annotated[
    list[str], typer.Argument(help="Seed files or directories, or feed URLs.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(enqueue)


def _split_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Existing paths and feed URLs; anything else is reported and skipped."""
    paths, urls = [], []
    for item in inputs:
        if item.startswith(("http://", "https://")):
            urls.append(item)
        elif Path(item).exists():
            paths.append(Path(item))
        else:
            warn(f"{item}: no such file or directory")
    if not paths and not urls:
        fail("nothing to ingest: no given path exists")
    return paths, urls


def _new_job(inputs: list[str]):  # type: ignore[no-untyped-def]
    """The engine, a new job for the given inputs, and the inputs split into paths and URLs."""
    from worker.services import jobs as job_service

    paths, urls = _split_inputs(inputs)
    engine = database_engine()
    job_id = job_service.create_job(
        engine=engine, request={"paths": [str(p) for p in paths], "feeds": urls}
    )
    return engine, job_id, paths, urls


def _count_files(paths: list[Path]) -> int:
    from worker.sources.seeds import iter_seed_files

    return sum(1 for _ in iter_seed_files(paths))


def run(
    inputs: PathsArg,
    json_output: JsonOpt = False,
    batch_size: Annotated[int | None, typer.Option(help="Files per batch.")] = None,
) -> None:
    """Ingest now, in this process: no broker needed."""
    import worker.services.ingest  # noqa: F401 -- loaded before prepare_for_batches
    from worker.runtime import prepare_for_batches
    from worker.services import jobs as job_service
    from worker.settings import get_settings

    prepare_for_batches()
    settings = get_settings()
    engine, job_id, paths, urls = _new_job(inputs)
    summary = IngestSummary()
    with _progress(total=_count_files(paths) if interactive() else None) as advance:

        def run_now(job: str, part_no: int, _kind: str) -> None:
            nonlocal summary
            done = job_service.run_part(
                engine=engine, job_id=job, part_no=part_no, settings=settings
            )
            if done is not None:
                summary += done
                advance(done.received)

        job_service.add_seed_parts(
            engine=engine,
            job_id=job_id,
            paths=paths,
            batch_size=batch_size or settings.batch_size,
            send_part=run_now,
        )
        if urls:
            from worker.services import feeds as feed_service

            for url in urls:
                result = feed_service.ingest_feed_url(
                    engine=engine, job_id=job_id, url=url, send_part=run_now
                )
                if result.error:
                    warn(f"{url}: {result.error}")
        job_service.seal_job(engine=engine, job_id=job_id)
    _print_summary(summary.model_dump(), json_output)


def enqueue(
    inputs: PathsArg,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Files per queued batch.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job and print its counts.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Queue a job for the workers; prints its id (or, with --wait, its final counts)."""
    from worker.services import jobs as job_service
    from worker.settings import get_settings

    # send_part never raises for a broker that is down: the committed parts wait for
    # jobs.resume, and the scan goes on so the job is complete.
    from worker.tasks.jobs import send_part

    settings = get_settings()
    engine, job_id, paths, urls = _new_job(inputs)
    job_service.add_seed_parts(
        engine=engine,
        job_id=job_id,
        paths=paths,
        batch_size=batch_size or settings.batch_size,
        send_part=send_part,
    )
    if urls:
        from worker.services import feeds as feed_service

        for url in urls:
            feed_service.queue_feed_url(engine=engine, job_id=job_id, url=url, send_part=send_part)
    job_service.seal_job(engine=engine, job_id=job_id)
    if not wait:
        if json_output:
            print_json({"job_id": job_id})
        else:
            console.print(job_id)
        return
    job = _wait_for(engine, job_id)
    _print_summary(
        {key: job[key] for key in IngestSummary.model_fields}
        | {"status": job["status"], "job_id": job_id},
        json_output,
    )
    if job["status"] == "failed":
        raise typer.Exit(1)


def _wait_for(engine, job_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    from worker.storage import jobs as job_rows

    with _progress(total=None) as advance:
        seen = 0
        while True:
            with engine.connect() as connection:
                job = job_rows.get_job(connection=connection, job_id=job_id)
            assert job is not None
            advance(job["received"] - seen)
            seen = job["received"]
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.2)


class _progress:
    """A rich progress bar on a terminal; nothing when the output is a pipe or a file."""

    def __init__(self, *, total: int | None) -> None:
        self.total = total
        self.bar: Progress | None = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not interactive():
            return lambda n: None
        self.bar = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("ingest", total=self.total)
        return lambda n: self.bar.advance(task, n) if self.bar else None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_summary(summary: dict, json_output: bool) -> None:  # type: ignore[type-arg]
    if json_output:
        print_json(summary)
        return
    parts = [f"{summary[key]} {key.replace('_', ' ')}" for key in IngestSummary.model_fields]
    prefix = f"job {summary['job_id']} {summary['status']}: " if "status" in summary else ""
    console.print(prefix + ", ".join(parts))
