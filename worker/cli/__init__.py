"""The `news-ingest` command line (typer): one module per group of commands."""

from __future__ import annotations

import typer

from worker.cli import browse, db, ingest, jobs
from worker.cli.common import fail

app = typer.Typer(
    name="news-ingest",
    help="Ingest news seeds and feeds into a clean, deduplicated article store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest.register(app)
browse.register(app)
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")


def main() -> None:
    from worker.logs import configure_logging

    configure_logging()
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted")


__all__ = ["app", "main"]
