"""Secrets kept apart: a feed's URL credentials in `sources.credentials`, a webhook's
secret read from where `subscribers.secret_ref` names. (One sighting per place is 0012.)

Feeds added as `https://user:password@host/rss` had the credentials in `sources.name`, and
from there in every sighting, article link resolved against the feed, raw input, job record,
outbox event and metric label. This moves them into the new column and takes them out of
the stored copies. (Events already published to the Redis stream or posted to webhooks
cannot be called back.) A credentialed feed whose clean URL is registered already hands its
credentials to that feed (if it has none) and is kept, disabled, as its articles' provenance.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:40:00
"""

import zlib
from typing import Any

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("credentials", sa.Text(), nullable=True))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("secret_ref", sa.Text(), nullable=True))
    _move_feed_credentials(op.get_bind())


def downgrade() -> None:
    # The credentials are not put back into URLs: that is what this revision removed.
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("secret_ref")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("credentials")


def _split(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and that part (a copy of
    worker.storage.feeds.without_credentials: a migration never imports app code)."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url, None
    start = scheme_end + 3
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    userinfo, at, host = url[start:end].rpartition("@")
    if not at:
        return url, None
    return url[:start] + host + url[end:], userinfo or None


def _move_feed_credentials(bind: Any) -> None:
    feeds = bind.execute(
        sa.text("SELECT id, name FROM sources WHERE kind = 'feed' AND name LIKE '%@%'")
    ).all()
    for feed_id, name in feeds:
        clean, credentials = _split(name)
        if credentials is None:
            continue
        other = bind.execute(
            sa.text("SELECT id, credentials FROM sources WHERE name = :name"), {"name": clean}
        ).first()
        if other is None:
            bind.execute(
                sa.text("UPDATE sources SET name = :clean, credentials = :c WHERE id = :id"),
                {"clean": clean, "c": credentials, "id": feed_id},
            )
        else:
            if other.credentials is None:
                bind.execute(
                    sa.text("UPDATE sources SET credentials = :c WHERE id = :id"),
                    {"c": credentials, "id": other.id},
                )
            bind.execute(
                sa.text(
                    "UPDATE sources SET name = :kept, credentials = NULL, enabled = :false, "
                    "status = 'removed', next_fetch_at = NULL WHERE id = :id"
                ),
                {"kept": f"{clean}#merged-into-{other.id}", "false": False, "id": feed_id},
            )
        _scrub(bind, feed_id, needle=name.split("://", 1)[0] + "://" + credentials + "@")


def _scrub(bind: Any, feed_id: int, *, needle: str) -> None:
    """Take `scheme://user:password@` out of every stored copy, as `scheme://`."""
    clean = needle.split("://", 1)[0] + "://"
    values = {"needle": needle, "clean": clean, "feed": feed_id}
    replaced = "REPLACE({col}, :needle, :clean)"
    for table in ("sightings", "rejects"):
        bind.execute(
            sa.text(
                f"UPDATE {table} SET location = {replaced.format(col='location')} "
                f"WHERE source_id = :feed AND location <> {replaced.format(col='location')}"
            ),
            values,
        )
    # Article links resolved against the feed's URL; a clean URL taken by another article
    # leaves this one without a URL rather than keep the credentials.
    rows = bind.execute(
        sa.text(
            "SELECT id, url FROM articles WHERE source_id = :feed AND url IS NOT NULL "
            f"AND url <> {replaced.format(col='url')}"
        ),
        values,
    ).all()
    for article_id, url in rows:
        new = url.replace(needle, clean)
        taken = bind.execute(
            sa.text("SELECT 1 FROM articles WHERE url = :url"), {"url": new}
        ).first()
        bind.execute(
            sa.text("UPDATE articles SET url = :url WHERE id = :id"),
            {"url": None if taken else new, "id": article_id},
        )
    _scrub_raw(bind, feed_id, needle=needle, clean=clean)
    json_text = "CAST({col} AS TEXT)"
    for table, column in (
        ("outbox_events", "payload"),
        ("ingest_jobs", "request"),
        ("ingest_job_parts", "payload"),
    ):
        source = json_text.format(col=column)
        new_value = f"REPLACE({source}, :needle, :clean)"
        if bind.dialect.name == "postgresql":
            new_value = f"CAST({new_value} AS JSON)"
            found = f"strpos({source}, :needle) > 0"
        else:
            found = f"instr({source}, :needle) > 0"
        bind.execute(sa.text(f"UPDATE {table} SET {column} = {new_value} WHERE {found}"), values)


def _scrub_raw(bind: Any, feed_id: int, *, needle: str, clean: str) -> None:
    """The raw inputs kept for `renormalize` (zstd, zlib or plain JSON) name the feed."""
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, raw FROM articles WHERE source_id = :feed AND id > :last "
                "ORDER BY id LIMIT :batch"
            ),
            {"feed": feed_id, "last": last, "batch": _BATCH},
        ).all()
        if not rows:
            return
        for article_id, blob in rows:
            last = article_id
            blob = bytes(blob)
            kind = "zstd" if blob[:4] == b"\x28\xb5\x2f\xfd" else "zlib"
            if blob[:1] == b"{":
                kind = "plain"
            if kind == "zstd":
                text = zstandard.ZstdDecompressor().decompress(blob)
            elif kind == "zlib":
                text = zlib.decompress(blob)
            else:
                text = blob
            needle_bytes = needle.encode()
            if needle_bytes in text:
                new = text.replace(needle_bytes, clean.encode())
                if kind == "zstd":
                    new = zstandard.ZstdCompressor(level=1).compress(new)
                elif kind == "zlib":
                    new = zlib.compress(new)
                bind.execute(
                    sa.text("UPDATE articles SET raw = :raw WHERE id = :id"),
                    {"raw": new, "id": article_id},
                )
