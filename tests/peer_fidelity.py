"""Agreement with established feed parsers: do we read an entry's title, link, date and
body as they do?

Two sets of expected items: `tests/peer_cases.py` (feeds of our own, written from the
cases of gofeed, Miniflux, lemon24/reader and ROME, with what those parsers give), and the
`Expect:` lines of feedparser's own test feeds (from its sdist, see tests/feed_corpus.py)
that are about an entry's title, link, dates or body.

A field agrees when our value equals theirs after the comparisons below; a difference that
is one of our documented conventions (README, "How feed entries are read") is counted
apart and left out of the agreement figure. A crash is any exception out of parse_feed.

    .venv/bin/python -m tests.peer_fidelity [--show-differences]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from schemas.articles import RawArticle
from worker.errors import RejectedInput
from worker.pipeline.normalize import canonical_url, normalize_article
from worker.sources.feed_parser import parse_feed

FIELDS = ("title", "link", "date", "body")
EMPTY_ENTRY = "an entry with neither a title nor any text is skipped: nothing to store"
RICHEST = "the body is the longest of content and summary"
TEXT_TITLE = "titles are plain text: markup and entities in an HTML title become text"
_UNSET: Any = object()
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Expected:
    """What a peer gives for one entry; a field left unset is not checked."""

    title: str | None = _UNSET
    link: str | None = _UNSET
    date: str | None = _UNSET  # ISO 8601 with an offset, or None for "no date"
    body: str | None = _UNSET  # HTML or text; compared as text


@dataclass(frozen=True)
class PeerCase:
    suite: str  # gofeed | miniflux | reader | rome | feedparser
    name: str
    document: bytes
    entries: list[Expected]
    feed_url: str = "https://example.org/feed.xml"
    content_type: str | None = None
    # field -> the documented convention that makes ours differ on purpose
    conventions: dict[str, str] = field(default_factory=dict)


@dataclass
class Tally:
    agree: int = 0
    differ: int = 0
    convention: int = 0

    @property
    def checked(self) -> int:
        return self.agree + self.differ

    @property
    def rate(self) -> float:
        return self.agree / self.checked if self.checked else 1.0


@dataclass
class Score:
    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    fields: dict[str, Tally] = field(default_factory=lambda: {f: Tally() for f in FIELDS})
    differences: list[str] = field(default_factory=list)
    conventions: Counter[str] = field(default_factory=Counter)


def score(cases: Iterable[PeerCase]) -> dict[str, Score]:
    """Per suite (and "all"): field tallies, crashes and the differences found."""
    scores: dict[str, Score] = {}
    for case in cases:
        for key in (case.suite, "all"):
            scores.setdefault(key, Score())
        _score_case(case, [scores[case.suite], scores["all"]])
    return scores


def _score_case(case: PeerCase, scores: list[Score]) -> None:
    for s in scores:
        s.cases += 1
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    try:
        parsed = parse_feed(case.document, feed_url=case.feed_url, headers=headers)
        ours = [_our_values(raw) for raw in parsed.entries]
    except Exception as exc:  # a crash is what is being counted
        for s in scores:
            s.crashes.append(f"{case.suite}/{case.name}: {type(exc).__name__}: {exc}")
        return
    skipped = [w for w in parsed.warnings if "skipped: no title and no content" in w]
    for position, expected in enumerate(case.entries):
        mine = ours[position] if position < len(ours) else None
        for name in FIELDS:
            theirs = getattr(expected, name)
            if theirs is _UNSET:
                continue
            outcome, shown = _compare(name, theirs, mine)
            why = case.conventions.get(name)
            if outcome == "convention":
                outcome, why = "differ", shown
            if mine is None and skipped:
                why = EMPTY_ENTRY
            if outcome == "differ" and why:
                outcome = "convention"
                for s in scores:
                    s.conventions[why] += 1
            for s in scores:
                tally = s.fields[name]
                setattr(tally, outcome, getattr(tally, outcome) + 1)
                if outcome == "differ":
                    s.differences.append(f"{case.suite}/{case.name}[{position}] {name}: {shown}")


def _our_values(raw: RawArticle) -> dict[str, Any]:
    try:
        normalized = normalize_article(raw)
    except RejectedInput:
        normalized = None
    title = None
    if raw.title:
        title = (
            normalized.title
            if normalized is not None
            else _text(RawArticle(body=raw.title, content_type="text/html"))
        )
    return {
        "title": title,
        "link": raw.url,
        "canonical": normalized.url if normalized is not None else canonical_url(raw.url),
        "date": _utc(raw.published_at),
        "body": _collapse(normalized.body) if normalized is not None else "",
    }


def _compare(name: str, theirs: Any, mine: dict[str, Any] | None) -> tuple[str, str]:
    if mine is None:
        return "differ", f"entry missing (theirs {theirs!r})"
    if name == "title":
        want, got = (_collapse(theirs) or None) if theirs else None, mine["title"]
        if (
            want != got
            and theirs
            and _text(RawArticle(body=theirs, content_type="text/html")) == got
        ):
            return "convention", TEXT_TITLE
    elif name == "link":
        want, got = theirs or None, mine["link"]
        if want and got and want != got and canonical_url(want) == mine["canonical"]:
            got = want  # equal once canonicalized: a URL convention of ours, not a difference
    elif name == "date":
        want, got = _utc(theirs), mine["date"]
    else:
        want = _text(RawArticle(body=theirs, content_type="text/html")) if theirs else ""
        got = mine["body"]
    if want == got:
        return "agree", ""
    return "differ", f"theirs {_short(want)!r} ours {_short(got)!r}"


def _text(raw: RawArticle) -> str:
    try:
        return _collapse(normalize_article(raw).body)
    except RejectedInput:
        return ""


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _short(value: Any) -> Any:
    return value[:120] if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------
# feedparser's own test feeds: their `Expect:` lines about entries[0]

_EXPECT = re.compile(r"^Expect:\s*(.+?)\s*$", re.MULTILINE)
_CLAUSE = re.compile(
    r"entries\[0\]\[(?P<key>'(?:title|link|description|summary|published_parsed|"
    r"updated_parsed|created_parsed)'|'content'\]\[0\]\['value')\]\s*==\s*(?P<value>.+)$"
)
_DOCUMENT_ROOT = "http://127.0.0.1:8097/tests/"


def feedparser_cases() -> Iterator[PeerCase]:
    """Cases from feedparser's test feeds (downloaded once, see tests/feed_corpus.py)."""
    from tests.feed_corpus import load_corpus

    for item in load_corpus():
        match = _EXPECT.search(item.content[:4096].decode("utf-8", "replace"))
        if match is None:
            continue
        expected = _expectation(match.group(1))
        if expected is None:
            continue
        docuri = _DOCUMENT_ROOT + item.name
        location = item.headers.get("content-location")
        feed_url = urljoin(docuri, location) if location else docuri
        if not feed_url.startswith(("http://", "https://")):
            feed_url = docuri
        yield PeerCase(
            suite="feedparser",
            name=item.name,
            document=item.content,
            entries=[expected],
            feed_url=feed_url,
            content_type=item.headers.get("content-type"),
            conventions=_FEEDPARSER_CONVENTIONS.get(item.name, {}),
        )


