"""What arrives for ingestion: a RawArticle read from a seed file or parsed from a
producer's document, or the reason it could not be (kept in `rejects`, never raised)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas import RawArticle
from worker.errors import RejectedInput
from worker.pipeline.normalize import canonical_url
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
    # A feed entry's identity (feed URL, guid key, content key): a rejected entry is
    # remembered by it so that the next fetch of its feed does not bring it back.
    feed_entry: FeedEntryKey | None = None

    def __post_init__(self) -> None:
        self.location = safe_link(self.location)
        if self.source is not None and self.source_kind != "seed_dir":
            # A registered directory keeps its exact path: it names the source row the
            # rescans and `sources` commands look up (the operator chose it).
            self.source = plain_label(self.source).strip() or None


@dataclass(frozen=True, slots=True)
class FeedEntryKey:
    """A feed entry as `feed_entry_rejects` knows it: sha256 of its guid (else its link) and
    of its text, so that a changed entry is tried again."""

    feed_url: str
    guid_key: str
    content_key: str


def arrivals_of(claim: PartClaim, settings: Settings) -> list[Arrival]:
    """The inputs of a claimed part: its seed files read, or its documents parsed."""
    if claim.kind == "seeds":
        source = claim.payload["source"]
        root = claim.payload.get("root")
        return [read_seed(path, source, settings, root=root) for path in claim.payload["paths"]]
    if claim.kind == "articles":
        return [
            _refused_before_0005(document) or parse_document(document, settings)
            for document in claim.payload["articles"]
        ]
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
    try:
        raw = storable(raw, settings)
    except RejectedInput as error:
        return Arrival(
            raw=None, location=path, source=source, source_kind="seed_dir", rejected=error
        )
    return Arrival(raw=raw, location=path, source=source, source_kind="seed_dir")


def parse_document(document: Any, settings: Settings) -> Arrival:
    """A producer's RawArticle document, validated; or why it is not one."""
    entry = feed_entry_key(document)
    try:
        raw = storable(RawArticle.model_validate(_without_surrogates(document)), settings)
    except ValidationError as error:
        reason = "invalid RawArticle: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in error.errors()[:5]
        )
        return Arrival(
            raw=None, rejected=RejectedInput(reason, raw=_blob(document)), feed_entry=entry
        )
    except RejectedInput as error:
        error.raw = _blob(document)
        return Arrival(raw=None, rejected=error, feed_entry=entry)
    location = raw.extra.get("path") or raw.extra.get("entry_link") or raw.url
    kind = "feed" if raw.extra.get("feed_url") else "producer"
    return Arrival(
        raw=raw, location=location, source=raw.source, source_kind=kind, feed_entry=entry
    )


def _refused_before_0005(document: Any) -> Arrival | None:
    """A part stored before migration 0005 carried each input of a refused message as
    `{"__rejected__": reason, "payload": ...}`; such a part, still unfinished after an
    upgrade, rejects it with that reason. Nothing writes the form any more: a refused
    message is one failed part with one reject (`services.jobs.accept_message`)."""
    if not (isinstance(document, dict) and isinstance(document.get("__rejected__"), str)):
        return None
    payload = str(document.get("payload", "")).encode()
    return Arrival(raw=None, rejected=RejectedInput(document["__rejected__"], raw=payload))


def _without_surrogates(document: Any) -> Any:
    """A document whose top-level strings (and `extra`'s keys) hold no lone surrogate:
    pydantic refuses those as invalid strings, and one stray `\\ud800` in a body should
    cost a character (U+FFFD), not the article."""
    if not isinstance(document, dict):
        return document
    fixed = {
        key: _SURROGATES.sub("\ufffd", value) if isinstance(value, str) else value
        for key, value in document.items()
    }
    extra = fixed.get("extra")
    if isinstance(extra, dict):
        fixed["extra"] = {
            _SURROGATES.sub("\ufffd", key) if isinstance(key, str) else key: value
            for key, value in extra.items()
        }
    return fixed


def feed_entry_key(document: Any) -> FeedEntryKey | None:
    """The identity of a feed entry's document (one with a string `extra.feed_url`)."""
    if not isinstance(document, dict):
        return None
    extra = document.get("extra")
    feed_url = extra.get("feed_url") if isinstance(extra, dict) else None
    if not isinstance(feed_url, str):
        return None
    return entry_key(
        storable_text(feed_url),
        guid=document.get("guid"),
        url=document.get("url"),
        title=document.get("title"),
        body=document.get("body"),
    )


def entry_key(feed_url: str, *, guid: Any, url: Any, title: Any, body: Any) -> FeedEntryKey:
    """`FeedEntryKey` from an entry's fields (as parsed, before anything is stored)."""

    def digest(*parts: Any) -> str:
        text = "\x1f".join(part if isinstance(part, str) else repr(part) for part in parts)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    return FeedEntryKey(
        feed_url=feed_url, guid_key=digest(guid or url or ""), content_key=digest(title, body, url)
    )


# ---------------------------------------------------------------------------------------
# What the database can store


