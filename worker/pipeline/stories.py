"""Whether two near copies tell the same story: the agreement of their specific content.

Word shingles say that two texts share their wording. On wire copy that is not enough: a
recurring report (a central bank's weekly statement, a bill auction, a stake filing, a
results table, a match result) is written from one template, and two issues of it share
most of their shingles while their figures, dates and names differ. They are different
stories. A resent copy (a corrected figure, the dateline a day later, a typo fixed, a
paragraph added) is the same story.

So a pair that the shingle rules call near is aligned word by word (`difflib`, on the
paragraphs the fingerprint compares), and its specific tokens are counted: numbers (amounts,
percentages, days, scores) and names (capitalised words, tickers). A specific token in a
span both texts hold word for word *agrees*; a span that one text replaces with another (the
slot of a template) *differs* when each side holds a specific token the other lacks, once
per distinct replacement and per figure in it (a figure added or dropped, or a sentence rewritten around the
same facts, does not differ). Text that only one side has (a paragraph added, a lead-only copy, an update)
neither agrees nor differs: it says nothing about whether the common part is one story.

Two texts are the same story when at most `max_differing(agreed + differed)` replacements
differ: one (a corrected figure) plus one per `SPECIFIC_PER_EXTRA_DIFFERENCE` specific
tokens, and one day moved in a date (a dateline resent the next day) is free. An issue of a
templated report changes several slots at once; a resend changes one.

Pure: no database, no I/O. `services.ingest` asks `specific_agreement` of each near pair
and of the story's first article (the story's identity: an article joins a story only if
it agrees with how the story started, not just with one member, so that one changed slot
at a time cannot chain a story across a series of reports).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from worker.pipeline.normalize import story_paragraphs

# A number (with its decimal point, thousands separators, fraction or range: "4.262",
# "1,500", "6-3/16", "2-1") or a word.
_TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)*|[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_SENTENCE_BREAK = re.compile(r"[.!?:;]")
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_FORMS = {
    **{name: number for number, name in enumerate(MONTHS, 1)},
    **{name[:3]: number for number, name in enumerate(MONTHS, 1)},
    "sept": 9,
}
# Capitalised words that name no one: weekdays (a resend a day later says "Tuesday" for
# "today"), titles, corporate suffixes, and the pronoun. Months are specific: dates.
_NOT_NAMES = frozenset(
    [
        *["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
        *["i", "mr", "mrs", "ms", "dr", "sir", "inc", "corp", "co", "ltd", "plc", "llc", "the"],
    ]
)
# A longer replaced span (the aligner pairing a name both texts have, "Jacobs", across two
# slots) is known by the specific tokens that differ in it, not by its words.
# Longer still, it is rewritten or spliced text (a sentence changed, a cut copy's ending
# joined to another sentence), not template slots: it neither agrees nor differs.
MAX_SPAN_WORDS = 12
MAX_SLOT_WORDS = 6
# A dateline opening one of the first paragraphs, more loosely than `normalize`'s (which
# decides what is shingled): "CITY 3 (Wire) - ", "NEW YORK, Aug 14 (Reuters) - ". Its date
# is the day it was sent, which a resend moves; the story's own dates are in its text.
_LOOSE_DATELINE = re.compile(
    r"^(?:[A-Z]{2}[^\n]{0,58}?|\([A-Za-z][A-Za-z .]{0,20}\))\s(?:-{1,2}|[–—])\s"
)
# A replaced figure or name is a template's slot only in a sentence whose other words agree
# this much (words outside specific tokens, in the first text).
TEMPLATE_SENTENCE_SHARE = 0.8
# Names this alike (difflib's ratio) are one name spelled two ways.
RESPELLED_RATIO = 0.8
# One more differing slot is tolerated per this many specific tokens compared.
SPECIFIC_PER_EXTRA_DIFFERENCE = 20
# Alignment cost grows with length: texts are compared on at most this many tokens.
MAX_TOKENS = 4000


@dataclass(frozen=True, slots=True)
class SpecificText:
    """A text as the specific-content comparison reads it: its words in order (folded to
    lower case) and which of them are specific (numbers and names)."""

    words: tuple[str, ...]
    specific: frozenset[int]
    sentences: tuple[int, ...]  # the number of the sentence each word is in


@dataclass(frozen=True, slots=True)
class Agreement:
    """How much of two texts' specific content agrees: tokens in common passages (`agreed`),
    distinct replaced slots holding a specific token (`differed`), and dates moved by a day
    (`moved_days`, the first of which is free)."""

    agreed: int
    differed: int
    moved_days: int = 0

    @property
    def counted(self) -> int:
        """Differing slots that count: a date moved by a day once is a resend's dateline."""
        return self.differed + max(0, self.moved_days - 1)

    @property
    def share(self) -> float:
        """The agreeing share of the specific tokens compared (1.0 with none)."""
        total = self.agreed + self.counted
        return round(self.agreed / total, 4) if total else 1.0

    def same_story(self, *, slack: int = 0) -> bool:
        """At most one differing slot, plus one per `SPECIFIC_PER_EXTRA_DIFFERENCE` specific
        tokens compared, plus `slack` (`STORY_IDENTITY_SLACK` against a story's first
        article)."""
        return self.counted <= max_differing(self.agreed + self.counted) + slack


