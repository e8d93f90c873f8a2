"""`news-ingest feeds`: the feed registry (add, list, remove, import, export) and fetching
feeds now, in this process (`feeds fetch --all | --due | ID`)."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Column

from worker.cli.common import (
    WORKERS_DO_THE_REST,
    compact_table,
    console,
    cut_at_word,
    database_engine,
    fail,
    id_column,
    interactive,
    note,
    print_json,
    warn,
    when,
)
from worker.errors import FetchError
from worker.sources.opml import OpmlError, parse_opml, render_opml

app = typer.Typer(help="The feed registry, and fetching feeds now.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MIN_INTERVAL_S = 60


class FullTextMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


def _interval(value: str | None) -> int | None:
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match:
        fail(f"not an interval: {value!r} (use seconds, or a number with s, m, h or d)")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if seconds < _MIN_INTERVAL_S:
        fail(f"interval {value!r} is shorter than {_MIN_INTERVAL_S} s")
    return seconds


@app.command()
def add(
    url: Annotated[
        str,
        typer.Argument(
            help="A feed's URL, or a site's address to find its feed.", show_default=False
        ),
    ],
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="Fixed fetch interval (seconds, or 30m, 2h, 1d); "
            "by default it adapts to how often the feed publishes.",
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="A title, until the feed gives its own.")
    ] = None,
    all_found: Annotated[
        bool, typer.Option("--all-found", help="Register every feed the address leads to.")
    ] = False,
    json_output: JsonOpt = False,
    full_text: Annotated[
        FullTextMode | None,
        typer.Option(
            "--full-text",
            help="Fetch the linked page of entries: auto (teasers only), always, never. "
            "Default: NEWS_INGEST_FULL_TEXT (auto).",
        ),
    ] = None,
) -> None:
    """Register a feed; it is fetched at the next scheduling tick. A site's address is
    looked up for its feeds (its <link rel="alternate">, then the usual paths)."""
    from worker.services.discovery import subscribe
    from worker.services.feed_registry import full_text_modes

    seconds = _interval(interval)
    engine = database_engine()
    try:
        done = subscribe(
            engine=engine, url=url, title=title, interval_s=seconds, all_found=all_found
        )
    except (ValueError, FetchError) as error:
        fail(str(error))
    for message in done.notes:
        warn(message)
    modes = full_text_modes(
        engine=engine,
        feed_ids=[feed.id for feed, _created in done.feeds],
        set_to=full_text.value if full_text is not None else None,
    )
    if json_output:
        records = [
            feed.public() | {"created": created, "full_text": modes[feed.id]}
            for feed, created in done.feeds
        ]
        print_json(records[0] if len(records) == 1 and not all_found else records)
        return
    for feed, created in done.feeds:
        found = f" (found from {url})" if feed.url != url.strip() and done.discovery else ""
        if created:
            console.print(f"added feed {feed.id}: {feed.url}{found}", markup=False)
        else:
            console.print(f"feed {feed.id} already registered: {feed.url}{found}", markup=False)
        note(WORKERS_DO_THE_REST.format(what="It is fetched", now=f"feeds fetch {feed.id}"))


@app.command()
def discover(
    url: Annotated[str, typer.Argument(help="A site's (or a feed's) address.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """The feeds a site's address leads to, best first, without registering any."""
    from worker.services.discovery import discover as discover_feeds

    try:
        found = discover_feeds(url, all_found=True)
    except (ValueError, FetchError) as error:
        fail(f"cannot read {url}: {error}")
    if json_output:
        print_json(found.public())
    elif not found.feeds:
        console.print(f"no feed found at {url} (checked {len(found.checked)} addresses)")
    for feed in found.feeds if not json_output else []:
        kind = f"{feed.format or '?'}, {feed.entries} entries, {feed.found_by}"
        label = f" {feed.title!r}" if feed.title else ""
        console.print(f"{feed.url}{label} ({kind})", markup=False)
    if not found.feeds:
        raise typer.Exit(1)


@app.command("list")
def list_feeds(
    json_output: JsonOpt = False,
    include_removed: Annotated[bool, typer.Option("--all", help="Include removed feeds.")] = False,
) -> None:
    """Registered feeds with their fetch state and last error."""
    from worker.services.feed_registry import list_feeds as registered_feeds

    feeds = registered_feeds(engine=database_engine(), include_removed=include_removed)
    if json_output:
        print_json([feed.public() for feed in feeds])
        return
    if not feeds:
        console.print("no feeds registered (add one with `news-ingest feeds add URL`)")
        return
    table = compact_table(
        id_column("id", [str(feed.id) for feed in feeds]), Column("status", no_wrap=True),
        Column("url", overflow="fold"), Column("last fetched (UTC)", min_width=10),
        Column("next fetch (UTC)", min_width=10), Column("errors", justify="right"),
        Column("last error", overflow="fold"), Column("gap at (UTC)", min_width=10),
    )  # fmt: skip
    for feed in feeds:
        table.add_row(
            str(feed.id), feed.status, feed.url, when(feed.last_fetched_at),
            when(feed.next_fetch_at), str(feed.error_count or ""),
            cut_at_word(feed.last_error, 80), when(feed.gap_detected_at),
        )  # fmt: skip
    console.print(table)


@app.command()
def remove(
    feed_id: Annotated[int, typer.Argument(help="The feed's id (see `feeds list`).")],
) -> None:
    """Stop fetching a feed. Its stored articles stay; a feed without any is deleted."""
    from worker.services.feed_registry import remove_feed

    outcome = remove_feed(engine=database_engine(), feed_id=feed_id)
    if outcome is None:
        fail(f"no feed {feed_id}")
    if outcome == "deleted":
        console.print(f"removed feed {feed_id}")
    else:
        console.print(f"removed feed {feed_id} (kept as the source of its stored articles)")


