"""Ingest one batch, in named phases: `_prepare` (normalize, hash: CPU only), `_read` (exact
copies and near-duplicate candidates, before any lock), then one transaction that locks the
part, `_decide`s (exact identity: `pipeline.identity`; stories: `pipeline.candidates` and
`pipeline.stories`), `_write`s and finishes the part (exactly-once effect)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy import Connection, Engine

from schemas import IngestSummary
from worker.errors import RejectedInput
from worker.pipeline.candidates import Candidates, StoryText
from worker.pipeline.identity import Identity, KnownArticle, KnownArticles, content_hash
from worker.pipeline.metadata import ArticleMetadata, metadata_columns
from worker.pipeline.normalize import (
    NormalizedArticle,
    normalize_as_configured,
)
from worker.services.arrivals import Arrival
from worker.settings import Settings, get_settings
from worker.storage import articles as article_rows
from worker.storage import index, jobs
from worker.storage.models import utcnow
from worker.storage.outbox import NewEvent, article_event_row
from worker.storage.rejects import NewReject, insert_rejects, reject_row
from worker.storage.sources import ensure_sources, lookup_sources

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Prepared:
    arrival: Arrival
    article: NormalizedArticle
    content_hash: str
    text: StoryText
    # Packed only when the article is not an exact copy of a stored one.
    packed_raw: bytes | None = None
    # Read from the raw input once: the stored columns and the event both carry it.
    stored_metadata: ArticleMetadata | None = None

    def prepare_as_new(self, settings: Settings) -> None:
        """Sketch the text and pack the raw input: what storing it as new needs."""
        self.text.sketch_once(settings)
        self.raw_bytes()

    def raw_bytes(self) -> bytes:
        """The raw input as stored (`articles.pack_raw`), made once."""
        if self.packed_raw is None:
            assert self.arrival.raw is not None
            self.packed_raw = article_rows.pack_raw(
                self.arrival.raw.model_dump_json(exclude_defaults=True)
            )
        return self.packed_raw

    def metadata(self) -> ArticleMetadata:
        """The article's metadata columns (`pipeline.metadata`), read once."""
        if self.stored_metadata is None:
            self.stored_metadata = metadata_columns(self.arrival.raw)
        return self.stored_metadata


@dataclass(slots=True)
class _Decision:
    """What the transaction will write for the batch."""

    new_rows: list[article_rows.NewArticleRow] = field(default_factory=list)
    bands: dict[int, int] = field(default_factory=dict)
    sightings: list[article_rows.SightingRow] = field(default_factory=list)
    rejects: list[NewReject] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    story_merges: list[tuple[int, int]] = field(default_factory=list)
    summary: IngestSummary = field(default_factory=IngestSummary)

    def merge_story(self, story_id: int, *, into: int) -> None:
        """Fold one story into another: stored members are moved by one UPDATE after the
        inserts, this batch's new rows now."""
        self.story_merges.append((story_id, into))
        for row in self.new_rows:
            if row["story_id"] == story_id:
                row["story_id"] = row["duplicate_of"] = into


def ingest_batch(
    *,
    engine: Engine,
    job_id: str,
    part_no: int,
    arrivals: Sequence[Arrival],
    settings: Settings | None = None,
    dry_run: bool = False,
) -> IngestSummary | None:
    """Store one batch. Returns its counts, or None if an earlier delivery already stored it.
    `dry_run` does everything but commit (services.isolation finds a refused input so)."""
    settings = settings or get_settings()
    started = time.perf_counter()
    prepared, rejected = _prepare(arrivals, settings)
    prepared_at = time.perf_counter()
    candidates = _read(engine, prepared, settings)
    candidates_at = time.perf_counter()
    with engine.begin() as connection:
        if not jobs.lock_part_if_open(connection=connection, job_id=job_id, part_no=part_no):
            log.info("batch already stored", job_id=job_id, part_no=part_no)
            return None
        decision = _decide(connection, job_id, prepared, rejected, candidates, settings)
        _write(connection, decision, candidates)
        if dry_run:
            connection.rollback()
            return decision.summary
        jobs.finish_part(
            connection=connection, job_id=job_id, part_no=part_no, summary=decision.summary
        )
    log.info(
        "batch stored",
        job_id=job_id,
        part_no=part_no,
        **decision.summary.model_dump(),
        prepare_ms=round((prepared_at - started) * 1000),
        candidates_ms=round((candidates_at - prepared_at) * 1000),
        store_ms=round((time.perf_counter() - candidates_at) * 1000),
    )
    return decision.summary


