"""`news-ingest db upgrade`: Alembic migrations to head (the compose `migrate` service)."""

from __future__ import annotations

import typer

from worker.cli.common import console, fail

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from worker.settings import get_settings
    from worker.storage.migrate import upgrade as run_upgrade
    from worker.storage.session import _create_engine

    url = get_settings().database_url
    engine = _create_engine(url)
    try:
        run_upgrade(engine)
    except SQLAlchemyError as error:
        fail(
            f"cannot migrate {engine.url.render_as_string(hide_password=True)}: "
            f"{str(error).splitlines()[0]}"
        )
    console.print("database is at the newest schema")