# Against a story's first article, one more slot may differ: two resends of one report that
# each correct a different figure differ from each other by two, from the first by one each.
# A chain of one-slot changes drifts away from the first article after two steps.
STORY_IDENTITY_SLACK = 1


def max_differing(specific_tokens: int) -> int:
    """How many slots may differ between two copies of one story with this many specific
    tokens compared: one corrected figure, and one more per `SPECIFIC_PER_EXTRA_DIFFERENCE`."""
    return 1 + specific_tokens // SPECIFIC_PER_EXTRA_DIFFERENCE


def specific_text(body: str) -> SpecificText:
    """`SpecificText` of a normalized body, on the paragraphs near-copy comparison uses
    (`normalize.story_paragraphs`). A capitalised word is a name unless it opens a sentence
    and the text never capitalises it elsewhere, or it is a calendar word or title; in a
    paragraph written in capitals (a headline) only numbers are specific."""
    words: list[str] = []
    sentences: list[int] = []
    sentence = -1
    candidates: list[tuple[int, bool]] = []  # (index, opens a sentence) of capitalised words
    numbers: set[int] = set()
    inner_capitals: set[str] = set()
    for number, paragraph in enumerate(story_paragraphs(body)):
        if number < 2:
            paragraph = _LOOSE_DATELINE.sub("", paragraph, count=1)
        letters = [ch for ch in paragraph if ch.isalpha()]
        shouting = sum(ch.isupper() for ch in letters) > 0.6 * len(letters)
        end = 0
        for match in _TOKEN.finditer(paragraph):
            opens = end == 0 or bool(_SENTENCE_BREAK.search(paragraph, end, match.start()))
            end = match.end()
            token = match.group(0)
            if opens and (not shouting or not words):
                sentence += 1
            sentences.append(sentence)
            if token[0].isdigit():
                numbers.add(len(words))
                words.append(token.replace(",", ""))
                continue
            folded = unicodedata.normalize("NFKC", token).casefold().replace("\u2019", "'")
            if token[0].isupper() and not shouting and folded not in _NOT_NAMES:
                candidates.append((len(words), opens))
                if not opens:
                    inner_capitals.add(folded)
            words.append(folded)
            if len(words) >= MAX_TOKENS:
                break
        if len(words) >= MAX_TOKENS:
            break
    names = {index for index, opens in candidates if not opens or words[index] in inner_capitals}
    return SpecificText(
        words=tuple(words), specific=frozenset(numbers | names), sentences=tuple(sentences)
    )


def specific_agreement(a: SpecificText, b: SpecificText) -> Agreement:
    """Align two texts word by word and count their agreeing and differing specific content
    (see the module's docstring)."""
    opcodes = SequenceMatcher(None, a.words, b.words, autojunk=False).get_opcodes()
    templated = _templated_sentences(a, opcodes)
    agreed = 0
    slots: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}  # slot -> its weight
    moved = 0
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            agreed += sum(1 for i in range(i1, i2) if i in a.specific)
        elif tag == "replace" and a.sentences[i1] in templated:
            old = {a.words[i] for i in range(i1, i2) if i in a.specific}
            new = {b.words[j] for j in range(j1, j2) if j in b.specific}
            agreed += len(old & new)
            if not (old - new and new - old):
                continue  # a fact added or dropped, or text rewritten around the same facts
            if max(i2 - i1, j2 - j1) > MAX_SPAN_WORDS or _respelled(old - new, new - old):
                continue
            slot = (a.words[i1:i2], b.words[j1:j2])
            if max(i2 - i1, j2 - j1) > MAX_SLOT_WORDS:  # named by what differs in it
                slot = (tuple(sorted(old - new)), tuple(sorted(new - old)))
            if slot in slots:
                continue
            if _moved_a_day(a.words, i1, tuple(sorted(old - new)), tuple(sorted(new - old))):
                moved += 1
                slots[slot] = 0
                continue
            # Each figure is a fact: a slot of several figures ("2 3 5 8 14 20", a table
            # row) differs once per figure; a name of several words is one name.
            slots[slot] = max(
                1,
                sum(1 for word in old - new if word[0].isdigit()),
                sum(1 for word in new - old if word[0].isdigit()),
            )
    return Agreement(agreed=agreed, differed=sum(slots.values()), moved_days=moved)


