"""Near-duplicate candidates of new articles and the exact checks that make them stories.

`Candidates` holds the stored articles a batch's texts reach (through shared LSH band keys,
an identical paragraph, or membership of a reached story), plus the articles the batch adds,
and measures each new text against them (`matches`): estimated on MinHash signatures,
verified exactly on shingles (`dedup.Similarity.is_near`), then on specific content
(`stories.specific_agreement`, with the candidate and with the story's first article). It
reads through a `CandidateReader` (`worker.storage.index.CandidateStore` on a connection), in
bulk, in `refresh`; everything else is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Protocol

import numpy as np

from worker.pipeline import dedup, stories
from worker.pipeline.normalize import fingerprint_paragraphs, looks_like_notice
from worker.settings import Settings


def sketch_body(
    body: str, settings: Settings
) -> tuple[list[tuple[int, str]], np.ndarray, dedup.Sketch]:
    """The compared paragraphs (hash, fingerprint) of a normalized body, and the shingles
    and sketch of their text with the configured shingling and banding (ingest and
    `renormalize` must agree on them)."""
    texts = fingerprint_paragraphs(body)
    shingles, sketch = dedup.sketch_text(
        " ".join(texts),
        size=settings.shingle_words,
        perms=settings.minhash_perms,
        bands=settings.lsh_bands,
        rows=settings.lsh_rows,
        lead_shingles=settings.lead_shingles,
        lead_bands=settings.lead_bands,
    )
    return dedup.paragraph_fingerprints(texts), shingles, sketch


@dataclass(slots=True)
class ParagraphStories:
    """The distinct stories a paragraph was seen in, counted up to three, each by the first
    article of that story that had the paragraph (a candidate for later copies)."""

    article_id: int
    story_id: int
    other_article_id: int | None = None  # the first article of a second story with it
    other_story_id: int | None = None
    shared: bool = False  # seen in three or more stories

    @property
    def count(self) -> int:
        if self.shared:
            return 3
        return 1 if self.other_story_id in (None, self.story_id) else 2

    @property
    def article_ids(self) -> tuple[int, ...]:
        return (
            (self.article_id,)
            if self.other_article_id is None
            else (self.article_id, self.other_article_id)
        )

    def add(self, article_id: int, story_id: int) -> bool:
        """Count one more article's story; True if that changed anything."""
        if self.shared or story_id == self.story_id or story_id == self.other_story_id:
            return False
        if self.count == 1:  # no second story yet, or it was merged into the first
            self.other_article_id, self.other_story_id = article_id, story_id
        else:
            self.shared = True
        return True

    def merge_story(self, story_id: int, *, into: int) -> None:
        if self.story_id == story_id:
            self.story_id = into
        if self.other_story_id == story_id:
            self.other_story_id = into


@dataclass(slots=True)
class StoryText:
    """A new article's text as near-duplicate detection uses it: sketched only when the
    article is not an exact copy of a stored one (a re-run of known files skips the
    shingling and MinHash)."""

    body: str
    shingles: np.ndarray = field(default_factory=lambda: dedup.EMPTY_SHINGLES)
    sketch: dedup.Sketch = dedup.EMPTY_SKETCH
    paragraphs: list[tuple[int, str]] = field(default_factory=list)
    # The shingles compared with candidates: the text without paragraphs that are shared
    # by several stories (footers, disclaimers). The sketch keeps the whole text.
    compare_shingles: np.ndarray = field(default_factory=lambda: dedup.EMPTY_SHINGLES)
    estimates: dict[int, float] = field(default_factory=dict)  # candidate -> signature estimate
    sketched: bool = False
    shared_seen: int = 0  # how much of `Candidates.shared_log` compare_shingles reflects
    specifics: stories.SpecificText | None = None  # made when a near candidate is found

    def specific_text(self) -> stories.SpecificText:
        if self.specifics is None:
            self.specifics = stories.specific_text(self.body)
        return self.specifics

    def sketch_once(self, settings: Settings) -> None:
        """Shingle and sketch the text (once)."""
        if not self.sketched:
            self.paragraphs, self.shingles, self.sketch = sketch_body(self.body, settings)
            self.compare_shingles = self.shingles
            self.shared_seen = 0
            self.sketched = True


