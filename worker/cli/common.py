"""Output helpers shared by the commands: one JSON document with --json, plain text else.

Also the few rules every command follows: which database is in use (and never creating one
for a command that only reads), one timestamp format, ids never cut, ids found by prefix.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from worker.settings import get_settings
from worker.storage.session import get_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
_warned: set[str] = set()

SUPPORTED_DATABASES = ("sqlite", "postgresql")
PREFIX_MATCHES = 10  # ids looked up per prefix: enough to say it is ambiguous
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%SZ"  # every time shown in a table, always UTC


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """A clear one-line error and a non-zero exit: only when nothing could be done."""
    errors.print(f"news-ingest: error: {_one_line(message)}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """A one-line warning on stderr, printed once per process however often it is raised
    (above a progress bar when one is showing: both are on stderr)."""
    line = _one_line(message)
    if line in _warned:
        return
    _warned.add(line)
    errors.print(f"news-ingest: warning: {line}", markup=False, soft_wrap=True)


def forget_warnings() -> None:
    """Start a command with no warning printed yet."""
    _warned.clear()


def note(message: str) -> None:
    """A hint for a person (stderr, so a pipe of the output stays clean)."""
    errors.print(message, markup=False, soft_wrap=True)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def interactive() -> bool:
    return sys.stdout.isatty()


def when(value: datetime | None) -> str:
    """The one timestamp format of the tables (UTC)."""
    return value.strftime(TIMESTAMP_FORMAT) if value is not None else ""


def cut_at_word(text: str | None, width: int) -> str:
    """`text` on one line, at most `width` characters, cut at a word with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def id_column(name: str, values: Sequence[str]) -> Any:
    """A table column for ids: never wrapped, never cut, however narrow the terminal."""
    width = max([len(name), *(len(value) for value in values)])
    return Column(name, no_wrap=True, min_width=width, overflow="ignore")


def resolve_prefix(what: str, given: str, find: Callable[[str], list[str]], *, listing: str) -> str:
    """The one id starting with `given` (ids are shown whole, but typing a few characters
    is enough), or a one-line error naming the candidates."""
    matches = find(given)
    if given in matches:
        return given
    if len(matches) == 1:
        return matches[0]
    if not matches:
        fail(f"no {what} {given} (see `{listing}`)")
    shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    many = f"{len(matches)} or more" if len(matches) >= PREFIX_MATCHES else str(len(matches))
    fail(f"{given!r} matches {many} {what}s: {shown}; give more of the id")


# ---------------------------------------------------------------------------------------
# The database in use


def database_label(url: str | None = None) -> str:
    """The database as a person should see it: the URL without its password, and where a
    SQLite file really is (a relative path is relative to the working directory)."""
    raw = url or get_settings().database_url
    try:
        parsed = make_url(raw)
    except ArgumentError:  # an unparsable URL is shown as given
        return raw
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return f"{shown} ({os.path.abspath(parsed.database or '')})"
    return shown


def _check_database_url(url: str, *, read_only: bool) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(
            f"DATABASE_URL is not a database URL: {url!r} "
            "(use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB)"
        )
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        fail(
            f"unsupported DATABASE_URL {parsed.render_as_string(hide_password=True)}: "
            f"{backend} is not supported; use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = os.path.abspath(parsed.database or "")
        if read_only and not os.path.exists(path):
            fail(
                f"no database at {path} (DATABASE_URL={url}): nothing is stored here yet; "
                "ingest with `news-ingest run PATH`, or set DATABASE_URL to your database "
                "(a relative SQLite path is relative to the working directory)"
            )
        if not os.path.isdir(os.path.dirname(path)):
            fail(
                f"no directory {os.path.dirname(path)} for DATABASE_URL={url}: "
                "create it first, or correct the path"
            )


def database_engine(*, read_only: bool = False) -> Engine:
    """The configured engine, or a one-line error if the database cannot be used.

    `read_only`: the command only reads, so a SQLite file that does not exist is an error
    naming where it was looked for, never a new empty database.
    """
    from worker.storage.migrate import is_current, upgrade_embedded

    url = get_settings().database_url
    _check_database_url(url, read_only=read_only)
    try:
        engine = upgrade_embedded(get_engine())
        if not is_current(engine):
            fail("the database schema is not up to date: run `news-ingest db upgrade`")
    except SQLAlchemyError as error:
        fail(
            f"cannot use the database {database_label(url)}: {getattr(error, 'orig', None) or error}"
        )
    except ImportError as error:
        fail(f"cannot use the database {database_label(url)}: its driver is missing ({error})")
    return engine


def nothing_found(what: str) -> None:
    """An empty result says which database was looked in (stderr; --json prints [])."""
    note(f"no {what} in {database_label()}")


def parse_date(value: str | None) -> datetime | None:
    """An ISO 8601 date or date and time from the command line (UTC without an offset)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"not an ISO 8601 date: {value!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compact_table(*columns: Any, title: str | None = None) -> Any:
    """The tables' one style: no box, one space between columns, so ids stay whole at 80
    columns and what gives way (titles, times) wraps at a space."""
    return Table(
        *columns,
        title=title,
        box=None,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
        header_style="bold underline",
    )


def shown_path(location: str | None) -> str:
    """A path relative to the working directory when it is under it (shorter to read)."""
    if not location:
        return ""
    try:
        relative = os.path.relpath(location)
    except ValueError:
        return location
    return location if relative.startswith("..") else relative


# What `feeds add` and `sources add-dir` say after registering: the CLI only records it.
WORKERS_DO_THE_REST = (
    "{what} on schedule by a Celery worker and one beat, not by this command: "
    "`celery -A worker.app worker` and "
    "`celery -A worker.app beat --scheduler=worker.beat:HeartbeatScheduler` "
    "(README: Run the worker yourself); `news-ingest {now}` does it now, in this process"
)


def sqlite_file_missing(url: str | None = None) -> bool:
    """True when the database is a SQLite file that does not exist (yet)."""
    try:
        parsed = make_url(url or get_settings().database_url)
    except ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not os.path.exists(parsed.database or "")
