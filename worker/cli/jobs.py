"""`news-ingest jobs`: job status and counts, and resuming stalled jobs by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column

from worker.cli.common import (
    compact_table,
    console,
    database_engine,
    fail,
    id_column,
    nothing_found,
    print_json,
    resolve_prefix,
    when,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="Ingestion jobs: status and counts.", invoke_without_command=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
COLUMNS = ("received", "new", "duplicates", "near_duplicates", "rejected")
SHORT = {
    "received": "in",
    "new": "new",
    "duplicates": "dup",
    "near_duplicates": "near",
    "rejected": "rej",
}


@app.callback()
def _default(
    ctx: typer.Context,
    json_output: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """`news-ingest jobs` alone lists the newest jobs."""
    if ctx.invoked_subcommand is None:
        list_jobs(json_output=json_output, limit=limit)


@app.command("list")
def list_jobs(
    json_output: JsonOpt = False, limit: Annotated[int, typer.Option(min=1)] = 20
) -> None:
    """The newest jobs."""
    from worker.services import jobs as job_service

    found = job_service.list_jobs(engine=database_engine(read_only=True), limit=limit)
    if json_output:
        print_json([job.model_dump(mode="json") for job in found])
        return
    if not found:
        nothing_found("jobs")
        return
    # Ids whole (36 characters): at 80 columns the counts are what gives way.
    table = compact_table(
        id_column("id", [job.id for job in found]),
        Column("status", no_wrap=True),
        *(Column(SHORT[c], justify="right", no_wrap=True) for c in COLUMNS),
        Column("created (UTC)", min_width=10),
    )
    for job in found:
        table.add_row(
            job.id,
            job.status.value,
            *(str(getattr(job, c)) for c in COLUMNS),
            when(job.created_at),
        )
    console.print(table)


def resolve_job_id(engine: Engine, given: str) -> str:
    """The job whose id is `given` or starts with it, or a one-line error."""
    from worker.services import jobs as job_service

    def find(prefix: str) -> list[str]:
        return job_service.job_ids_starting_with(engine=engine, prefix=prefix)

    return resolve_prefix("job", given.strip().lower(), find, listing="news-ingest jobs")


@app.command()
def show(job_id: str, json_output: JsonOpt = False) -> None:
    """One job's status and counts (the id, or enough of its first characters)."""
    from worker.services import jobs as job_service

    engine = database_engine(read_only=True)
    job_id = resolve_job_id(engine, job_id)
    job = job_service.get_job(engine=engine, job_id=job_id)
    if job is None:
        fail(f"no job {job_id}")
    public = job.model_dump(mode="json")
    if json_output:
        print_json(public)
        return
    for key, value in public.items():
        moment = getattr(job, key) if key.endswith("_at") else None
        shown = when(moment) if moment is not None else value
        console.print(f"{key:16} {'' if shown is None else shown}")
    if job.rejected:
        console.print(f"rejects: `news-ingest rejects --job {job_id}`")


@app.command()
def resume(
    job_id: Annotated[str | None, typer.Argument()] = None,
    older_than: Annotated[float, typer.Option(help="Seconds without progress.")] = 0,
) -> None:
    """Re-enqueue the unfinished parts of a job (or of every job) whose messages were lost."""
    from worker.services.jobs import resume_stalled
    from worker.tasks.jobs import send_part

    engine = database_engine()
    count = resume_stalled(
        engine=engine,
        send_part=send_part,
        job_id=resolve_job_id(engine, job_id) if job_id else None,
        older_than=timedelta(seconds=older_than),
    )
    console.print(f"re-enqueued {count} part(s)")
