"""Exact identity of an article: the keys that make two arrivals the same article.

An arrival is a copy of a known article when it has the same (source, guid), the same
canonical URL, or the same SHA-256 of the normalized body, tried in that order: a guid or a
URL names an article whose text may have changed (an update), the hash finds the same text
under another name. Pure: the stored side comes in as rows (`StoredRow`), read by the
storage layer; `KnownArticles` then answers for the whole batch, including the articles the
batch itself adds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol


def content_hash(body: str) -> str:
    """SHA-256 of the normalized body: equal for exact copies, whatever their source."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Identity:
    """What an arrival is known by."""

    content_hash: str
    url: str | None
    source_id: int | None
    guid: str | None


@dataclass(frozen=True, slots=True)
class KnownArticle:
    """A stored (or batch-added) article an arrival may be a copy of."""

    article_id: int
    story_id: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class ExactCopy:
    """The exact-identity decision for an arrival that is a known article: sighted as
    `article_id`; `replaces` is the stored text's hash when the arrival brings new text
    under the article's URL or guid (an update: its text is replaced, the earlier kept)."""

    article_id: int
    story_id: int
    replaces: str | None = None


class StoredRow(Protocol):
    """The identity columns of a stored article (`storage.articles.StoredIdentity`)."""

    @property
    def id(self) -> int: ...
    @property
    def story_id(self) -> int: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def source_id(self) -> int | None: ...
    @property
    def guid(self) -> str | None: ...


class KnownArticles:
    """Exact-identity lookups over stored articles plus the ones this batch adds."""

    def __init__(self, rows: Iterable[StoredRow] = ()) -> None:
        self.by_hash: dict[str, KnownArticle] = {}
        self.by_url: dict[str, KnownArticle] = {}
        self.by_guid: dict[tuple[int, str], KnownArticle] = {}
        for row in rows:
            self.add(
                KnownArticle(row.id, row.story_id, row.content_hash),
                Identity(row.content_hash, row.url, row.source_id, row.guid),
            )

    def match(self, identity: Identity) -> KnownArticle | None:
        """The known article an arrival is a copy of: by (source, guid), URL, then hash."""
        if identity.guid and identity.source_id is not None:
            found = self.by_guid.get((identity.source_id, identity.guid))
            if found:
                return found
        if identity.url and identity.url in self.by_url:
            return self.by_url[identity.url]
        return self.by_hash.get(identity.content_hash)

    def copy_of(self, identity: Identity) -> ExactCopy | None:
        """Decide whether an arrival is a known article, and whether it updates it: new text
        under a known URL or guid is an update, unless another article has that text, whose
        copy the arrival then is. None: a new article (or a near copy: stories decide)."""
        match = self.match(identity)
        if match is None:
            return None
        if match.content_hash == identity.content_hash:
            return ExactCopy(match.article_id, match.story_id)
        owner = self.hash_owner(identity.content_hash)
        if owner is not None:
            return ExactCopy(owner, match.story_id)
        return ExactCopy(match.article_id, match.story_id, replaces=match.content_hash)

    def hash_owner(self, content_hash: str) -> int | None:
        """The article that has this exact text, if any."""
        found = self.by_hash.get(content_hash)
        return found.article_id if found else None

    def add(self, article: KnownArticle, identity: Identity) -> None:
        """Know an article by every key it has."""
        self.by_hash[identity.content_hash] = article
        if identity.url:
            self.by_url[identity.url] = article
        if identity.guid and identity.source_id is not None:
            self.by_guid[(identity.source_id, identity.guid)] = article

    def rehash(self, article_id: int, old_hash: str, new_hash: str) -> None:
        """An article's text was replaced (an update under the same URL or guid)."""
        old = self.by_hash.pop(old_hash, None)
        if old is None:
            return
        entry = replace(old, content_hash=new_hash)
        self.by_hash[new_hash] = entry
        for url, known in list(self.by_url.items()):
            if known.article_id == article_id:
                self.by_url[url] = entry
        for key, known in list(self.by_guid.items()):
            if known.article_id == article_id:
                self.by_guid[key] = entry
