"""`news-ingest sources` (seed directories rescanned on schedule) and `news-ingest watch`
(a directory watched for new files)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from worker.cli.common import (
    WORKERS_DO_THE_REST,
    console,
    database_engine,
    fail,
    note,
    print_json,
)
from worker.cli.ingest import check_seed_directory

if TYPE_CHECKING:
    from worker.services.seed_dirs import SourceListing

app = typer.Typer(
    help="Sources: seed directories rescanned on schedule, feeds, producers.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
PUBLIC = (
    "id",
    "kind",
    "name",
    "status",
    "enabled",
    "interval_s",
    "next_fetch_at",
    "last_fetched_at",
    "error_count",
    "last_error",
    "files",
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sources")
    root.command()(watch)


@app.command("add-dir")
def add_dir(
    path: Annotated[Path, typer.Argument(help="A directory of seed files (*.txt, recursively).")],
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval",
            min=1,
            help="Seconds between rescans (default NEWS_INGEST_SEED_DIR_INTERVAL_S).",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Register a directory: beat rescans it and queues only new or changed files."""
    from worker.services.seed_dirs import add_seed_dir

    if path.is_dir():
        check_seed_directory(path)

    try:
        source_id, directory, created = add_seed_dir(
            engine=database_engine(), path=path, interval_s=interval
        )
    except (NotADirectoryError, ValueError) as error:
        fail(str(error))
    if json_output:
        print_json({"id": source_id, "path": directory, "created": created})
    else:
        console.print(
            f"{'added' if created else 'updated'} seed directory {source_id}: {directory}"
        )
        note(
            WORKERS_DO_THE_REST.format(
                what="It is rescanned", now=f"sources scan {source_id} --inline"
            )
        )


@app.command("list")
def list_sources(json_output: JsonOpt = False) -> None:
    """Every source: seed directories (with their file count), feeds and producers."""
    from worker.services.seed_dirs import list_sources as registered_sources

    rows = [_public(source) for source in registered_sources(engine=database_engine())]
    if json_output:
        print_json(rows)
        return
    table = Table("id", "kind", "name", "status", "interval", "files", "next scan", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["name"],
            row["status"] if row["enabled"] else "disabled",
            str(row["interval_s"] or ""),
            "" if row["files"] is None else str(row["files"]),
            row["next_fetch_at"] or "",
            row["last_error"] or "",
        )
    console.print(table)


@app.command()
def scan(
    source_id: Annotated[int, typer.Argument(metavar="ID")],
    inline: Annotated[bool, typer.Option("--inline", help="Ingest in this process.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Rescan a seed directory now and queue its new or changed files."""
    from worker.services.seed_dirs import scan_seed_dir

    engine = database_engine()
    try:
        result = scan_seed_dir(
            engine=engine, source_id=source_id, send_part=_sender(engine, inline)
        )
    except LookupError as error:
        fail(str(error))
    if json_output:
        print_json(result.to_json())
    else:
        console.print(
            f"{result.files} files: {result.new} new, {result.changed} changed, "
            f"{result.unchanged} unchanged, {len(result.unsettled)} still being written"
            + (f"; job {result.job_id}" if result.job_id else "")
        )


@app.command()
def remove(source_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Stop rescanning a seed directory (its articles stay)."""
    from worker.services.seed_dirs import unschedule_seed_dir

    if not unschedule_seed_dir(engine=database_engine(), source_id=source_id):
        fail(f"no seed directory {source_id}")
    console.print(f"seed directory {source_id} is no longer rescanned")


def watch(
    path: Annotated[Path, typer.Argument(help="The directory to watch (recursively).")],
    inline: Annotated[
        bool, typer.Option("--inline", help="Ingest in this process instead of queueing jobs.")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Files per part.")
    ] = None,
    rescan: Annotated[
        float, typer.Option(min=1.0, help="Seconds between full catch-up rescans.")
    ] = 300.0,
) -> None:
    """Queue seed files as they land in a directory, once each is completely written."""
    from worker.services.events import stop_on_signals
    from worker.services.seed_dirs import ScanResult
    from worker.services.watch import watch_seed_dir

    if not path.is_dir():
        fail(f"{path}: not a directory")
    engine = database_engine()
    stop = threading.Event()
    stop_on_signals(stop)

    def report(result: ScanResult) -> None:
        console.print(
            f"{'ingested' if inline else 'queued'} {result.queued} file(s) "
            f"({result.new} new, {result.changed} changed) as job {result.job_id}"
        )

    console.print(
        f"watching {path.resolve()} ({'ingesting inline' if inline else 'queueing jobs'})"
    )
    watch_seed_dir(
        engine=engine,
        path=path,
        send_part=_sender(engine, inline),
        stop=stop,
        batch_size=batch_size,
        rescan_s=rescan,
        on_queued=report,
    )


def _sender(engine: Any, inline: bool):  # type: ignore[no-untyped-def]
    """Queue parts for the workers, or (--inline) run each at once in this process."""
    if not inline:
        from worker.tasks.jobs import send_part

        return send_part
    from worker.services.batches import RunInline

    return RunInline(engine)


def _public(source: SourceListing) -> dict[str, Any]:
    out = {key: getattr(source, key) for key in PUBLIC}
    for key in ("next_fetch_at", "last_fetched_at"):
        value = out[key]
        if value is not None:
            out[key] = value.isoformat()
    return out
