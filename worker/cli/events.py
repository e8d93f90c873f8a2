"""`news-ingest events`: the outbound event stream (Redis Stream `news-ingest:events`).

`relay` runs the outbox relay as a long-lived process; `tail` prints entries as JSON lines;
`ensure-group` creates a consumer group for a downstream service.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from worker.cli.common import (
    database_engine,
    fail,
    note,
    print_json,
    sqlite_file_missing,
    warn,
)
from worker.redis_policy import EvictingRedisError, check_eviction_policies
from worker.settings import get_settings
from worker.storage.session import get_engine

app = typer.Typer(
    help="The outbound event stream (Redis Stream news-ingest:events).", no_args_is_help=True
)


def _redis() -> Redis:
    """The shared Redis, or a one-line error if it cannot be reached."""
    from worker.services.events import redis_client

    client = redis_client()
    try:
        client.ping()
    except RedisError as error:
        fail(f"cannot reach Redis: {error}")
    return client


@app.command()
def relay(
    batch: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Events per transaction.")
    ] = None,
    poll: Annotated[
        float | None, typer.Option(min=0.01, help="Seconds between polls when idle.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Drain the outbox once and exit.")] = False,
) -> None:
    """Publish the outbox to the stream until SIGTERM (the running batch finishes first)."""
    from worker.services import events

    settings = get_settings()
    engine = database_engine()
    client = _redis()
    try:
        check_eviction_policies(broker=False)  # events must not vanish from a full Redis
    except EvictingRedisError as error:
        fail(str(error))
    batch = batch or settings.relay_batch
    if once:
        print_json({"published": events.relay_outbox(engine, client, batch=batch)})
        return
    stop = threading.Event()
    events.stop_on_signals(stop)
    total = events.relay_forever(
        engine, client, batch=batch, poll_s=poll or settings.relay_poll_s, stop=stop
    )
    print_json({"published": total})


@app.command()
def tail(
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help=(
                "Start at this entry id (inclusive; 0 for the oldest). "
                "Default: the last --count entries."
            ),
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="At most this many entries.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries.")
    ] = False,
) -> None:
    """Print stream entries as JSON lines: {"id", "type", "idempotency_key", "payload"}."""
    from worker.services import events

    client = _redis()
    stop = threading.Event()
    if follow:
        events.stop_on_signals(stop)
    backlog = _relay_backlog()
    printed = 0
    try:
        for entry in events.read_stream(client, start=start, count=count, follow=follow, stop=stop):
            print_json(entry.to_json())
            printed += 1
            if follow:
                sys.stdout.flush()  # a pipe is block-buffered: show each entry as it comes
    except ResponseError as error:
        fail(f"bad --from {start!r}: {error}")
    except RedisError as error:
        fail(f"cannot read the stream: {error}")
    except BrokenPipeError:  # `| head`: the reader has all it wants
        raise typer.Exit(0) from None
    if not printed and not backlog:
        note(
            f"no entries in the stream {events.EVENTS_STREAM}" + (f" from {start}" if start else "")
        )


# The relay publishes within a second or two (`events relay`, or beat's `events.relay` every
# 2 s): events older than this in the outbox mean nothing is relaying.
RELAY_LATE_S = 10.0


def _relay_backlog() -> int:
    """Say when events wait in the outbox with nothing relaying them to the stream; returns
    how many wait (0 when the database cannot be read: the stream is still shown)."""
    from worker.services.stats import outbox_backlog
    from worker.storage.migrate import upgrade_embedded

    if sqlite_file_missing():
        return 0
    try:
        backlog = outbox_backlog(engine=upgrade_embedded(get_engine()))
    except SQLAlchemyError:
        return 0
    waiting, oldest = backlog.waiting, backlog.oldest
    if waiting and oldest is not None:
        age = (datetime.now(UTC) - oldest).total_seconds()
        if age >= RELAY_LATE_S:
            warn(
                f"{waiting:,} events wait in the outbox, the oldest for {age:,.0f} s: nothing "
                "is relaying them to the stream; start `news-ingest events relay` (or a worker "
                "and beat, whose events.relay runs every 2 s)"
            )
    return waiting


@app.command("ensure-group")
def ensure_group(
    name: Annotated[str, typer.Argument(help="The consumer group (one per consuming service).")],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help=("Where the group starts: 0 for every retained entry, $ for new entries only."),
        ),
    ] = "0",
) -> None:
    """Create a consumer group on the stream (XGROUP CREATE ... MKSTREAM) unless it exists."""
    from worker.services import events

    try:
        created = events.ensure_group(_redis(), name, start=start)
    except ResponseError as error:
        fail(f"cannot create group {name!r}: {error}")
    print_json({"group": name, "stream": events.EVENTS_STREAM, "created": created})
