"""`news-ingest subscribers`: webhooks that receive every event, signed when they have a
secret (see worker/services/webhooks.py for the request format)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from worker.cli.common import console, database_engine, fail, print_json, warn

if TYPE_CHECKING:
    from worker.services.webhooks import SubscriberListing

app = typer.Typer(help="Webhook subscribers of the event stream.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
PUBLIC = (
    "id",
    "url",
    "enabled",
    "status",
    "signed",
    "secret_source",
    "last_event_id",
    "backlog",
    "next_attempt_at",
    "failing_since",
    "error_count",
    "last_error",
    "created_at",
)


@app.command()
def add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives POSTed events.")],
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="NAME",
            help="Sign each delivery with the secret in this environment variable, read "
            "by whoever delivers (workers, `subscribers deliver`).",
        ),
    ] = None,
    secret_file: Annotated[
        str | None,
        typer.Option(
            "--secret-file",
            metavar="PATH",
            help="Sign each delivery with the secret in this file (a Docker secret), read "
            "at each delivery.",
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            help="Deprecated: the secret itself, visible in the process list and stored in "
            "the database; use --secret-env or --secret-file."
        ),
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Also deliver every event already in the outbox.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Register a webhook; it receives the events written from now on."""
    from worker.services.webhooks import SecretUnavailable, add_subscriber, secret_reference

    if sum(option is not None for option in (secret_env, secret_file, secret)) > 1:
        fail("give one of --secret-env, --secret-file and --secret")
    reference = None
    if secret_env is not None or secret_file is not None:
        try:
            reference = secret_reference(env=secret_env, file=secret_file)
        except (SecretUnavailable, ValueError) as error:
            fail(str(error))
    if secret is not None:
        warn(
            "--secret puts the secret in the process list and the database; "
            "use --secret-env NAME or --secret-file PATH"
        )
    try:
        subscriber_id = add_subscriber(
            engine=database_engine(),
            url=url,
            secret=secret,
            secret_ref=reference,
            from_start=from_start,
        )
    except ValueError as error:
        fail(str(error))
    if subscriber_id is None:
        fail(f"{url} is already a subscriber")
    if json_output:
        print_json({"id": subscriber_id, "url": url})
    else:
        console.print(f"subscriber {subscriber_id}: {url}")


@app.command("list")
def list_subscribers(json_output: JsonOpt = False) -> None:
    """Every subscriber: delivery cursor, backlog, failure state."""
    from worker.services.webhooks import list_subscribers as registered_subscribers

    rows = [_public(listed) for listed in registered_subscribers(engine=database_engine())]
    if json_output:
        print_json(rows)
        return
    table = Table(
        "id", "url", "status", "signed", "backlog", "errors", "next attempt", "last error"
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["url"],
            row["status"] if row["enabled"] else "disabled",
            "yes" if row["signed"] else "no",
            str(row["backlog"]),
            str(row["error_count"]),
            row["next_attempt_at"] or "",
            row["last_error"] or "",
        )
    console.print(table)


@app.command()
def remove(subscriber_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Delete a subscriber: it receives nothing more."""
    from worker.services.webhooks import remove_subscriber

    if not remove_subscriber(engine=database_engine(), subscriber_id=subscriber_id):
        fail(f"no subscriber {subscriber_id}")
    console.print(f"removed subscriber {subscriber_id}")


@app.command()
def deliver(json_output: JsonOpt = False) -> None:
    """Deliver to every due subscriber now, in this process (beat does it every 5 s)."""
    from worker.services.webhooks import deliver_webhooks

    report = deliver_webhooks(engine=database_engine())
    document = {
        "subscribers": report.subscribers,
        "delivered": report.delivered,
        "failed": report.failed,
        "skipped": report.skipped,
    }
    if json_output:
        print_json(document)
    else:
        console.print(", ".join(f"{value} {key}" for key, value in document.items()))


def _public(subscriber: SubscriberListing) -> dict[str, Any]:
    out = {key: getattr(subscriber, key) for key in PUBLIC}
    for key in ("next_attempt_at", "failing_since", "created_at"):
        value = out[key]
        if value is not None:
            out[key] = value.isoformat()
    return out
