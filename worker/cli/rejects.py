"""`news-ingest rejects`: what could not be ingested (location, reason, time), and the
listing `run` and `enqueue --wait` print on stderr after a job."""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column

from worker.cli.common import (
    compact_table,
    console,
    database_engine,
    note,
    nothing_found,
    parse_date,
    print_json,
    shown_path,
    when,
)
from worker.cli.jobs import resolve_job_id

if TYPE_CHECKING:
    from sqlalchemy import Engine

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
SHOWN_AFTER_A_JOB = 5


def register(app: typer.Typer) -> None:
    app.command("rejects")(list_rejects)


def list_rejects(
    job: Annotated[
        str | None, typer.Option("--job", help="Only this job's (an id or its first characters).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Recorded on or after (ISO 8601 date or time, UTC).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """What was rejected: location, reason and time, oldest first."""
    from worker.services.rejects import list_rejects as recorded_rejects

    engine = database_engine(read_only=True)
    job_id = resolve_job_id(engine, job) if job else None
    rows = recorded_rejects(engine=engine, job_id=job_id, since=parse_date(since), limit=limit)
    if json_output:
        print_json([row.public() for row in rows])
        return
    if not rows:
        nothing_found("rejects" + (f" for job {job_id}" if job_id else ""))
        return
    # One table per job, its id whole above it: at 80 columns the paths need the room.
    for job_id, group in groupby(rows, key=lambda row: row.job_id):
        console.print(f"job {job_id or '(none)'}", soft_wrap=True)
        table = compact_table(
            Column("time (UTC)", no_wrap=True),
            Column("location", overflow="fold", ratio=1),
            Column("reason", overflow="fold", ratio=1),
        )
        for row in group:
            table.add_row(when(row.created_at), shown_path(row.location), row.reason)
        console.print(table)


def report_job_rejects(engine: Engine, job_id: str, rejected: int) -> None:
    """After `run` or `enqueue --wait`: the first few rejected inputs with their reasons on
    stderr, then how many more and where to see them all."""
    if not rejected:
        return
    from worker.services.rejects import list_rejects as recorded_rejects

    rows = recorded_rejects(engine=engine, job_id=job_id, limit=SHOWN_AFTER_A_JOB)
    for row in rows:
        note(f"rejected {shown_path(row.location) or '(no location)'}: {row.reason}")
    if rejected > len(rows):
        note(
            f"... and {rejected - len(rows)} more rejected: "
            f"`news-ingest rejects --job {job_id}` lists them all"
        )


def report_job_warnings(engine: Engine, job_id: str) -> None:
    """After a job: inputs that were stored, but with something a person should fix (an
    unreadable date); a missing date is common in feeds and not repeated here."""
    from worker.services.rejects import job_article_warnings

    shown = 0
    hidden = 0
    for article in job_article_warnings(engine=engine, job_id=job_id):
        location = article.location
        for warning in article.warnings:
            if warning == "date missing" or not warning.startswith("date"):
                continue
            if shown < SHOWN_AFTER_A_JOB:
                note(
                    f"news-ingest: warning: {shown_path(location) or '(no location)'}: {warning} "
                    "(stored without a date; seed files start with `date YYYY-MM-DD`)"
                )
                shown += 1
            else:
                hidden += 1
    if hidden:
        note(f"... and {hidden} more date warnings")