def _read(engine: Engine, prepared: list[_Prepared], settings: Settings) -> Candidates:
    """Exact-copy and candidate lookups, and the shingling of candidates, before the lock, on
    what is committed now; under the lock (`_decide`) only what changed in between is read."""
    with engine.connect() as connection:
        source_ids = lookup_sources(
            connection=connection, names=[p.arrival.source for p in prepared if p.arrival.source]
        )
        _, unmatched = _unmatched(connection, prepared, source_ids, settings)
        return Candidates.load(
            index.CandidateStore(connection), [p.text for p in unmatched], settings
        )


def _prepare(
    arrivals: Sequence[Arrival], settings: Settings
) -> tuple[list[_Prepared], list[tuple[Arrival, RejectedInput]]]:
    """The CPU-bound half, before any lock is taken."""
    prepared: list[_Prepared] = []
    rejected: list[tuple[Arrival, RejectedInput]] = []
    for arrival in arrivals:
        if arrival.rejected is not None or arrival.raw is None:
            rejected.append((arrival, arrival.rejected or RejectedInput("no input")))
            continue
        try:
            if len(arrival.raw.body.encode("utf-8", "surrogatepass")) > settings.max_article_bytes:
                raise RejectedInput(
                    f"article larger than NEWS_INGEST_MAX_ARTICLE_BYTES={settings.max_article_bytes}"
                )
            article = normalize_as_configured(arrival.raw, settings)
        except RejectedInput as error:
            if error.raw is None:
                error.raw = arrival.raw.body.encode("utf-8", "surrogatepass")[: 1024 * 1024]
            rejected.append((arrival, error))
            continue
        prepared.append(
            _Prepared(
                arrival=arrival,
                article=article,
                content_hash=content_hash(article.body),
                text=StoryText(article.body),
            )
        )
    return prepared, rejected


