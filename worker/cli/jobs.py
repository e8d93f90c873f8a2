"""`news-ingest jobs`: job status and counts, and resuming stalled jobs by hand."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from schemas import IngestJobPublic
from worker.cli.common import console, database_engine, fail, print_json

app = typer.Typer(help="Ingestion jobs: status and counts.", invoke_without_command=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
COLUMNS = ("received", "new", "duplicates", "near_duplicates", "rejected")


@app.callback()
def _default(ctx: typer.Context) -> None:
    """`news-ingest jobs` alone lists the newest jobs."""
    if ctx.invoked_subcommand is None:
        list_jobs(json_output=False, limit=20)


@app.command("list")
def list_jobs(
    json_output: JsonOpt = False, limit: Annotated[int, typer.Option(min=1)] = 20
) -> None:
    """The newest jobs."""
    from worker.storage import jobs as job_rows

    with database_engine().connect() as connection:
        rows = job_rows.list_jobs(connection=connection, limit=limit)
    if json_output:
        print_json([_public(row) for row in rows])
        return
    table = Table("id", "status", *COLUMNS, "parts", "created")
    for row in rows:
        table.add_row(
            row["id"],
            row["status"],
            *(str(row[c]) for c in COLUMNS),
            f"{row['parts_done']}/{row['parts_total']}",
            row["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command()
def show(job_id: str, json_output: JsonOpt = False) -> None:
    """One job's status and counts."""
    from worker.storage import jobs as job_rows

    with database_engine().connect() as connection:
        row = job_rows.get_job(connection=connection, job_id=job_id)
    if row is None:
        fail(f"no job {job_id}")
    public = _public(row)
    if json_output:
        print_json(public)
        return
    for key, value in public.items():
        console.print(f"{key:16} {value}")


@app.command()
def resume(
    job_id: Annotated[str | None, typer.Argument()] = None,
    older_than: Annotated[float, typer.Option(help="Seconds without progress.")] = 0,
) -> None:
    """Re-enqueue the unfinished parts of a job (or of every job) whose messages were lost."""
    from datetime import timedelta

    from worker.services.jobs import resume_stalled
    from worker.tasks.jobs import send_part

    count = resume_stalled(
        engine=database_engine(),
        send_part=send_part,
        job_id=job_id,
        older_than=timedelta(seconds=older_than),
    )
    console.print(f"re-enqueued {count} part(s)")


def _public(row: dict) -> dict:  # type: ignore[type-arg]
    return IngestJobPublic.model_validate(row).model_dump(mode="json")
