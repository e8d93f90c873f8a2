"""Re-run the normalizer over the stored raw input (`news-ingest renormalize`).

Articles normalized by an older NORMALIZER_VERSION (or every article, with `everything`)
are normalized again from the RawArticle kept with them, in batches: the CPU work outside
any transaction, the writes in one short transaction per batch under the dedup lock, so a
worker ingesting at the same time never sees half of it. An article whose text changes is
updated in place (the earlier text kept as a revision, an `article.updated` event in the
outbox); nothing is ever inserted, so renormalizing cannot create a duplicate. When the new
text or URL already belongs to another article, the article is left as it was and counted
as a conflict, for an operator to look at; it is tried again on the next run.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
import zstandard
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from schemas import ArticleEvent, RawArticle
from worker.errors import RejectedInput
from worker.pipeline.candidates import sketch_body
from worker.pipeline.identity import content_hash
from worker.pipeline.normalize import NORMALIZER_VERSION, normalize_as_configured
from worker.settings import Settings, get_settings
from worker.storage import index
from worker.storage.articles import insert_events, replace_text, unpack_raw
from worker.storage.models import Article, Source, table_of, utcnow
from worker.storage.outbox import NewEvent, event_key, outbox_row

log = structlog.get_logger(__name__)

_articles = table_of(Article)
_sources = table_of(Source)
_TEXT_FIELDS = ("title", "body", "url", "published_at")


class RenormalizeSummary(BaseModel):
    """What a run did to each article it looked at."""

    examined: int = 0
    updated: int = 0  # text changed: updated in place, earlier text kept as a revision
    unchanged: int = 0  # same text; only the version (and the dedup sketch) brought up to date
    conflicts: int = 0  # the new text or URL belongs to another article: left as it was
    failed: int = 0  # the raw input is unreadable, or the normalizer now rejects it: left as it was
    skipped: int = 0  # changed by an ingest while this batch was being normalized


@dataclass(slots=True)
class _Plan:
    article_id: int
    stored_hash: str
    values: dict[str, Any] | None = None  # None: nothing to write (failed)
    text_changed: bool = False
    band_keys: tuple[int, ...] = ()
    event: NewEvent | None = None


def pending_count(*, engine: Engine, everything: bool = False) -> int:
    query = select(func.count()).select_from(_articles)
    if not everything:
        query = query.where(_articles.c.normalizer_version < NORMALIZER_VERSION)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def renormalize(
    *,
    engine: Engine,
    everything: bool = False,
    batch_size: int = 200,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> RenormalizeSummary:
    """Renormalize every article below NORMALIZER_VERSION (all with `everything`)."""
    settings = settings or get_settings()
    summary = RenormalizeSummary()
    last_id = 0
    while True:
        query = (
            select(
                _articles.c.id,
                _articles.c.title,
                _articles.c.body,
                _articles.c.url,
                _articles.c.published_at,
                _articles.c.content_hash,
                _articles.c.signature,
                _articles.c.raw,
                _articles.c.story_id,
                _articles.c.duplicate_of,
                _articles.c.similarity,
                _sources.c.name.label("source"),
            )
            .select_from(_articles.outerjoin(_sources, _sources.c.id == _articles.c.source_id))
            .where(_articles.c.id > last_id)
            .order_by(_articles.c.id)
            .limit(batch_size)
        )
        if not everything:
            query = query.where(_articles.c.normalizer_version < NORMALIZER_VERSION)
        with engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        if not rows:
            break
        last_id = rows[-1]["id"]
        now = utcnow()
        plans = [_plan(row, settings, now) for row in rows]
        with engine.begin() as connection:
            index.lock_for_dedup(connection=connection)
            _apply(connection, plans, summary, now)
        summary.examined += len(rows)
        if progress is not None:
            progress(len(rows))
    log.info("renormalized", normalizer_version=NORMALIZER_VERSION, **summary.model_dump())
    return summary


def _plan(row: Any, settings: Settings, now: datetime) -> _Plan:
    """Normalize one stored article again (pure CPU work, no database)."""
    plan = _Plan(article_id=row["id"], stored_hash=row["content_hash"])
    try:
        raw = RawArticle.model_validate(unpack_raw(row["raw"]))
        article = normalize_as_configured(raw, settings)
    except (RejectedInput, ValidationError, ValueError, zlib.error, zstandard.ZstdError) as error:
        # The normalizer now finds no text, or the stored bytes are damaged: keep the
        # article as it is, count it, go on.
        log.warning(
            "cannot renormalize article",
            article_id=row["id"],
            error=f"{type(error).__name__}: {error}",
        )
        return plan
    _, _, sketch = sketch_body(article.body, settings)
    new_hash = content_hash(article.body)
    text = {
        "title": article.title,
        "body": article.body,
        "url": article.url,
        "published_at": article.published_at,
    }
    plan.text_changed = new_hash != row["content_hash"] or any(
        text[name] != row[name] for name in _TEXT_FIELDS
    )
    plan.values = {
        **text,
        "content_hash": new_hash,
        "signature": sketch.signature,
        "shingle_count": sketch.shingle_count,
        "normalizer_version": NORMALIZER_VERSION,
        "warnings": list(article.warnings) or None,
    }
    plan.band_keys = sketch.band_keys  # those still free are indexed (see `_apply`)
    if plan.text_changed:
        event = ArticleEvent(
            type="article.updated",
            idempotency_key=event_key(
                "article.updated", article_id=row["id"], content_hash=new_hash
            ),
            article_id=row["id"],
            story_id=row["story_id"],
            duplicate_of=row["duplicate_of"],
            similarity=row["similarity"],
            content_hash=new_hash,
            url=article.url,
            title=article.title,
            published_at=article.published_at,
            source=row["source"],
            occurred_at=now,
        )
        plan.event = outbox_row(event)
    return plan


def _apply(
    connection: Connection, plans: list[_Plan], summary: RenormalizeSummary, now: datetime
) -> None:
    """Write one batch, in the caller's transaction, with the dedup lock held."""
    ids = [plan.article_id for plan in plans]
    current = dict(
        connection.execute(
            select(_articles.c.id, _articles.c.content_hash).where(_articles.c.id.in_(ids))
        ).all()
    )
    # A key has one owner: the article's own earlier keys and those its copies took first
    # stay as they are; only free keys are added (a re-sketch, or keys of a newer kind).
    owners = index.find_band_owners(
        connection=connection, band_keys=[key for plan in plans for key in plan.band_keys]
    )
    for plan in plans:
        if plan.values is None:
            summary.failed += 1
            continue
        if current.get(plan.article_id) != plan.stored_hash:
            summary.skipped += 1  # an ingest replaced its text meanwhile: it is current
            continue
        if plan.text_changed and _taken(connection, plan):
            summary.conflicts += 1
            log.warning(
                "renormalized text belongs to another article: left as it was",
                article_id=plan.article_id,
                content_hash=plan.values["content_hash"],
            )
            continue
        try:
            # A savepoint per article: a unique violation (the constraints are the last
            # line of defence) costs this article, not the batch.
            with connection.begin_nested():
                if plan.text_changed:
                    replace_text(
                        connection=connection,
                        article_id=plan.article_id,
                        values=plan.values,
                        replaced_at=now,
                    )
                else:
                    connection.execute(
                        update(Article)
                        .where(Article.id == plan.article_id)
                        .values(
                            normalizer_version=NORMALIZER_VERSION,
                            signature=plan.values["signature"],
                            shingle_count=plan.values["shingle_count"],
                            warnings=plan.values["warnings"],
                        )
                    )
                free = {key: plan.article_id for key in plan.band_keys if key not in owners}
                index.add_bands(connection=connection, rows=free.items())
                if plan.event is not None:
                    insert_events(connection=connection, rows=[plan.event])
        except IntegrityError:
            summary.conflicts += 1
            continue
        owners.update(free)
        if plan.text_changed:
            summary.updated += 1
        else:
            summary.unchanged += 1


def _taken(connection: Connection, plan: _Plan) -> bool:
    """Whether another article already has the new content hash or canonical URL."""
    assert plan.values is not None
    clash = _articles.c.content_hash == plan.values["content_hash"]
    if plan.values["url"]:
        clash = clash | (_articles.c.url == plan.values["url"])
    return (
        connection.execute(
            select(_articles.c.id).where(clash, _articles.c.id != plan.article_id).limit(1)
        ).first()
        is not None
    )


__all__ = ["RenormalizeSummary", "pending_count", "renormalize"]
