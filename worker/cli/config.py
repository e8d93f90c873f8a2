"""`news-ingest config`: every setting, its environment variable, default and meaning, and
the value in force (secrets hidden). `--markdown` prints the README's configuration table.

Meanings come from the comments above each field in worker/settings.py, so the table is
generated from the one place settings are defined; fields without a comment get theirs
from MEANINGS below.
"""

from __future__ import annotations

import ast
import inspect
from typing import Annotated, Any

import typer
from pydantic_core import PydanticUndefined
from rich.table import Column, Table

from worker import settings as settings_module
from worker.cli.common import console, database_label, print_json
from worker.settings import Settings, get_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

# Settings read under another name than NEWS_INGEST_<FIELD>.
ALIASES = {"database_url": "DATABASE_URL", "broker_url": "BROKER_URL"}
SECRET = ("api_key",)
MEANINGS = {
    # Blocks of settings commented once in worker/settings.py: one line each here.
    "part_payload_retention_s": "Seconds after which a finished job part's payload (paths, "
    "documents) is emptied (0: kept).",
    "job_retention_s": "Seconds after which finished jobs and their parts are deleted (0: kept).",
    "reject_retention_s": "Seconds after which rejects are deleted (0: kept).",
    "reject_raw_max_bytes": "Bytes of a rejected input's raw content that are stored.",
    "revisions_kept": "Earlier texts kept per article, newest first (0: all).",
    "db_lock_timeout_s": "Seconds a Postgres statement waits for a lock (the dedup lock "
    "included); then the batch is retried. 0: no limit.",
    "db_idle_in_transaction_timeout_s": "Seconds a Postgres session may sit idle inside a "
    "transaction before the server ends it (its locks go with it). 0: no limit.",
    "api_statement_timeout_s": "Seconds an API statement may run on Postgres. 0: no limit.",
    "migration_lock_timeout_s": "Seconds a migration waits for a table lock (`db upgrade` "
    "retries). 0: no limit.",
    "full_text_min_chars": "A page text shorter than this is too little text: the feed's "
    "text is kept.",
    "full_text_workers": "Pages read at once by one full-text task (per-host limits still apply).",
    "robots_cache_s": "Seconds a site's robots.txt is cached.",
    "robots_max_crawl_delay_s": "Largest robots.txt Crawl-delay honoured (a longer one is "
    "honoured as this).",
    "max_guid_bytes": "Longest guid accepted (UTF-8 bytes); a longer one is a reject.",
    "max_source_bytes": "Longest source name accepted (UTF-8 bytes); a longer one is a reject.",
    "max_title_bytes": "Longest title accepted (UTF-8 bytes); a longer one is a reject.",
    "max_extra_depth": "Deepest nesting of an article's `extra` accepted.",
    "max_extra_bytes": "Largest `extra` accepted, as JSON bytes.",
    "max_json_depth": "Deepest JSON nesting of a task message or API body accepted.",
    "max_message_items": "Most JSON values in a task message or API body accepted.",
    "database_url": "Where articles are stored: `sqlite:///PATH` (relative to the working "
    "directory) or `postgresql://USER:PASSWORD@HOST/DB`. Read-only commands never create it.",
    "broker_url": "The Celery broker (Redis).",
    "redis_url": "Redis for shared state other than the queue (per-host politeness, the "
    "event stream); default: the broker's Redis.",
    "max_batch_size": "Largest `ingest.articles` message accepted; a larger one is rejected "
    "whole, with the reason.",
    "max_article_bytes": "Largest seed file or article accepted; larger ones are rejected.",
    "max_task_deliveries": "A batch delivered this often (it crashed its worker each time) "
    "gives up: its inputs go to `rejects`.",
    "boilerplate": "Lines dropped from every text (comma-separated or a JSON list).",
    "title_max_chars": "Longest title derived from a text, cut at a word.",
    "batch_size": "Seed files or articles per queued batch (part of a job).",
    "near_dup_threshold": "Jaccard similarity from which a text is a near copy.",
    "near_dup_containment_threshold": "Containment (share of the shorter text in the longer) "
    "that alone makes a near copy.",
    "containment_min_jaccard": "Jaccard needed with a containment of at least NEAR_DUP_THRESHOLD.",
    "edited_copy_containment": "Containment of a short article with a sentence or two "
    "rewritten (with EDITED_COPY_JACCARD and EDITED_COPY_PASSAGES).",
    "edited_copy_jaccard": "Jaccard of such an edited short copy.",
    "edited_copy_passages": "Separate shared passages such an edited copy needs.",
    "single_passage_min_shingles": "Shingles of one shared passage that counts as more "
    "than a quoted sentence.",
    "story_merge_jaccard": "Jaccard with a second story from which a text merges the two.",
    "story_bridge_share": "Share of a second story's article a text must hold to merge the two.",
    "story_candidates": "Members of a story compared when its indexed article is an "
    "uncertain match.",
    "lead_bands": "Index keys of a text's opening (0 turns them off).",
    "lead_shingles": "Shingles of the opening those keys are made from.",
    "estimate_margin": "Candidates whose signature estimate is this far below the threshold "
    "are not verified.",
    "min_containment_shingles": "Shingles a shorter text needs for containment to count.",
    "short_lead_min_shingles": "Shingles from which a short text (a lead, a summary) can be "
    "a copy of a text's opening.",
    "short_lead_containment": "Share of such a short text found word for word at the opening.",
    "common_paragraph_stories": "Stories a paragraph is seen in before it is left out of "
    "comparisons (footers, disclaimers).",
    "per_host_max_wait_s": "Seconds a scheduled fetch waits for its host's turn before it "
    "is put back for the next tick.",
    "feed_schedule_limit": "Feeds claimed per `feeds.schedule_due` tick.",
    "feed_claim_lease_s": "Seconds a claim holds a feed (a killed worker's feed is free "
    "again after this).",
    "job_stall_s": "Seconds without progress after which `jobs.resume` queues a part again.",
    "events_maxlen": "Entries the Redis stream `news-ingest:events` keeps (about).",
    "relay_batch": "Outbox rows the relay publishes per transaction.",
    "relay_poll_s": "Seconds between outbox polls of an idle `events relay`.",
    "events_retention_s": "Seconds published events are kept for webhooks (0: for ever).",
    "webhook_timeout_s": "Seconds per webhook request.",
    "webhook_backoff_max_s": "Longest wait between webhook retries.",
    "webhook_give_up_s": "Seconds an event may stay undeliverable before it is skipped.",
    "seed_dir_interval_s": "Default rescan interval of a seed directory.",
    "seed_settle_s": "Seconds a file's size and mtime must stay unchanged before it is read.",
    "api_key": "Key the HTTP API asks for (`Authorization: Bearer KEY` or `X-API-Key`).",
    "api_seed_roots": "Directories `POST /jobs` may read seed paths from (comma-separated); "
    "empty: any path the server can read.",
    "metrics_port": "Port of each worker's Prometheus endpoint; off when unset.",
    "queue": "The Celery queue `enqueue`, the API and beat send work to; workers must "
    "consume it (`celery -A worker.app worker -Q QUEUE`).",
    "shingle_words": "Words per shingle in near-duplicate detection.",
    "minhash_perms": "MinHash permutations per signature.",
    "lsh_bands": "LSH bands (index keys) per article.",
    "lsh_rows": "Rows per LSH band.",
    "fetch_connect_timeout": "Seconds to connect to a feed's server.",
    "fetch_total_timeout": "Seconds a feed fetch may take in all.",
    "fetch_max_bytes": "Largest feed document read (after decompression); a larger one is cut off.",
    "fetch_max_redirects": "Redirects followed per fetch.",
    "per_host_concurrency": "Fetches at once per host, across all workers.",
    "per_host_rate_per_minute": "Requests per minute per host, across all workers.",
    "feed_min_interval_s": "Shortest adaptive fetch interval of a feed.",
    "feed_max_interval_s": "Longest adaptive fetch interval of a feed (and error backoff cap).",
    "feed_default_interval_s": "Interval of a feed until its publishing rate is known.",
    "allow_private_networks": "Allow feeds and webhooks on loopback and private addresses "
    "(SSRF guard off; tests only).",
    "api_max_body_bytes": "Largest HTTP API request body (413 above).",
    "log_format": "`auto` (JSON unless on a terminal), `json` or `console`.",
    "log_level": "Log level of workers and long-running commands.",
}


