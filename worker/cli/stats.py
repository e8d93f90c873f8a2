"""`news-ingest stats`: what the store holds: articles per source and per day, duplicate
and near-duplicate rates, rejects by reason, with a bar chart of the days."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from worker.cli.common import (
    compact_table,
    console,
    cut_at_word,
    database_engine,
    database_label,
    print_json,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
BAR_WIDTH = 40


def register(app: typer.Typer) -> None:
    app.command("stats")(show_stats)


def collect(engine: Engine, *, days: int) -> dict[str, Any]:
    """The `stats --json` document."""
    from worker.services.stats import corpus_report

    report = corpus_report(engine=engine, days=days)
    counted = report.ingest
    return {
        "database": database_label(),
        "articles": report.totals.articles,
        "stories": report.totals.stories,
        "near_copies": report.totals.near_copies,
        "sightings": report.totals.sightings,
        **counted.model_dump(),
        "duplicate_rate": _rate(counted.duplicates, counted.received),
        "near_duplicate_rate": _rate(counted.near_duplicates, counted.received),
        "reject_rate": _rate(counted.rejected, counted.received),
        "per_source": [asdict(row) for row in report.per_source],
        "per_day": [asdict(row) for row in report.per_day],
        "rejects_by_reason": [asdict(row) for row in report.rejects_by_reason],
    }


def show_stats(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days in the chart.")] = 30,
    json_output: JsonOpt = False,
) -> None:
    """Articles per source and per day, duplicate and near-duplicate rates, rejects by reason."""
    document = collect(database_engine(read_only=True), days=days)
    if json_output:
        print_json(document)
        return
    console.print(f"[bold]{document['database']}[/bold]")
    console.print(
        f"{document['articles']:,} articles in {document['stories']:,} stories "
        f"({document['near_copies']:,} near copies), {document['sightings']:,} sightings",
        soft_wrap=True,
    )
    console.print(
        f"inputs received {document['received']:,}: new {document['new']:,}, "
        f"duplicates {document['duplicates']:,} ({_percent(document['duplicate_rate'])}), "
        f"near duplicates {document['near_duplicates']:,} "
        f"({_percent(document['near_duplicate_rate'])}), "
        f"rejected {document['rejected']:,} ({_percent(document['reject_rate'])})",
        soft_wrap=True,
    )
    if document["per_day"]:
        console.print()
        console.print(_chart(document["per_day"]))
    if document["per_source"]:
        table = compact_table(
            Column("source", overflow="fold"),
            "kind",
            Column("articles", justify="right", no_wrap=True),
            title="articles per source",
        )
        for row in document["per_source"]:
            table.add_row(row["source"], row["kind"], f"{row['articles']:,}")
        console.print(table)
    if document["rejects_by_reason"]:
        table = compact_table(
            Column("reason", ratio=1),
            Column("rejects", justify="right", no_wrap=True),
            title="rejects by reason",
        )
        for row in document["rejects_by_reason"]:
            table.add_row(cut_at_word(row["reason"], 100), f"{row['count']:,}")
        console.print(table)


def _chart(per_day: list[dict[str, Any]]) -> Table:
    """One bar per publication day (UTC), scaled to the busiest day."""
    busiest = max(row["articles"] for row in per_day) or 1
    table = Table(
        Column("published", no_wrap=True),
        Column("", no_wrap=True, min_width=BAR_WIDTH),
        Column("articles", justify="right", no_wrap=True),
        title="articles per day",
        box=None,
    )
    for row in per_day:
        length = max(1, round(BAR_WIDTH * row["articles"] / busiest)) if row["articles"] else 0
        table.add_row(
            row["day"] or "no date", f"[cyan]{'█' * length}[/cyan]", f"{row['articles']:,}"
        )
    return table


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"