class CandidateReader(Protocol):
    """The stored side of near-duplicate detection, read in bulk."""

    def band_owners(self, band_keys: list[int]) -> dict[int, int]:
        """band key -> the article that has it, for the keys already indexed."""
        ...

    def sketches(self, article_ids: set[int]) -> dict[int, tuple[int, bytes, int]]:
        """article id -> (story id, MinHash signature, shingle count)."""
        ...

    def story_sketches(
        self, story_ids: set[int], *, per_story: int
    ) -> dict[int, tuple[int, bytes, int]]:
        """`sketches` of the latest `per_story` members of each story."""
        ...

    def bodies(self, article_ids: set[int]) -> dict[int, str]:
        """Normalized bodies."""
        ...

    def paragraph_stories(self, paragraph_hashes: list[int]) -> dict[int, ParagraphStories]:
        """paragraph hash -> the stories it was seen in, for the known hashes."""
        ...


@dataclass(slots=True)
class Candidate:
    story_id: int
    signature: np.ndarray | None  # dedup.signature_values
    shingle_count: int
    shingles: np.ndarray | None  # loaded only for candidates that pass the signature filter
    paragraphs: list[tuple[int, str]] | None = None  # what `shingles` were made from
    shared_seen: int = 0  # as `StoryText.shared_seen`