def _decide(
    connection: Connection,
    job_id: str,
    prepared: list[_Prepared],
    rejected: list[tuple[Arrival, RejectedInput]],
    candidates: Candidates,
    settings: Settings,
) -> _Decision:
    now = utcnow()
    decision = _Decision()
    source_ids = ensure_sources(
        connection=connection,
        names={(a.source_kind, a.source) for a in (p.arrival for p in prepared) if a.source}
        | {(a.source_kind, a.source) for a, _ in rejected if a.source},
    )
    for arrival, error in rejected:
        decision.rejects.append(
            reject_row(
                job_id=job_id,
                source_id=source_ids.get(arrival.source or ""),
                location=arrival.location,
                reason=error.reason,
                raw=error.raw,
                created_at=now,
            )
        )
        decision.summary.rejected += 1

    index.lock_for_dedup(connection=connection)
    # Sketching is a no-op unless a stored copy changed since the pre-read.
    known, unmatched = _unmatched(connection, prepared, source_ids, settings)
    candidates.expanded.clear()  # stories may have gained members since the first read
    candidates.refresh(index.CandidateStore(connection), [p.text for p in unmatched])
    new_ids = iter(article_rows.allocate_article_ids(connection=connection, count=len(unmatched)))
    # `allocate` over-reserves when in-batch copies turn out to be exact duplicates; gaps in
    # ids are harmless and cheaper than a second round trip.

    for item in prepared:
        source_id = source_ids.get(item.arrival.source or "")
        copy = known.copy_of(_identity(item, source_ids))
        if copy is not None:
            article_id = copy.article_id
            if copy.replaces is not None:
                # Same URL or guid, new text: update the article, keep the earlier text.
                article_rows.replace_text(
                    connection=connection, article_id=article_id, replaced_at=now,
                    values=_text_values(item),
                )  # fmt: skip
                known.rehash(article_id, copy.replaces, item.content_hash)
                decision.events.append(
                    _event("article.updated", item, now, article_id=article_id,
                           story_id=copy.story_id, duplicate_of=None, similarity=None)
                )  # fmt: skip
            decision.summary.duplicates += 1
        else:
            article_id = next(new_ids)
            story = candidates.decide_story(item.text, article_id)
            story_id, duplicate_of, score = story.story_id, story.duplicate_of, story.similarity
            agreement = story.agreement
            for other in story.merged:
                decision.merge_story(other, into=story_id)
            if duplicate_of is None:
                decision.summary.new += 1
            else:
                decision.summary.near_duplicates += 1
            decision.new_rows.append(
                {
                    "id": article_id,
                    **_text_values(item),
                    "source_id": source_id,
                    "guid": item.article.guid,
                    "story_id": story_id,
                    "duplicate_of": duplicate_of,
                    "similarity": score,
                    "specific_agreed": agreement.agreed if agreement else None,
                    "specific_differed": agreement.counted if agreement else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            known.add(
                KnownArticle(article_id, story_id, item.content_hash), _identity(item, source_ids)
            )
            decision.events.append(
                _event("article.created", item, now, article_id=article_id, story_id=story_id,
                       duplicate_of=duplicate_of, similarity=score)
            )  # fmt: skip
            decision.bands.update(candidates.add(item.text, article_id, story_id))
        decision.sightings.append(
            {
                "article_id": article_id,
                "source_id": source_id,
                "location": item.arrival.location,
                "guid": item.article.guid,
                "job_id": job_id,
                "seen_at": now,
            }
        )
    decision.summary.received = len(prepared) + len(rejected)
    return decision


def _write(connection: Connection, decision: _Decision, candidates: Candidates) -> None:
    """Write what was decided, in bulk, inside the transaction that decided it."""
    article_rows.insert_articles(connection=connection, rows=decision.new_rows)
    index.add_bands(connection=connection, rows=decision.bands.items())
    article_rows.insert_sightings(
        connection=connection,
        rows=decision.sightings,
        new_article_ids={row["id"] for row in decision.new_rows},
    )
    index.record_paragraphs(
        connection=connection,
        added=candidates.added_paragraphs,
        changed=candidates.changed_paragraphs,
    )
    for story_id, into in decision.story_merges:
        article_rows.merge_story(connection=connection, story_id=story_id, into=into)
    insert_rejects(connection=connection, rows=decision.rejects)
    # The transactional outbox: events commit with the articles or not at all.
    article_rows.insert_events(connection=connection, rows=decision.events)


def _event(
    event_type: Literal["article.created", "article.updated"],
    item: _Prepared,
    now: datetime,
    *,
    article_id: int,
    story_id: int,
    duplicate_of: int | None,
    similarity: float | None,
) -> NewEvent:
    return article_event_row(
        event_type, article=item.article, metadata=item.metadata(), source=item.arrival.source,
        content_hash=item.content_hash, article_id=article_id, story_id=story_id,
        duplicate_of=duplicate_of, similarity=similarity, occurred_at=now,
    )  # fmt: skip


def _text_values(item: _Prepared) -> article_rows.TextValues:
    return article_rows.text_columns(
        article=item.article, metadata=item.metadata(), content_hash=item.content_hash,
        sketch=item.text.sketch, packed_raw=item.raw_bytes(),
    )  # fmt: skip


def _identity(item: _Prepared, source_ids: dict[str, int]) -> Identity:
    return Identity(
        content_hash=item.content_hash,
        url=item.article.url,
        source_id=source_ids.get(item.arrival.source or ""),
        guid=item.article.guid,
    )


def _unmatched(
    connection: Connection,
    prepared: list[_Prepared],
    source_ids: dict[str, int],
    settings: Settings,
) -> tuple[KnownArticles, list[_Prepared]]:
    """The stored articles the batch may be exact copies of, and the arrivals that are none
    (sketched and packed: what storing them as new needs)."""
    known = index.load_known_articles(
        connection=connection, identities=[_identity(p, source_ids) for p in prepared]
    )
    unmatched = [p for p in prepared if known.match(_identity(p, source_ids)) is None]
    for item in unmatched:
        item.prepare_as_new(settings)
    return known, unmatched
