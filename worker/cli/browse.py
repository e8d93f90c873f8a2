"""`articles`, `stories` and `export`: looking at what is stored."""

from __future__ import annotations

import sys
from dataclasses import asdict, astuple
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column

from worker.cli.common import (
    compact_table,
    console,
    cut_at_word,
    database_engine,
    fail,
    id_column,
    nothing_found,
    parse_date,
    print_json,
)
from worker.services.export import article_record, write_csv, write_jsonl, write_parquet

if TYPE_CHECKING:
    from worker.services.search import ArticleFilter

TITLE_WIDTH = 70  # characters; rich wraps further, at words, on a narrow terminal
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


LanguageOpt = Annotated[
    str | None,
    typer.Option("--language", help="Only articles in this language (ISO 639-1, e.g. de)."),
]


def register(app: typer.Typer) -> None:
    app.command()(articles)
    app.command()(stories)
    app.command()(export)


def articles(
    story: Annotated[
        int | None, typer.Option("--story", help="Only this story's articles.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Published on or after (ISO 8601 date or time, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Published before (ISO 8601 date or time, UTC).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Only articles seen from this source: seed directory or feed URL."),
    ] = None,
    q: Annotated[
        str | None, typer.Option("--q", help="Title or body contains this (any case).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    show_all: Annotated[bool, typer.Option("--all", help="Show every matching article.")] = False,
    json_output: JsonOpt = False,
    language: LanguageOpt = None,
) -> None:
    """Stored articles, oldest first (50 unless --limit N or --all)."""
    from worker.services import search

    engine = database_engine(read_only=True)
    where = search.ArticleFilter(
        since=parse_date(since),
        until=parse_date(until),
        story_id=story,
        source=_source_name(source),
        text=q,
        language=language,
    )
    try:
        found = list(
            search.iter_articles(engine=engine, where=where, limit=None if show_all else limit)
        )
    except ValueError as error:
        fail(str(error))
    if json_output:
        print_json([article_record(a) | {"similarity": a.similarity} for a in found])
        return
    if not found:
        nothing_found("articles" + (" matching these filters" if _filtered(where) else ""))
        return
    table = compact_table(
        id_column("id", [str(a.id) for a in found]),
        id_column("story", [str(a.story_id) for a in found]),
        id_column("dup of", [str(a.duplicate_of or "") for a in found]),
        Column("sim", no_wrap=True),
        Column("published", no_wrap=True),
        Column("title", ratio=1),
        Column("seen", justify="right", no_wrap=True),
    )
    for a in found:
        table.add_row(
            str(a.id),
            str(a.story_id),
            str(a.duplicate_of or ""),
            f"{a.similarity:.2f}" if a.similarity is not None else "",
            a.published_at.date().isoformat() if a.published_at else "",
            cut_at_word(a.title, TITLE_WIDTH),
            str(len(a.sightings)),
        )
    console.print(table)
    if not show_all and len(found) == limit:
        total = search.count_articles(engine=engine, where=where)
        if total > len(found):
            console.print(f"showing {len(found):,} of {total:,} (--limit N or --all for more)")


def _source_name(given: str | None) -> str | None:
    """A seed directory is stored by its absolute path: accept it as typed, relative too."""
    if given is None or given.startswith(("http://", "https://")):
        return given
    return str(Path(given).resolve()) if Path(given).exists() else given


def _filtered(where: ArticleFilter) -> bool:
    return any(value not in (None, False) for value in astuple(where))


def stories(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    min_members: Annotated[
        int, typer.Option(min=1, max=2**31 - 1, help="Hide smaller stories.")
    ] = 1,
    json_output: JsonOpt = False,
) -> None:
    """Stories, largest first, with their member count and sources."""
    from worker.services.search import list_stories

    rows = list_stories(
        engine=database_engine(read_only=True), limit=limit, min_members=min_members
    )
    if json_output:
        print_json([asdict(row) for row in rows])
        return
    if not rows:
        nothing_found("stories")
        return
    table = compact_table(
        id_column("story", [str(row.story_id) for row in rows]),
        Column("members", justify="right", no_wrap=True),
        Column("title", ratio=2),
        Column("sources", ratio=1, overflow="fold"),
    )
    for row in rows:
        sources = row.sources
        table.add_row(
            str(row.story_id),
            str(row.members),
            cut_at_word(row.title, TITLE_WIDTH),
            ", ".join(sources[:3]) + (f" (+{len(sources) - 3})" if len(sources) > 3 else ""),
        )
    console.print(table)


def export(
    format: Annotated[
        ExportFormat, typer.Option("--format", help="Output format.")
    ] = ExportFormat.jsonl,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File (default: stdout).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Published before (ISO 8601).")] = None,
    canonical_only: Annotated[
        bool, typer.Option("--canonical-only", help="Only the first article of each story.")
    ] = False,
    language: LanguageOpt = None,
) -> None:
    """One record per article: id, title, body, url, published_at, content_hash, story_id,
    duplicate_of, sightings, summary, body_source, full_text_error, language, authors, tags,
    image_url."""
    from worker.services.search import ArticleFilter, iter_articles

    where = ArticleFilter(
        since=parse_date(since),
        until=parse_date(until),
        canonical_only=canonical_only,
        language=language,
    )
    records = (
        article_record(a)
        for a in iter_articles(engine=database_engine(read_only=True), where=where)
    )
    if format is ExportFormat.parquet:
        if output is None:
            fail("parquet needs a file: use -o FILE")
        try:
            count = write_parquet(records, output)
        except ImportError:
            fail("parquet export needs pyarrow: pip install 'news-ingest[parquet]'")
    else:
        writer = write_jsonl if format is ExportFormat.jsonl else write_csv
        if output is None:
            count = writer(records, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = writer(records, out)
    if output is not None:
        console.print(f"exported {count} article(s) to {output}")