# NUL (Postgres text refuses it), the other C0 controls but tab and newline, and lone
# surrogates (not encodable as UTF-8: the batch's INSERT failed on them).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f]")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0B, 0x20)])
_SURROGATES = re.compile("[\ud800-\udfff]")
_LOCATION_KEYS = ("path", "entry_link", "feed_url")


def storable_text(text: str, *, keep_cr: bool = False) -> str:
    """`text` with the characters no database column can hold replaced: lone surrogates by
    U+FFFD, NUL and C0 controls other than tab and newline (and CR where `keep_cr`) dropped."""
    if keep_cr and "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Every body goes through here: the two regex scans cost ~30 us per 3 KB, the checks
    # below ~5 us, and the regexes then run only on the rare text that needs them. Strict
    # UTF-8 refuses exactly the lone surrogates, and a byte under 0x20 only ever encodes
    # that C0 character.
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
        encoded = text.encode("utf-8")
    if len(encoded.translate(None, _CONTROL_BYTES)) != len(encoded):
        text = _CONTROLS.sub("", text)
    return text


def storable(raw: RawArticle, settings: Settings) -> RawArticle:
    """`raw` with its text made storable and its fields checked against the limits the
    database needs (NEWS_INGEST_MAX_URL_BYTES and the others in worker/settings.py); raises
    RejectedInput with the reason, before any work is done on it."""
    changes: dict[str, Any] = {}
    for name, limit in (
        ("url", settings.max_url_bytes),
        ("guid", settings.max_guid_bytes),
        ("source", settings.max_source_bytes),
        ("title", settings.max_title_bytes),
        ("published_at", None),  # at most 256 characters (the schema)
    ):
        value = getattr(raw, name)
        if value is None:
            continue
        clean = storable_text(value, keep_cr=name == "title")
        if limit is not None and len(clean.encode()) > limit:
            raise RejectedInput(f"{name} longer than {_setting(name)}={limit} bytes")
        if clean != value:
            changes[name] = clean
    if raw.url is not None:
        canonical = canonical_url(changes.get("url", raw.url)) or ""
        if len(canonical.encode()) > settings.max_url_bytes:
            raise RejectedInput(
                f"url longer than NEWS_INGEST_MAX_URL_BYTES={settings.max_url_bytes} bytes "
                "once canonical"
            )
    body = storable_text(raw.body, keep_cr=True)
    if body != raw.body:
        changes["body"] = body
    extra = _storable_extra(raw.extra, settings)
    if extra is not raw.extra:
        changes["extra"] = extra
    for key in _LOCATION_KEYS:
        if extra.get(key) is not None and not isinstance(extra[key], str):
            raise RejectedInput(f"extra.{key} is not a string")
    return raw.model_copy(update=changes) if changes else raw


def _setting(field: str) -> str:
    return f"NEWS_INGEST_MAX_{field.upper()}_BYTES"


def _storable_extra(extra: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`extra` within its limits (items at every level, depth, size as JSON), its strings
    made storable; the same object when nothing needed to change. Iterative: a hostile
    depth cannot exhaust the stack."""
    items = 0
    changed = False
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, int]] = [(extra, root, 1)]
    while stack:
        given, copy, depth = stack.pop()
        if depth > settings.max_extra_depth:
            raise RejectedInput(
                f"extra nested deeper than NEWS_INGEST_MAX_EXTRA_DEPTH={settings.max_extra_depth}"
            )
        pairs = given.items() if isinstance(given, dict) else enumerate(given)
        for key, value in pairs:
            items += 1
            if items > settings.max_extra_items:
                raise _too_many_items(settings)
            if isinstance(key, str):
                clean_key = storable_text(key)
                changed |= clean_key != key
                key = clean_key
            if isinstance(value, str):
                clean = storable_text(value)
                changed |= clean != value
                value = clean
            elif isinstance(value, float) and not math.isfinite(value):
                value, changed = None, True  # not JSON: the part's payload could not hold it
            elif isinstance(value, dict | list):
                if items + len(value) > settings.max_extra_items:
                    raise _too_many_items(settings)  # before the copy is allocated
                child: Any = {} if isinstance(value, dict) else [None] * len(value)
                stack.append((value, child, depth + 1))
                value = child
            copy[key] = value
    size = len(json.dumps(root, ensure_ascii=False).encode())
    if size > settings.max_extra_bytes:
        raise RejectedInput(
            f"extra of {size} bytes as JSON exceeds "
            f"NEWS_INGEST_MAX_EXTRA_BYTES={settings.max_extra_bytes}"
        )
    return root if changed else extra


def _too_many_items(settings: Settings) -> RejectedInput:
    return RejectedInput(
        f"extra holds more than NEWS_INGEST_MAX_EXTRA_ITEMS={settings.max_extra_items} "
        "keys and items"
    )


def _blob(document: Any) -> bytes:
    """A refused document as kept in `rejects.raw`: its repr, made storable, cut at 1 MiB."""
    return storable_text(repr(document)[: 1024 * 1024]).encode("utf-8", "replace")[: 1024 * 1024]
