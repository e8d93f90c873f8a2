"""What arrives for ingestion: a RawArticle read from a seed file or parsed from a
producer's document, or the reason it could not be (kept in `rejects`, never raised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas import RawArticle
from worker.errors import RejectedInput
from worker.pipeline.safe_fields import plain_label, safe_link
from worker.settings import Settings
from worker.sources.seeds import read_seed_file
from worker.storage.jobs import PartClaim


@dataclass(slots=True)
class Arrival:
    """One input of a batch: a RawArticle, or the reason it could not even be read.

    `location` and `source` are what gets stored (sightings, rejects, sources): never
    markup, and a location is never a link to anything but http, https or ftp (see
    worker.pipeline.safe_fields); the RawArticle keeps what arrived."""

    raw: RawArticle | None
    location: str | None = None
    source: str | None = None
    source_kind: str = "producer"
    rejected: RejectedInput | None = None

    def __post_init__(self) -> None:
        self.location = safe_link(self.location)
        if self.source is not None and self.source_kind != "seed_dir":
            # A registered directory keeps its exact path: it names the source row the
            # rescans and `sources` commands look up (the operator chose it).
            self.source = plain_label(self.source).strip() or None


def arrivals_of(claim: PartClaim, settings: Settings) -> list[Arrival]:
    """The inputs of a claimed part: its seed files read, or its documents parsed."""
    if claim.kind == "seeds":
        source = claim.payload["source"]
        root = claim.payload.get("root")
        return [read_seed(path, source, settings, root=root) for path in claim.payload["paths"]]
    if claim.kind == "articles":
        return [parse_document(document) for document in claim.payload["articles"]]
    raise ValueError(f"unknown part kind {claim.kind!r}")


def read_seed(path: str, source: str, settings: Settings, *, root: str | None = None) -> Arrival:
    """A seed file as a RawArticle, or the reason it cannot be one (unreadable files too:
    kept with the reason, never an error that stops the batch). With `root` (carried in the
    part) the file is read only if opened beneath it, whatever the scan saw."""
    try:
        raw = read_seed_file(path, source=source, max_bytes=settings.max_article_bytes, root=root)
    except RejectedInput as error:
        return Arrival(
            raw=None, location=path, source=source, source_kind="seed_dir", rejected=error
        )
    except OSError as error:
        return Arrival(
            raw=None,
            location=path,
            source=source,
            source_kind="seed_dir",
            rejected=RejectedInput(f"cannot read file: {error.strerror or error}"),
        )
    return Arrival(raw=raw, location=path, source=source, source_kind="seed_dir")


def parse_document(document: Any) -> Arrival:
    """A producer's RawArticle document, validated; or why it is not one (the reason an
    over-size or non-list message was refused stands in for its documents)."""
    if isinstance(document, dict) and "__rejected__" in document:
        return Arrival(
            raw=None,
            rejected=RejectedInput(
                document["__rejected__"], raw=str(document.get("payload", "")).encode()
            ),
        )
    try:
        raw = RawArticle.model_validate(document)
    except ValidationError as error:
        reason = "invalid RawArticle: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in error.errors()[:5]
        )
        blob = repr(document).encode("utf-8", "replace")[: 1024 * 1024]
        return Arrival(raw=None, rejected=RejectedInput(reason, raw=blob))
    location = raw.extra.get("path") or raw.extra.get("entry_link") or raw.url
    kind = "feed" if raw.extra.get("feed_url") else "producer"
    return Arrival(raw=raw, location=location, source=raw.source, source_kind=kind)
