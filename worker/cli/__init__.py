"""The `news-ingest` command line (typer): one module per group of commands."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Annotated

import typer
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from worker.cli import (
    browse,
    config,
    db,
    events,
    feeds,
    ingest,
    jobs,
    rejects,
    renormalize,
    serve,
    sources,
    stats,
    subscribers,
)
from worker.cli.common import fail, forget_warnings
from worker.logs import configure_logging
from worker.resources import resources

# Start-up time: a command imports the services it calls (and through them the models,
# Alembic, Celery, httpx, the feed parsers) inside its function, so `--help` or `config`
# never pays for them. Measured best of 5 on an idle machine: `news-ingest --help` 0.59 s
# and `news-ingest config` 0.66 s like this, 1.8 s and 1.9 s with every service imported
# at the top. Over what every command loads anyway (SQLAlchemy's core, redis, kombu's
# errors, settings): worker.services.feeds 0.56 s, tasks.jobs 0.31 s, services.ingest
# 0.30 s, services.discovery, jobs, webhooks, stats, search 0.19-0.27 s each,
# services.rejects and storage.migrate (Alembic) 0.08 s, pipeline.normalize 0.05 s, the
# API (fastapi) 0.73 s. What costs under 10 ms (rich, redis, storage.session, opml,
# seeds, the export writers) is imported at the top.

app = typer.Typer(
    name="news-ingest",
    help="Ingest news seeds and feeds into a clean, deduplicated article store.",
    no_args_is_help=True,
    # typer's --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"news-ingest {version('news-ingest')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Ingest news seeds and feeds into a clean, deduplicated article store."""
    forget_warnings()  # once per command, also when commands run in one process (tests)


ingest.register(app)
browse.register(app)
rejects.register(app)
stats.register(app)
config.register(app)
renormalize.register(app)
serve.register(app)
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")
app.add_typer(feeds.app, name="feeds")
app.add_typer(events.app, name="events")
app.add_typer(subscribers.app, name="subscribers")
sources.register(app)


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def main() -> None:
    # One-shot commands print their result and say themselves what went wrong (a warning
    # each, once); a log line for the same thing would say it twice, so they log errors
    # only unless asked (NEWS_INGEST_LOG_LEVEL). Long-running ones log at INFO.
    long_running = len(sys.argv) > 1 and sys.argv[1] in ("serve", "watch", "events")
    quiet = "NEWS_INGEST_LOG_LEVEL" not in os.environ and not long_running
    # Through whatever sys.stderr is at the time of each line: while a progress bar is
    # showing, rich's stand-in, which prints the line above the bar instead of into it.
    configure_logging(stream=_CurrentStderr(), level="ERROR" if quiet else None)
    try:
        try:
            app(standalone_mode=True)
        finally:
            resources.close()  # the engines, HTTP clients and gates the command made
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except DBAPIError as error:
        fail(f"database error: {str(error.orig or error).splitlines()[0]}")
    except (BrokerError, RedisError) as error:
        fail(f"cannot reach the broker: {error}")
    except OSError as error:
        fail(f"{error.filename + ': ' if error.filename else ''}{error.strerror or error}")


__all__ = ["app", "main"]
