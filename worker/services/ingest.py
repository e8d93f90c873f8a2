"""Ingest one batch, in named phases: `_prepare` (normalize, hash: CPU only), `_read` (exact
copies and near-duplicate candidates, before any lock), then one transaction that locks the
part, `_decide`s (exact identity: `pipeline.identity`; stories: `pipeline.candidates` and
`pipeline.stories`), `_write`s and finishes the part (exactly-once effect)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import Connection, Engine

from schemas import ArticleEvent, IngestSummary
from worker.errors import RejectedInput
from worker.pipeline import stories
from worker.pipeline.candidates import Candidates, StoryText
from worker.pipeline.candidates import sketch_body as sketch_body  # for its importers
from worker.pipeline.identity import Identity, KnownArticle, KnownArticles, content_hash
from worker.pipeline.metadata import metadata_columns, public_metadata
from worker.pipeline.normalize import (
    NORMALIZER_VERSION,
    NormalizedArticle,
    normalize_article,
)
from worker.services.arrivals import Arrival
from worker.settings import Settings, get_settings
from worker.storage import articles as article_rows
from worker.storage import index, jobs
from worker.storage.models import utcnow
from worker.storage.outbox import NewEvent
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


@dataclass(slots=True)
class _Decision:
    """What the transaction will write for the batch."""

    new_rows: list[article_rows.NewArticleRow] = field(default_factory=list)
    bands: dict[int, int] = field(default_factory=dict)
    sightings: list[article_rows.SightingRow] = field(default_factory=list)
    rejects: list[article_rows.RejectRow] = field(default_factory=list)
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
        known = _load_known(connection, prepared, source_ids)
        unmatched = [p for p in prepared if known.match(_identity(p, source_ids)) is None]
        for item in unmatched:
            item.prepare_as_new(settings)
        return Candidates.load(
            index.CandidateStore(connection), [p.text for p in unmatched], settings
        )


def _prepare(
    arrivals: Sequence[Arrival], settings: Settings
) -> tuple[list[_Prepared], list[tuple[Arrival, RejectedInput]]]:
    """The CPU-bound half, before any lock is taken."""
    prepared: list[_Prepared] = []
    rejected: list[tuple[Arrival, RejectedInput]] = []
    boilerplate = frozenset(word.lower() for word in settings.boilerplate)
    for arrival in arrivals:
        if arrival.rejected is not None or arrival.raw is None:
            rejected.append((arrival, arrival.rejected or RejectedInput("no input")))
            continue
        try:
            if len(arrival.raw.body.encode("utf-8", "surrogatepass")) > settings.max_article_bytes:
                raise RejectedInput(
                    f"article larger than NEWS_INGEST_MAX_ARTICLE_BYTES={settings.max_article_bytes}"
                )
            article = normalize_article(
                arrival.raw, boilerplate=boilerplate, title_max_chars=settings.title_max_chars
            )
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
            {
                "job_id": job_id,
                "source_id": source_ids.get(arrival.source or ""),
                "location": arrival.location,
                "reason": error.reason,
                "raw": error.raw,
                "created_at": now,
            }
        )
        decision.summary.rejected += 1

    index.lock_for_dedup(connection=connection)
    known = _load_known(connection, prepared, source_ids)
    unmatched = [p for p in prepared if known.match(_identity(p, source_ids)) is None]
    for item in unmatched:
        item.prepare_as_new(settings)  # a no-op unless a stored copy changed since the pre-read
    candidates.expanded.clear()  # stories may have gained members since the first read
    candidates.refresh(index.CandidateStore(connection), [p.text for p in unmatched])
    new_ids = iter(article_rows.allocate_article_ids(connection=connection, count=len(unmatched)))
    # `allocate` over-reserves when in-batch copies turn out to be exact duplicates; gaps in
    # ids are harmless and cheaper than a second round trip.

    for item in prepared:
        source_id = source_ids.get(item.arrival.source or "")
        match = known.match(_identity(item, source_ids))
        if match is not None:
            article_id, story_id, stored_hash = match.article_id, match.story_id, match.content_hash
            if stored_hash != item.content_hash and known.hash_owner(item.content_hash) is None:
                # Same URL or guid, new text: update the article, keep the earlier text.
                article_rows.replace_text(
                    connection=connection,
                    article_id=article_id,
                    replaced_at=now,
                    values=_text_values(item),
                )
                known.rehash(article_id, stored_hash, item.content_hash)
                decision.events.append(
                    _event(
                        "article.updated",
                        item,
                        now,
                        article_id=article_id,
                        story_id=story_id,
                        duplicate_of=None,
                        similarity=None,
                    )
                )
            elif stored_hash != item.content_hash:
                article_id = known.hash_owner(item.content_hash) or article_id
            decision.summary.duplicates += 1
        else:
            article_id = next(new_ids)
            matches = candidates.matches(item.text)
            story = stories.decide_story(
                article_id,
                matches,
                [candidates.same_story(item.text, matches[0], other) for other in matches[1:]],
            )
            story_id, duplicate_of, score = story.story_id, story.duplicate_of, story.similarity
            agreement = story.agreement
            for other in story.merged:
                candidates.merge_story(other, into=story_id)
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
                _event(
                    "article.created",
                    item,
                    now,
                    article_id=article_id,
                    story_id=story_id,
                    duplicate_of=duplicate_of,
                    similarity=score,
                )
            )
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
    article_rows.insert_rejects(connection=connection, rows=decision.rejects)
    # The transactional outbox: events commit with the articles or not at all.
    article_rows.insert_events(connection=connection, rows=decision.events)


def _event(
    event_type: str,
    item: _Prepared,
    now: datetime,
    *,
    article_id: int,
    story_id: int,
    duplicate_of: int | None,
    similarity: float | None,
) -> NewEvent:
    # An update's key includes the new hash: each distinct text is one event, however often
    # the batch that stored it is replayed.
    key = (
        f"{event_type}:{article_id}"
        if event_type == "article.created"
        else f"{event_type}:{article_id}:{item.content_hash[:16]}"
    )
    event = ArticleEvent(
        type=event_type,
        idempotency_key=key,
        article_id=article_id,
        story_id=story_id,
        duplicate_of=duplicate_of,
        similarity=similarity,
        content_hash=item.content_hash,
        url=item.article.url,
        title=item.article.title,
        published_at=item.article.published_at,
        source=item.arrival.source,
        occurred_at=now,
        **_event_metadata(item),
    )
    return {
        "event_type": event_type,
        "idempotency_key": key,
        "payload": event.model_dump(mode="json"),
        "created_at": now,
    }


def _text_values(item: _Prepared) -> article_rows.TextValues:
    return {
        "title": item.article.title,
        "body": item.article.body,
        "url": item.article.url,
        "published_at": item.article.published_at,
        "content_hash": item.content_hash,
        "shingle_count": item.text.sketch.shingle_count,
        "signature": item.text.sketch.signature,
        "normalizer_version": NORMALIZER_VERSION,
        "warnings": list(item.article.warnings) or None,
        "raw": item.raw_bytes(),
        **metadata_columns(item.arrival.raw),
    }


def _event_metadata(item: _Prepared) -> dict[str, object]:
    return public_metadata(metadata_columns(item.arrival.raw), fields=ArticleEvent.METADATA_FIELDS)


def _identity(item: _Prepared, source_ids: dict[str, int]) -> Identity:
    return Identity(
        content_hash=item.content_hash,
        url=item.article.url,
        source_id=source_ids.get(item.arrival.source or ""),
        guid=item.article.guid,
    )


def _load_known(
    connection: Connection, prepared: list[_Prepared], source_ids: dict[str, int]
) -> KnownArticles:
    """The stored articles the batch may be exact copies of."""
    return index.load_known_articles(
        connection=connection,
        identities=[_identity(p, source_ids) for p in prepared],
    )
