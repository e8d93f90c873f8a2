"""`articles`, `stories` and `export`: looking at what is stored."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from worker.cli.common import console, database_engine, fail, print_json

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


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"not an ISO 8601 date: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def articles(
    story: Annotated[
        int | None, typer.Option("--story", help="Only this story's articles.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    json_output: JsonOpt = False,
    language: LanguageOpt = None,
) -> None:
    """Stored articles, oldest first."""
    from worker.services.browse import article_record, iter_articles

    found = list(
        iter_articles(
            engine=database_engine(), story_id=story, since=_date(since), limit=limit,
            language=language,
        )
    )  # fmt: skip
    if json_output:
        print_json([article_record(a) | {"similarity": a.similarity} for a in found])
        return
    table = Table("id", "story", "dup of", "sim", "published", "title", "seen")
    for a in found:
        table.add_row(
            str(a.id),
            str(a.story_id),
            str(a.duplicate_of or ""),
            f"{a.similarity:.2f}" if a.similarity is not None else "",
            a.published_at.date().isoformat() if a.published_at else "",
            a.title[:70],
            str(len(a.sightings)),
        )
    console.print(table)


def stories(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    min_members: Annotated[int, typer.Option(min=1, help="Hide smaller stories.")] = 1,
    json_output: JsonOpt = False,
) -> None:
    """Stories, largest first, with their member count and sources."""
    from worker.services.browse import list_stories

    rows = list_stories(engine=database_engine(), limit=limit, min_members=min_members)
    if json_output:
        print_json(rows)
        return
    table = Table("story", "members", "title", "sources")
    for row in rows:
        table.add_row(
            str(row["story_id"]),
            str(row["members"]),
            (row["title"] or "")[:60],
            ", ".join(row["sources"])[:60],
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
    from worker.services import browse

    records = (
        browse.article_record(a)
        for a in browse.iter_articles(
            engine=database_engine(),
            since=_date(since),
            until=_date(until),
            canonical_only=canonical_only,
            language=language,
        )
    )
    if format is ExportFormat.parquet:
        if output is None:
            fail("parquet needs a file: use -o FILE")
        try:
            count = browse.write_parquet(records, output)
        except ImportError:
            fail("parquet export needs pyarrow: pip install 'news-ingest[parquet]'")
    else:
        writer = browse.write_jsonl if format is ExportFormat.jsonl else browse.write_csv
        if output is None:
            count = writer(records, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = writer(records, out)
    if output is not None:
        console.print(f"exported {count} article(s) to {output}")
