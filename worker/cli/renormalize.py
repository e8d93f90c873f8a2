"""`news-ingest renormalize`: re-run the normalizer over the stored raw input."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from worker.cli.common import console, database_engine, interactive, print_json


def register(app: typer.Typer) -> None:
    app.command()(renormalize)


def renormalize(
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Every article, not only those normalized by an older normalizer version."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=5000, help="Articles per transaction.")
    ] = 200,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Re-run the normalizer over the stored raw input.

    Articles whose text changes are updated in place (the earlier text is kept as a
    revision), never stored twice; a new text that belongs to another article is a conflict.
    """
    from worker.pipeline.normalize import NORMALIZER_VERSION
    from worker.services.renormalize import pending_count
    from worker.services.renormalize import renormalize as run

    engine = database_engine()
    if interactive() and not json_output:
        total = pending_count(engine=engine, everything=everything)
        with Progress(
            TextColumn("renormalizing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("renormalize", total=total)
            summary = run(
                engine=engine,
                everything=everything,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
            )
    else:
        summary = run(engine=engine, everything=everything, batch_size=batch_size)
    counts = summary.model_dump()
    if json_output:
        print_json({**counts, "normalizer_version": NORMALIZER_VERSION})
        return
    console.print(
        f"normalizer version {NORMALIZER_VERSION}: "
        + ", ".join(f"{value} {key}" for key, value in counts.items())
    )