def _templated_sentences(
    a: SpecificText, opcodes: Sequence[tuple[str, int, int, int, int]]
) -> set[int]:
    """The sentences of `a` whose other words the other text has word for word (at least
    `TEMPLATE_SENTENCE_SHARE` of them): where a replaced figure or name is the slot of one
    template. In a sentence rewritten or swapped for another, what replaced it says nothing
    of whether the facts of the story changed."""
    words: dict[int, int] = {}
    kept: dict[int, int] = {}
    for tag, i1, i2, _, _ in opcodes:
        for i in range(i1, i2):
            if i not in a.specific:
                sentence = a.sentences[i]
                words[sentence] = words.get(sentence, 0) + 1
                if tag == "equal":
                    kept[sentence] = kept.get(sentence, 0) + 1
    return {
        sentence
        for sentence in set(a.sentences)
        if kept.get(sentence, 0) >= TEMPLATE_SENTENCE_SHARE * words.get(sentence, 0)
    }


def _respelled(old: set[str], new: set[str]) -> bool:
    """Whether a slot only spells names differently: each name on either side is within
    a letter or two of one on the other ("Ilawarra" / "Illawarra"; a typo fixed). Figures
    are never respelled: "100" / "109" is a corrected figure."""
    if any(not word.isalpha() for word in old | new):
        return False
    return all(
        any(SequenceMatcher(None, word, other).ratio() >= RESPELLED_RATIO for other in theirs)
        for mine, theirs in ((old, new), (new, old))
        for word in mine
    )


def _moved_a_day(
    words: tuple[str, ...], start: int, old: tuple[str, ...], new: tuple[str, ...]
) -> bool:
    """Whether a replaced slot is a date moved by one day: "April 6" -> "April 7" (the month
    before the slot, or in it), or "April 30" -> "May 1"."""
    before = words[start - 1] if start else ""
    dates = []
    for span in (old, new):
        months = [word for word in span if word in _MONTH_FORMS] or [before]
        days = [word for word in span if word.isdigit()]
        if len(months) != 1 or len(days) != 1 or months[0] not in _MONTH_FORMS:
            return False
        dates.append((_MONTH_FORMS[months[0]], int(days[0])))
    (month_a, day_a), (month_b, day_b) = dates
    if month_a == month_b:
        return abs(day_a - day_b) == 1
    forward = (month_b - month_a) % 12 == 1 and day_a >= 28 and day_b == 1
    backward = (month_a - month_b) % 12 == 1 and day_b >= 28 and day_a == 1
    return forward or backward


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """A story a new article is a near copy of: the story's closest candidate, its measured
    score, the best Jaccard with any of the story's candidates, and the specific-content
    agreement with the closest."""

    story_id: int
    article_id: int
    score: float
    jaccard: float
    agreement: Agreement


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Where a new article goes: its story, the article it duplicates (None for a new story),
    the scores that decided it, and the stories it proved to be this one (merged into
    `story_id`)."""

    story_id: int
    duplicate_of: int | None = None
    similarity: float | None = None
    agreement: Agreement | None = None
    merged: tuple[int, ...] = ()


def decide_story(
    article_id: int, matches: Sequence[StoryMatch], bridges: Sequence[bool]
) -> StoryDecision:
    """The decision for a new article from its `matches` (best first) and, for each match
    after the first, whether the article proves that story one with the first (`bridges`):
    the lowest id of the stories proved one names the story."""
    if not matches:
        return StoryDecision(story_id=article_id)
    best = matches[0]
    joined = sorted(
        {best.story_id}
        | {match.story_id for match, bridge in zip(matches[1:], bridges, strict=True) if bridge}
    )
    return StoryDecision(
        story_id=joined[0],
        duplicate_of=joined[0],
        similarity=best.score,
        agreement=best.agreement,
        merged=tuple(joined[1:]),
    )