@app.command("import")
def import_opml(
    file: Annotated[
        Path, typer.Argument(help="An OPML file (1.0 or 2.0, nested folders).", show_default=False)
    ],
    json_output: JsonOpt = False,
) -> None:
    """Register every feed listed in an OPML file."""
    from worker.services.feed_registry import add_feeds

    try:
        listed = parse_opml(file.read_bytes())
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror or error}")
    except OpmlError as error:
        fail(f"{file}: {error}")
    engine = database_engine()
    imported = add_feeds(
        engine=engine, feeds=[(feed.url, feed.title) for feed in listed if not feed.site]
    )
    added, existing, invalid = imported.added, imported.existing, imported.invalid
    # Outlines naming only a site: its feed is discovered, one site at a time (politely).
    sites = [feed for feed in listed if feed.site]
    if sites:
        found, known, not_found = _subscribe_sites(engine, sites)
        added, existing, invalid = added + found, existing + known, invalid + not_found
    if json_output:
        print_json({"feeds": len(listed), "added": added, "existing": existing, "invalid": invalid})
        return
    for url in invalid:
        warn(f"skipped {url!r}: not a usable feed URL")
    console.print(
        f"imported {len(listed)} feed(s) from {file}: {added} new, {existing} already registered"
    )
    if not listed:
        warn(f"{file} lists no feeds")


def _subscribe_sites(engine: Any, sites: list[Any]) -> tuple[int, int, list[str]]:
    from worker.services.discovery import subscribe

    added = existing = 0
    not_found: list[str] = []
    for site in sites:
        try:
            done = subscribe(engine=engine, url=site.url, title=site.title)
        except (ValueError, FetchError):
            not_found.append(site.url)
            continue
        for _feed, created in done.feeds:
            added, existing = added + created, existing + (not created)
    return added, existing, not_found


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default: stdout).")
    ] = None,
) -> None:
    """The enabled feeds as an OPML 2.0 subscription list."""
    from worker.services.feed_registry import list_feeds as registered_feeds

    feeds = [feed for feed in registered_feeds(engine=database_engine()) if feed.enabled]
    document = render_opml((feed.url, feed.title) for feed in feeds)
    if output is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    output.write_bytes(document)
    console.print(f"exported {len(feeds)} feed(s) to {output}")


@app.command()
def fetch(
    feed_id: Annotated[
        int | None, typer.Argument(help="Fetch this feed.", show_default=False)
    ] = None,
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Every enabled feed, whatever its schedule.")
    ] = False,
    due: Annotated[bool, typer.Option("--due", help="The feeds whose fetch is due.")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Feeds fetched at once.")] = 4,
    json_output: JsonOpt = False,
) -> None:
    """Fetch feeds now, in this process (no broker needed). Never a disabled feed, never
    before a server's Retry-After; per-host limits apply."""
    from worker.services import feed_registry
    from worker.services import feeds as feed_service

    if sum((feed_id is not None, all_feeds, due)) != 1:
        fail("say which feeds: --all, --due or a feed ID")
    selection: Any = "all" if all_feeds else "due" if due else feed_id
    engine = database_engine()
    if feed_id is not None and feed_registry.get_feed(engine=engine, feed_id=feed_id) is None:
        fail(f"no feed {feed_id}")
    with _progress() as advance:
        results = feed_service.fetch_feeds(
            engine=engine, selection=selection, workers=workers, on_result=lambda _: advance()
        )
    results.sort(key=lambda result: result.feed_id or 0)
    totals = feed_service.summarize(results)
    if json_output:
        print_json({"feeds": [result.public() for result in results], "totals": totals})
    else:
        for result in results:
            console.print(_line(result), markup=False, soft_wrap=True)
        if len(results) != 1:
            console.print(_totals_line(totals), markup=False)
    read = totals["fetched"] + totals["not_modified"]
    if results and read == 0 and totals["failed"] + totals["gone"] > 0:
        raise typer.Exit(1)


def _line(result: Any) -> str:
    head = f"{result.feed_id or '-':>5} {result.url}: "
    if result.outcome == "fetched":
        counts = result.summary.model_dump() if result.summary else {}
        detail = ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
        return (
            head
            + f"{result.entries} entries, {result.unchanged} unchanged"
            + (f"; {detail}" if detail else "")
        )
    if result.outcome == "not_modified":
        return head + "not modified"
    next_try = (
        f" (next try {result.next_fetch_at.isoformat(timespec='seconds')})"
        if result.next_fetch_at and result.outcome == "failed"
        else ""
    )
    return head + f"{result.outcome}: {result.error}{next_try}"


def _totals_line(totals: dict[str, int]) -> str:
    return (
        f"{totals['feeds']} feed(s): {totals['fetched']} fetched, "
        f"{totals['not_modified']} not modified, {totals['failed']} failed, "
        f"{totals['gone']} gone, {totals['deferred'] + totals['skipped']} not fetched; "
        f"{totals['new']} new, {totals['duplicates']} duplicates, "
        f"{totals['near_duplicates']} near duplicates, {totals['rejected']} rejected"
    )


class _progress:
    """A spinner with a count on a terminal; nothing when the output is a pipe or a file."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.bar = None
        if not interactive():
            return lambda: None
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("fetching feeds"),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("fetch", total=None)
        return lambda: self.bar.advance(task, 1) if self.bar else None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
