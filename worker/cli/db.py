"""`news-ingest db upgrade`: Alembic migrations to head (the compose `migrate` service)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from worker.cli.common import console, database_engine, fail, print_json, warn
from worker.storage.session import engine_for_migration

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to keep retrying while the database is starting or its locks are "
            "taken (0: try once).",
        ),
    ] = 60.0,
) -> None:
    """Migrate the database to the newest schema."""
    from worker.storage.migrate import upgrade_when_ready

    engine = engine_for_migration()
    where = engine.url.render_as_string(hide_password=True)

    def retrying(error: OperationalError, delay: float) -> None:
        warn(f"database {where} not ready ({str(error.orig).strip()}); retrying in {delay:.1f} s")

    try:
        upgrade_when_ready(engine, wait_s=wait, on_retry=retrying)
    except SQLAlchemyError as error:
        fail(f"cannot migrate {where}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()
    console.print("database is at the newest schema")


@app.command()
def prune(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Apply the retention settings now (beat's `retention.prune` does it hourly)."""
    from worker.services.retention import prune as run_prune

    pruned = run_prune(database_engine()).as_dict()
    if json_output:
        print_json(pruned)
    else:
        console.print(
            ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in pruned.items())
        )


@app.command("text-index")
def text_index() -> None:
    """Postgres: build the index `q` searches use (opt-in: it slows every insert; SQLite
    always has its FTS5 table)."""
    from worker.services.search import build_text_index

    if not build_text_index(engine=database_engine()):
        console.print("SQLite: the text index (FTS5) is always there")
        return
    console.print("text index ix_articles_text_search is built")