def register(app: typer.Typer) -> None:
    app.command("config")(show_config)


def setting_rows() -> list[dict[str, Any]]:
    """One row per setting: name, env var, default, meaning, value in force."""
    comments = _field_comments()
    current = get_settings()
    rows = []
    for name, info in Settings.model_fields.items():
        if info.default is not PydanticUndefined:
            default = info.default
        elif info.default_factory is not None:
            default = info.default_factory()  # type: ignore[call-arg]
        else:
            default = None
        value = getattr(current, name)
        rows.append(
            {
                "setting": name,
                "env": env_name(name),
                "default": _shown(name, default),
                "value": _shown(name, value),
                "meaning": MEANINGS.get(name) or comments.get(name, ""),
            }
        )
    return rows


def env_name(field_name: str) -> str:
    return ALIASES.get(field_name, "NEWS_INGEST_" + field_name.upper())


def show_config(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The README's table of every setting.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Every setting: environment variable, default, value in force, meaning."""
    rows = setting_rows()
    if json_output:
        print_json(rows)
        return
    if markdown:
        print(markdown_table(rows))
        return
    table = Table(
        Column("variable", no_wrap=True),
        Column("value", overflow="fold"),
        Column("default", overflow="fold"),
        Column("meaning", ratio=1),
    )
    for row in rows:
        table.add_row(row["env"], row["value"], row["default"], row["meaning"])
    console.print(table)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for row in rows:
        default = row["default"].replace("|", "\\|") or " "
        meaning = row["meaning"].replace("|", "\\|")
        lines.append(f"| `{row['env']}` | `{default}` | {meaning} |")
    return "\n".join(lines)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in SECRET:
        return "(set)"
    if name.endswith("_url") and isinstance(value, str):
        return database_label(value).split(" (")[0]
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _field_comments() -> dict[str, str]:
    """The comment block right above each field of Settings (and a trailing comment on the
    field's line), joined into one sentence-like string."""
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "Settings"):
            continue
        for statement in node.body:
            if not (
                isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
            ):
                continue
            block: list[str] = []
            index = statement.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#"):
                block.insert(0, lines[index].strip().lstrip("#").strip())
                index -= 1
            own = lines[statement.lineno - 1]
            if "#" in own and statement.end_lineno == statement.lineno:
                block.append(own.split("#", 1)[1].strip())
            if block and len(block[0].split()) <= 3 and not block[0].endswith("."):
                block = block[1:]  # a group heading ("Feeds"), not this field's meaning
            text = " ".join(part for part in block if part)
            text = text.split(". ")[0].rstrip(".:") + "." if text else ""  # its first sentence
            if text:
                found[statement.target.id] = text
    return found