class Candidates:
    """Near-duplicate candidates: indexed articles reached through shared band keys or an
    identical paragraph, plus the articles this batch adds. All database reads happen in
    `refresh`, in bulk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = dedup.NearRules(
            threshold=settings.near_dup_threshold,
            containment_threshold=settings.near_dup_containment_threshold,
            containment_min_jaccard=settings.containment_min_jaccard,
            edited_containment=settings.edited_copy_containment,
            edited_jaccard=settings.edited_copy_jaccard,
            edited_passages=settings.edited_copy_passages,
            single_passage_min_shingles=settings.single_passage_min_shingles,
            min_containment_shingles=settings.min_containment_shingles,
            short_lead_min_shingles=settings.short_lead_min_shingles,
            short_lead_containment=settings.short_lead_containment,
        )
        self.owners: dict[int, int] = {}  # band key -> article id
        self.articles: dict[int, Candidate] = {}
        self.paragraphs: dict[int, ParagraphStories] = {}  # by paragraph hash
        # Left out of comparisons: paragraphs seen in `common_paragraph_stories` stories,
        # and publisher's notices (`normalize.looks_like_notice`) held by two articles. The
        # log (the same keys, in the order they became shared) tells which compared
        # shingles are stale.
        self.shared: set[int] = set()
        self.shared_log: list[int] = []
        # Text of paragraphs seen after a first paragraph (where notices are), and which of
        # them read as notices: judged only for paragraphs another article holds, which
        # few new paragraphs are.
        self.later_paragraphs: dict[int, str] = {}
        self.notices: dict[int, bool] = {}
        self.added_paragraphs: dict[int, ParagraphStories] = {}  # to record
        self.changed_paragraphs: dict[int, ParagraphStories] = {}
        self.expanded: set[int] = set()  # stories whose members were read
        self.members: dict[int, list[int]] = {}  # story id -> its articles in `articles`
        # Normalized bodies of the candidates compared exactly and of their stories' first
        # articles, and their specific content (`stories.specific_text`), made when needed.
        self.bodies: dict[int, str] = {}
        self.specifics: dict[int, stories.SpecificText] = {}

    @classmethod
    def load(
        cls, reader: CandidateReader, prepared: list[StoryText], settings: Settings
    ) -> Candidates:
        candidates = cls(settings)
        candidates.refresh(reader, prepared)
        return candidates

    def refresh(self, reader: CandidateReader, prepared: list[StoryText]) -> None:
        """Read the band owners and paragraph counts of the batch, and the sketches (and, if
        plausible, the shingles) of candidates not read before. Called before the lock and
        again under it: a band key's owner never changes once set, so the second call reads
        only the keys that were free."""
        for item in prepared:
            self._note_notices(item.paragraphs)
        self._read_paragraphs(reader, [key for item in prepared for key, _ in item.paragraphs])
        self.owners.update(
            reader.band_owners(
                [
                    key
                    for item in prepared
                    for key in item.sketch.band_keys
                    if key not in self.owners
                ],
            )
        )
        reached = set(self.owners.values())
        reached.update(owner for item in prepared for owner in self._paragraph_owners(item))
        self._remember_stored(reader.sketches(reached - self.articles.keys()))
        reached_by = {id(item): self._reached(item) for item in prepared}
        self._estimate_reached(prepared, reached_by)
        plausible = {
            id(item): self._plausible_owners(item, reached_by[id(item)]) for item in prepared
        }
        if self._expand_stories(reader, plausible.values()):
            plausible = {
                id(item): self._plausible_owners(item, reached_by[id(item)]) for item in prepared
            }
        wanted = {
            owner
            for owners in plausible.values()
            for owner, _ in owners
            if self.articles[owner].shingles is None
        }
        # A story's first article is its identity: a near copy joins the story only if its
        # specific content agrees with it too (`_agrees_with_story`).
        wanted |= {
            self.articles[owner].story_id for owners in plausible.values() for owner, _ in owners
        } - self.bodies.keys()
        loaded = reader.bodies(wanted)
        self.bodies.update(loaded)
        bodies = {
            article_id: dedup.paragraph_fingerprints(fingerprint_paragraphs(body))
            for article_id, body in loaded.items()
            if article_id in self.articles and self.articles[article_id].shingles is None
        }
        for paragraphs in bodies.values():
            self._note_notices(paragraphs)
        self._read_paragraphs(
            reader,
            [
                key
                for paragraphs in bodies.values()
                for key, _ in paragraphs
                if key not in self.paragraphs
            ],
        )
        for article_id, paragraphs in bodies.items():
            candidate = self.articles[article_id]
            candidate.paragraphs = paragraphs
            candidate.shingles = self._compare_shingles(paragraphs)
            candidate.shared_seen = len(self.shared_log)

    def _remember_stored(self, sketches: dict[int, tuple[int, bytes, int]]) -> None:
        for article_id, (story_id, signature, count) in sketches.items():
            self._remember(
                article_id,
                Candidate(
                    story_id,
                    dedup.signature_values(signature, self.settings.minhash_perms),
                    count,
                    None,
                ),
            )

    def _read_paragraphs(self, reader: CandidateReader, hashes: list[int]) -> None:
        for key, state in reader.paragraph_stories(hashes).items():
            self.paragraphs[key] = state  # counts only grow: the latest read is the truth
            self._count(key, state)

    def _note_notices(self, paragraphs: list[tuple[int, str]]) -> None:
        """Remember a text's paragraphs that could be a publisher's notice: not its first,
        as notices follow the story."""
        self.later_paragraphs.update(paragraphs[1:])

    def _is_notice(self, key: int) -> bool:
        found = self.notices.get(key)
        if found is None:
            text = self.later_paragraphs.get(key)
            if text is None:  # seen only as a first paragraph, so far
                return False
            found = self.notices[key] = looks_like_notice(text)
        return found

    def _count(self, key: int, state: ParagraphStories) -> None:
        if state.count >= self.settings.common_paragraph_stories or (
            state.count >= 2 and self._is_notice(key)
        ):
            self._share(key)

    def _share(self, key: int) -> None:
        if key not in self.shared:
            self.shared.add(key)
            self.shared_log.append(key)

    def _share_held_notices(self, item: StoryText) -> None:
        """A notice of the item that another article already holds is common from now on:
        two stories with one disclaimer must not look alike for it, even on an empty
        database (where three stories would come too late)."""
        for key, _ in item.paragraphs:
            if key in self.paragraphs and self._is_notice(key):
                self._share(key)

    def _is_stale(self, holder: StoryText | Candidate, paragraphs: list[tuple[int, str]]) -> bool:
        """Whether paragraphs shared since the holder's compared shingles were made are in
        them (and note that they are now up to date with the log)."""
        if holder.shared_seen == len(self.shared_log):
            return False
        since = self.shared_log[holder.shared_seen :]
        holder.shared_seen = len(self.shared_log)
        keys = {key for key, _ in paragraphs}
        return any(key in keys for key in since)

    def _compare_text(self, paragraphs: list[tuple[int, str]]) -> str:
        """A text's paragraphs without the shared ones: what is compared."""
        return " ".join(text for key, text in paragraphs if key not in self.shared)

    def _compare_shingles(self, paragraphs: list[tuple[int, str]]) -> np.ndarray:
        return dedup.shingles(self._compare_text(paragraphs), size=self.settings.shingle_words)

    def _paragraph_owners(self, item: StoryText) -> list[int]:
        """Articles that have one of the item's paragraphs word for word (common ones
        aside). Band keys find a lead-only copy of a long story with probability ~0.8 when
        its Jaccard is ~0.1; an unedited paragraph finds it every time, at no extra index
        rows: the paragraph counts are kept anyway."""
        owners: list[int] = []
        for key, _ in item.paragraphs:
            state = self.paragraphs.get(key)
            if state is not None and key not in self.shared:
                owners.extend(state.article_ids)
        return owners

    def _plausible_owners(
        self, item: StoryText, reached: tuple[list[int], set[int]] | None = None
    ) -> list[tuple[int, float]]:
        """Candidates worth an exact check, with their signature estimates: those sharing a
        paragraph, and band-key owners and story members whose estimate is close enough.
        `reached` is `_reached(item)` if made since the candidates last changed."""
        owners, by_paragraphs = reached or self._reached(item)
        scored = self._scored(item, owners, by_paragraphs)
        if not scored:
            return scored
        ceiling = self.settings.near_dup_threshold + self.settings.estimate_margin
        uncertain = {self.articles[owner].story_id for owner, score in scored if score < ceiling}
        members = [
            member
            for story_id in sorted(uncertain)
            for member in self.members.get(story_id, ())
            if member not in owners
        ]
        return scored + self._scored(item, members, set())

    def _reached(self, item: StoryText) -> tuple[list[int], set[int]]:
        """The known articles an item's band keys and paragraphs lead to, and those of them
        the paragraphs do."""
        by_paragraphs = self._paragraph_owners(item)
        found = dict.fromkeys(by_paragraphs)
        for key in item.sketch.band_keys:
            owner = self.owners.get(key)
            if owner is not None:
                found[owner] = None
        return list(filter(self.articles.__contains__, found)), set(by_paragraphs)

    def _estimate_reached(
        self, prepared: list[StoryText], reached_by: dict[int, tuple[list[int], set[int]]]
    ) -> None:
        """Signature estimates of every item against the articles it reaches, for the whole
        batch in one numpy pass (a pass per item cost more in numpy's overhead than in
        arithmetic); `_scored` then finds them made."""
        # Python touches each pair as little as it can: thousands per batch, most of them
        # articles sharing a stock phrase, estimated far below the floor.
        todo = []
        for item in prepared:
            if item.sketch.signature:
                known = item.estimates
                owners = [owner for owner in reached_by[id(item)][0] if owner not in known]
                if owners:
                    todo.append((item, owners))
        if not todo:
            return
        perms = self.settings.minhash_perms
        distinct = list(dict.fromkeys(chain.from_iterable(owners for _, owners in todo)))
        owner_row = dict(zip(distinct, range(len(distinct)), strict=False))
        candidates = [self.articles[owner] for owner in distinct]
        mine, _ = dedup.stack_signatures(
            [dedup.signature_values(item.sketch.signature, perms) for item, _ in todo], perms
        )
        theirs, valid = dedup.stack_signatures([c.signature for c in candidates], perms)
        sizes = [len(owners) for _, owners in todo]
        scores = dedup.estimated_pair_scores(
            mine,
            np.array([item.sketch.shingle_count for item, _ in todo]),
            np.repeat(np.arange(len(todo), dtype=np.intp), sizes),
            theirs,
            valid,
            np.array([c.shingle_count for c in candidates]),
            np.fromiter(
                map(owner_row.__getitem__, chain.from_iterable(o for _, o in todo)),
                dtype=np.intp,
                count=sum(sizes),
            ),
            min_containment_shingles=self._estimate_min_shingles(),
        ).tolist()
        start = 0
        for (item, owners), size in zip(todo, sizes, strict=True):
            item.estimates.update(zip(owners, scores[start : start + size], strict=True))
            start += size

    def _estimate_min_shingles(self) -> int:
        # containment is estimated for short leads too, which it may decide
        return min(self.settings.min_containment_shingles, self.settings.short_lead_min_shingles)

    def _scored(
        self, item: StoryText, owners: list[int], keep: set[int]
    ) -> list[tuple[int, float]]:
        """(owner, signature estimate) of the owners at or above the filter's floor, and of
        those in `keep`. Estimates are kept on the item: a pair is estimated once."""
        estimates = item.estimates
        missing = [owner for owner in owners if owner not in estimates]
        if missing:
            scores = dedup.estimated_scores(
                item.sketch,
                [self.articles[owner].signature for owner in missing],
                [self.articles[owner].shingle_count for owner in missing],
                min_containment_shingles=self._estimate_min_shingles(),
            )
            item.estimates.update(zip(missing, scores.tolist(), strict=True))
        floor = self.settings.near_dup_threshold - self.settings.estimate_margin
        if not keep and max(map(estimates.__getitem__, owners), default=0.0) < floor:
            return []  # the common case, in C: nothing close
        return [
            (owner, estimates[owner])
            for owner in owners
            if estimates[owner] >= floor or owner in keep
        ]

    def _remember(self, article_id: int, candidate: Candidate) -> None:
        if article_id not in self.articles:
            self.articles[article_id] = candidate
            self.members.setdefault(candidate.story_id, []).append(article_id)

    def _expand_stories(
        self, reader: CandidateReader, plausible: Iterable[list[tuple[int, float]]]
    ) -> bool:
        """The index returns the first article with a band key or paragraph, not every
        copy: when that article is only an uncertain match (a lead-only copy, say), the
        other members of its story are candidates too. One query for the batch; True if
        it read any."""
        ceiling = self.settings.near_dup_threshold + self.settings.estimate_margin
        wanted = {
            self.articles[owner].story_id
            for owners in plausible
            for owner, score in owners
            if score < ceiling
        } - self.expanded
        if not wanted:
            return False
        self.expanded.update(wanted)
        before = len(self.articles)
        self._remember_stored(
            reader.story_sketches(wanted, per_story=self.settings.story_candidates)
        )
        return len(self.articles) > before

    def matches(self, item: StoryText) -> list[stories.StoryMatch]:
        """Every story with a similar enough candidate, best first."""
        self._share_held_notices(item)
        if self._is_stale(item, item.paragraphs):
            item.compare_shingles = self._compare_shingles(item.paragraphs)
        best: dict[int, stories.StoryMatch] = {}
        closest: dict[int, tuple[float, float, int]] = {}
        jaccards: dict[int, float] = {}  # the best Jaccard with any of a story's candidates
        for owner, _ in self._plausible_owners(item):
            candidate = self.articles[owner]
            if candidate.shingles is None:
                continue
            paragraphs = candidate.paragraphs
            if paragraphs is not None and self._is_stale(candidate, paragraphs):
                candidate.shingles = self._compare_shingles(paragraphs)
            similarity = self._measure_order(
                item, candidate, dedup.similarity(item.compare_shingles, candidate.shingles)
            )
            score = round(
                similarity.score(min_containment_shingles=self.settings.min_containment_shingles), 4
            )
            if not similarity.is_near(self.rules):
                continue
            agreement = self._agreement(item, owner) or stories.Agreement(agreed=0, differed=0)
            if not agreement.same_story():
                continue  # one template, other figures or names: another story
            story_id = candidate.story_id
            jaccards[story_id] = max(jaccards.get(story_id, 0.0), similarity.jaccard)
            # The story's closest article: by score, then Jaccard, then the earliest;
            # never by the order candidates were found in.
            closeness = (score, similarity.jaccard, -owner)
            if story_id not in best or closeness > closest[story_id]:
                best[story_id] = stories.StoryMatch(story_id, owner, score, 0.0, agreement)
                closest[story_id] = closeness
        return sorted(
            (
                replace(match, jaccard=jaccards[story_id])
                for story_id, match in best.items()
                if self._agrees_with_story(item, match)
            ),
            key=lambda match: (-match.score, match.story_id),
        )

    def _specific_of(self, article_id: int) -> stories.SpecificText | None:
        found = self.specifics.get(article_id)
        if found is None:
            body = self.bodies.get(article_id)
            if body is None:
                return None
            found = self.specifics[article_id] = stories.specific_text(body)
        return found

    def _agreement(self, item: StoryText, article_id: int) -> stories.Agreement | None:
        """The agreement of the item's specific content with an article's, if its body was
        read."""
        theirs = self._specific_of(article_id)
        if theirs is None:
            return None
        return stories.specific_agreement(item.specific_text(), theirs)

    def _agrees_with_story(self, item: StoryText, match: stories.StoryMatch) -> bool:
        """Whether the item's specific content agrees with the story's first article too (when
        the match is with a later member): a story grows from how it started, not by one
        changed figure at a time through its latest copy."""
        if match.article_id == match.story_id:
            return True
        agreement = self._agreement(item, match.story_id)
        return agreement is None or agreement.same_story(slack=stories.STORY_IDENTITY_SLACK)

    def _measure_order(
        self, item: StoryText, candidate: Candidate, similarity: dedup.Similarity
    ) -> dedup.Similarity:
        """Measure how the shared text lies, when that decides (rarely): in how many
        passages the smaller text is shared, and the longest (`passages`), and whether the
        smaller text is the opening of the longer (`leading`). Where the Jaccard is low, only
        an item shorter than its candidate counts as its opening: a text that opens with the
        lead of another story (quoted or swapped in) would otherwise join that story's
        lead-only copy, and that is the order a story never arrives in first."""
        if candidate.paragraphs is None or candidate.shingles is None:
            return similarity
        item_is_shorter = len(item.compare_shingles) <= len(candidate.shingles)
        if similarity.needs_passages(self.rules):
            smaller, larger = (
                (item.paragraphs, candidate.shingles)
                if item_is_shorter
                else (candidate.paragraphs, item.compare_shingles)
            )
            count, longest = dedup.shared_passages(self._in_order(smaller), larger)
            similarity = replace(similarity, passages=count, longest_passage=longest)
        if similarity.needs_leading(self.rules):
            if item_is_shorter:
                similarity = replace(
                    similarity,
                    leading=dedup.leading_containment(
                        item.compare_shingles, self._in_order(candidate.paragraphs)
                    ),
                )
            elif similarity.jaccard >= self.rules.containment_min_jaccard:
                # texts of comparable size: either may open the other
                similarity = replace(
                    similarity,
                    leading=dedup.leading_containment(
                        candidate.shingles, self._in_order(item.paragraphs)
                    ),
                )
        return similarity

    def _in_order(self, paragraphs: list[tuple[int, str]]) -> np.ndarray:
        """The compared shingles of a text, in text order."""
        return dedup.shingles_in_order(
            self._compare_text(paragraphs), size=self.settings.shingle_words
        )

    def same_story(
        self, item: StoryText, first: stories.StoryMatch, other: stories.StoryMatch
    ) -> bool:
        """Whether a text close to two stories proves them one. Below `story_merge_jaccard`
        with the other story's article, it must hold a good part of that article
        (`story_bridge_share`; a lead quoted in a long article is contained in it, and no
        more), and the parts of it the two stories hold must overlap: a round-up quoting
        the leads of several stories shares a disjoint part of itself with each."""
        if other.jaccard >= self.settings.story_merge_jaccard:
            return True
        mine = self.articles[first.article_id].shingles
        theirs = self.articles[other.article_id].shingles
        if mine is None or theirs is None or not len(mine) or not len(theirs):
            return False
        with_mine = dedup.common(item.compare_shingles, mine)
        with_theirs = dedup.common(item.compare_shingles, theirs)
        if len(with_theirs) < self.settings.story_bridge_share * len(theirs):
            return False
        overlap = dedup.common_count(with_mine, with_theirs)
        return overlap >= self.settings.story_bridge_share * min(len(with_mine), len(with_theirs))

    def decide_story(self, item: StoryText, article_id: int) -> stories.StoryDecision:
        """The story of a new article (`stories.decide_story` over its matches); the stories
        the decision folds together are merged here too."""
        matches = self.matches(item)
        story = stories.decide_story(
            article_id,
            matches,
            [self.same_story(item, matches[0], other) for other in matches[1:]],
        )
        for other in story.merged:
            self.merge_story(other, into=story.story_id)
        return story

    def merge_story(self, story_id: int, *, into: int) -> None:
        for candidate in self.articles.values():
            if candidate.story_id == story_id:
                candidate.story_id = into
        self.members.setdefault(into, []).extend(self.members.pop(story_id, ()))
        if story_id in self.expanded:
            self.expanded.discard(into)  # the merged story's stored members are not all read
        for state in self.paragraphs.values():
            state.merge_story(story_id, into=into)

    def add(self, item: StoryText, article_id: int, story_id: int) -> dict[int, int]:
        """Make a new article a candidate for the rest of the batch; returns the band keys
        it is the first to have (to be indexed)."""
        self.bodies[article_id] = item.body
        if item.specifics is not None:
            self.specifics[article_id] = item.specifics
        self._remember(
            article_id,
            Candidate(
                story_id,
                dedup.signature_values(item.sketch.signature, self.settings.minhash_perms),
                item.sketch.shingle_count,
                item.compare_shingles,
                item.paragraphs,
                item.shared_seen,
            ),
        )
        for key, _ in item.paragraphs:
            state = self.paragraphs.get(key)
            if state is None:
                self.paragraphs[key] = self.added_paragraphs[key] = ParagraphStories(
                    article_id, story_id
                )
            elif state.add(article_id, story_id):
                if key not in self.added_paragraphs:
                    self.changed_paragraphs[key] = state
                self._count(key, state)
        new_keys = {key: article_id for key in item.sketch.band_keys if key not in self.owners}
        self.owners.update(new_keys)
        return new_keys