def _expectation(expression: str) -> Expected | None:
    clause = expression.removeprefix("not bozo and ").removeprefix("bozo and ").strip()
    match = _CLAUSE.fullmatch(clause)
    if match is None:
        return None
    try:
        value = ast.literal_eval(match.group("value"))
    except (ValueError, SyntaxError):
        return None
    key = match.group("key").strip("'")
    if key in ("title", "link"):
        return Expected(**{key: value}) if isinstance(value, str) else None
    if key.endswith("_parsed"):
        if not isinstance(value, tuple) or len(value) < 6:
            return None
        if key != "published_parsed":
            return None  # we take the publication date first; checked where it is the only one
        return Expected(date=datetime(*value[:6], tzinfo=UTC).isoformat())
    return Expected(body=value) if isinstance(value, str) else None


# feedparser files whose expectation differs from ours by a documented convention.
_FEEDPARSER_CONVENTIONS: dict[str, dict[str, str]] = {
    "wellformed/atom10/entry_content_and_summary.xml": {"body": RICHEST},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show-differences", action="store_true")
    parser.add_argument("--no-feedparser", action="store_true", help="Only tests/peer_cases.")
    args = parser.parse_args(argv)
    from tests.peer_cases import PEER_CASES

    cases: list[PeerCase] = list(PEER_CASES)
    if not args.no_feedparser:
        cases += list(feedparser_cases())
    scores = score(cases)
    print(f"{'suite':<11} {'cases':>5} {'crashes':>7}  " + "  ".join(f"{f:>18}" for f in FIELDS))
    for suite in sorted(scores, key=lambda s: (s == "all", s)):
        s = scores[suite]
        cells = [
            f"{t.rate:7.1%} ({t.agree}/{t.checked})".rjust(18) if t.checked else f"{'-':>18}"
            for t in s.fields.values()
        ]
        print(f"{suite:<11} {s.cases:>5} {len(s.crashes):>7}  " + "  ".join(cells))
    total = scores.get("all", Score())
    if total.conventions:
        print("\ndifferences that are documented conventions:")
        for why, n in total.conventions.most_common():
            print(f"  {n:4}  {why}")
    if args.show_differences:
        print("\ndifferences:")
        for line in total.differences:
            print("  " + line)
    for crash in total.crashes:
        print("CRASH " + crash)
    return 0


if __name__ == "__main__":
    # Run through the importable module, so tests.peer_cases and this share one _UNSET.
    from tests.peer_fidelity import main as _main

    sys.exit(_main())
