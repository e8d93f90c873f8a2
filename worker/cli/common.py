"""Output helpers shared by the commands: one JSON document with --json, plain text else."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy import Engine

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """A clear one-line error and a non-zero exit: only when nothing could be done."""
    errors.print(f"news-ingest: error: {_one_line(message)}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"news-ingest: warning: {_one_line(message)}", markup=False, soft_wrap=True)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def interactive() -> bool:
    return sys.stdout.isatty()


def database_engine() -> Engine:
    """The configured engine, or a one-line error if the database cannot be used."""
    from sqlalchemy.exc import SQLAlchemyError

    from worker.storage.migrate import is_current
    from worker.storage.session import get_engine

    try:
        engine = get_engine()
        if not is_current(engine):
            fail("the database schema is not up to date: run `news-ingest db upgrade`")
    except SQLAlchemyError as error:
        fail(f"cannot use the database: {getattr(error, 'orig', None) or error}")
    return engine
