"""Generate a labelled near-duplicate set of seed files, like ../shared/eval/neardup-dev.

    python bench/make_neardup.py OUTDIR [--stories N] [--seed S] [--corpus lee|wiki|mixed|lee50]
                                        [--profile normal|hard|dev] [--order shuffled|grouped]

Writes OUTDIR/seeds/NNNN_<16 hex>.txt (` date YYYY-MM-DD <body>`, blank-line paragraphs) and
OUTDIR/truth.json: {"files": {name: story}, "kind": {name: edit kinds}, "parent": {...},
"meta": {...}}, which ../shared/eval/score.py and bench/neardup_score.py read.

Texts come only from the gensim wheel on PyPI (gensim/test/test_data), fetched once into
~/.cache/news-ingest-eval: `lee` is lee_background.cor (300 ABC news articles, none of them in
lee.cor, which neardup-dev is built from), `wiki` is the prose of the shortened English
Wikipedia dump (107 articles, cut into news-sized windows), `mixed` draws from both, `lee50`
is lee.cor itself.

Each story has an original and 0-5 near copies. A copy gets 1-3 edits (kind names joined by
'+'): dateline, byline, boiler (ad, share, related-link lines), footer (a republisher's
disclaimer added, dropped or swapped), trunc (last paragraphs dropped), lead (first paragraph
only), third (first third of the sentences), edits (typos, tense, words, numbers in 1-3
sentences), rewrite (1-2 sentences replaced), added (1-3 sentences inserted), update (an
"Update:" paragraph; new sentences come from unused texts or are the lead of another story
of the set, as in neardup-dev), deleted (1-2 sentences dropped), typography (curly quotes, dashes,
nbsp, ellipsis), mojibake (UTF-8 read as cp1252), reorder (paragraphs moved), and in the hard
profile also rewrap (hard-wrapped lines, one sentence per paragraph, or one paragraph),
invisible (soft hyphens, zero-width spaces) and chains (a copy of a copy). The dev profile
uses only the edits neardup-dev names (trunc, edits, typography, boiler, dateline, update),
about as often.

Originals that must stay apart ("kind" of an original): same-event (two stories built from
disjoint sentences of one source document: same names, no shared passage), same-event+quote
(the two also share one sentence), footer (an identical multi-sentence disclaimer shared
with other, different stories), short (one or two sentences), and singletons.
Deterministic for a given seed, corpus and profile.
"""

from __future__ import annotations

import argparse
import bz2
import codecs
import copy
import datetime
import glob
import hashlib
import html
import itertools
import json
import os
import random
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CACHE = os.path.expanduser("~/.cache/news-ingest-eval")
GENSIM = "gensim==4.4.0"
TEST_DATA = "gensim/test/test_data/"
WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
# A sentence ends at . ! ? before a capital or a quote, but not after an initial ("John F.
# Kennedy", "U.S. troops") or a title ("Mr. Howard").
SENT = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bMrs\.)"
    r"\s+(?=[A-Z0-9\"'(\u201c\u2018])"
)
WORD = re.compile(r"[A-Za-z]{5,}")

# A reader that decodes UTF-8 bytes as Windows-1252 keeps the 5 bytes cp1252 leaves
# undefined as their Latin-1 characters (what browsers and ftfy's "sloppy" codec do).
codecs.register_error(
    "neardup-latin1", lambda e: (e.object[e.start : e.end].decode("latin-1"), e.end)
)


# ---------------------------------------------------------------------------------------
# Text sources
# ---------------------------------------------------------------------------------------


def _test_data(name: str) -> bytes:
    """One file of gensim's test data, from the wheel cached in CACHE."""
    os.makedirs(CACHE, exist_ok=True)
    wheels = sorted(glob.glob(f"{CACHE}/gensim-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                GENSIM,
                "-d",
                CACHE,
            ],
            check=True,
        )
        wheels = sorted(glob.glob(f"{CACHE}/gensim-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return wheel.read(TEST_DATA + name)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENT.split(text) if s.strip()]


def _distinct(docs: list[list[str]]) -> list[list[str]]:
    """Drop documents that repeat much of an earlier one (the Lee corpus has reprints)."""
    kept: list[list[str]] = []
    index: dict[str, int] = {}
    for doc in docs:
        words = re.findall(r"\w+", " ".join(doc).lower())
        grams = {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}
        hits: dict[int, int] = {}
        for g in grams:
            if g in index:
                hits[index[g]] = hits.get(index[g], 0) + 1
        if hits and max(hits.values()) >= 0.1 * len(grams):
            continue
        for g in grams:
            index.setdefault(g, len(kept))
        kept.append(doc)
    return kept


def lee_documents(name: str) -> list[list[str]]:
    """One sentence list per line of a Lee corpus file (one article a line)."""
    text = _test_data(name).decode("cp1252", "neardup-latin1")
    return _distinct([d for d in (split_sentences(line) for line in text.splitlines()) if d])


def _strip_wikitext(wikitext: str) -> list[str]:
    """Prose paragraphs of one article: no templates, tables, refs, lists or headings."""
    w = html.unescape(wikitext)
    w = re.sub(r"<!--.*?-->", "", w, flags=re.S)
    w = re.sub(r"<ref[^>/]*/>", "", w)
    w = re.sub(r"<ref.*?</ref>", "", w, flags=re.S)
    for _ in range(8):  # innermost first, until nothing nested is left
        before = w
        w = re.sub(r"\{\{[^{}]*\}\}", "", w)
        w = re.sub(r"\{\|[^{}]*?\|\}", "", w, flags=re.S)
        w = re.sub(r"\[\[(?:File|Image|Category|[a-z\-]{2,12}):[^\[\]]*\]\]", "", w)
        w = re.sub(r"\[\[[^\[\]|]*\|([^\[\]]*)\]\]", r"\1", w)
        w = re.sub(r"\[\[([^\[\]]*)\]\]", r"\1", w)
        if w == before:
            break
    w = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", w)
    w = re.sub(r"\[https?://\S+\]", "", w)
    w = re.sub(r"'{2,}", "", w)
    w = re.sub(r"<[^>]+>", "", w)
    paragraphs = []
    for block in re.split(r"\n\s*\n|\n(?==)", w):
        lines = [
            line.strip()
            for line in block.split("\n")
            if line.strip() and not line.lstrip().startswith(tuple("*#:;|!={}"))
        ]
        p = re.sub(r"\s+", " ", " ".join(lines)).strip()
        p = re.sub(r"\s+([,.;:])", r"\1", p)
        p = re.sub(r"\(\s*[,;]?\s*\)", "", p)
        p = re.sub(r"\s+", " ", p)
        if len(p.split()) >= 25 and not re.search(r"[\[\]{}|=<>]", p):
            paragraphs.append(p)
    return paragraphs


def wiki_documents() -> list[list[list[str]]]:
    """Per article, its prose paragraphs as sentence lists."""
    dump = bz2.decompress(_test_data(WIKI_DUMP)).decode("utf-8")
    docs = []
    for _title, body in re.findall(r"<title>(.*?)</title>.*?<text[^>]*>(.*?)</text>", dump, re.S):
        if body.lstrip().upper().startswith("#REDIRECT"):
            continue
        paras = [split_sentences(p) for p in _strip_wikitext(body)]
        paras = [[s for s in p if len(s.split()) >= 4] for p in paras]
        paras = [p for p in paras if p]
        if sum(len(p) for p in paras) >= 8:
            docs.append(paras)
    return docs


# ---------------------------------------------------------------------------------------
# Articles and edits
# ---------------------------------------------------------------------------------------


@dataclass
class Para:
    role: str  # body | boiler | footer
    text: str


@dataclass
class Article:
    date: str
    paras: list[Para] = field(default_factory=list)

    def body(self) -> list[Para]:
        return [p for p in self.paras if p.role == "body"]

    def sentences(self) -> list[tuple[int, int, str]]:
        """(paragraph index, sentence index, sentence) of the body."""
        out = []
        for i, p in enumerate(self.paras):
            if p.role == "body":
                out.extend((i, j, s) for j, s in enumerate(split_sentences(p.text)))
        return out

    def render(self) -> str:
        return f" date {self.date} " + "\n\n".join(p.text for p in self.paras if p.text.strip())


def paragraphs_of(rnd: random.Random, sentences: list[str], *, most: int = 3) -> list[Para]:
    """News-style paragraphs of one to `most` sentences."""
    paras, i = [], 0
    while i < len(sentences):
        k = 1 if most == 1 else min(most, rnd.choice([1, 2, 2, 3, 3]))
        paras.append(Para("body", " ".join(sentences[i : i + k])))
        i += k
    return paras


CITIES = [
    "SYDNEY",
    "CANBERRA",
    "MELBOURNE",
    "BRISBANE",
    "PERTH",
    "ADELAIDE",
    "HOBART",
    "DARWIN",
    "LONDON",
    "WASHINGTON",
    "NEW YORK",
    "JAKARTA",
    "GENEVA",
    "WELLINGTON",
    "KABUL",
    "JERUSALEM",
    "NEW DELHI",
    "TOKYO",
    "PARIS",
    "BERLIN",
]
AGENCIES = ["AAP", "Reuters", "AP", "AFP", "PW", "dpa", "ABC"]
MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]


def _dateline(rnd: random.Random) -> str:
    city, agency = rnd.choice(CITIES), rnd.choice(AGENCIES)
    month, day = rnd.choice(MONTHS), rnd.randint(1, 28)
    return rnd.choice(
        [
            f"{city} ({agency}) - ",
            f"{city}, {month} {day} ({agency}) - ",
            f"{city}: ",
            f"({agency}) ",
            f"{city} \u2014 ",
            f"{city}, {month}. {day} -- ",
            f"{city.title()}, {agency}: ",
            f"{city} ({agency}) \u2013 ",
        ]
    )


NAMES = [
    "Sarah Jones",
    "Michael Chen",
    "Priya Raman",
    "Tom Whitfield",
    "Ana Kovac",
    "David O'Brien",
    "Lena Fischer",
    "James Mwangi",
]
BOILER_KNOWN = [
    "Advertisment",
    "Advertisement",
    "ADVERTISEMENT",
    "Sponsored content",
    "Story continues below advertisement",
    "Continue reading below",
    "Scroll to continue with content",
]
BOILER_OTHER = [
    "Read more:",
    "Share this article",
    "Subscribe to our newsletter",
    "Follow us on Facebook and Twitter",
    "Click here to get the latest news delivered to your inbox.",
    "Photo: AAP",
    "Share on Facebook Share on Twitter Share via Email",
    "Most read",
    "Watch the video above.",
    "Listen to this article",
    "Print this page",
    "Sign up for breaking news alerts",
]
FOOTERS = [
    "This article is distributed by the Southern Cross news service. All rights reserved. "
    "It may not be copied, broadcast or redistributed without written permission.",
    "The information in this article is general in nature and does not constitute financial "
    "advice. Readers should seek independent professional advice before making any investment "
    "decision. Past performance is not a reliable indicator of future performance.",
    "If you or someone you know needs help, call Lifeline on 13 11 14 or Beyond Blue on "
    "1300 22 4636. In an emergency, always call triple zero. Support is available 24 hours a "
    "day, seven days a week.",
    "Copyright Australian Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed in any form without prior written "
    "consent. AAP has no responsibility for the accuracy of third-party content.",
    "Do you have a story tip or a correction? Email our newsroom or message us on social media. "
    "We read every message, although we cannot reply to all of them. Our corrections policy "
    "is published on our website.",
    "Disclaimer: The views and opinions expressed in this article are those of the authors and "
    "do not necessarily reflect the official policy or position of the publisher. Any content "
    "provided by our contributors is their opinion and is not intended to malign any religion, "
    "ethnic group, club, organisation, company or individual.",
    "Our journalism is funded by readers like you. Subscribe today for unlimited access to "
    "breaking news, in-depth analysis and our award-winning investigations, or sign up to our "
    "free morning newsletter to get the day's top stories in your inbox before breakfast.",
    "Reporting by the regional desk; editing by the night production team. Additional "
    "reporting from our correspondents in the field. Comments on this story are moderated "
    "according to our community guidelines and may take up to 24 hours to appear.",
]
SUBSTITUTIONS = [
    (" has ", " had "),
    (" said ", " says "),
    (" says ", " said "),
    (" people ", " residents "),
    (" today", " on Tuesday"),
    (" yesterday", " on Monday"),
    (" about ", " around "),
    (" more than ", " over "),
    (" will ", " would "),
    (" percent", " per cent"),
    (" per cent", "%"),
    (" government ", " Government "),
    (" and ", " as well as "),
    (" but ", " however "),
    (" killed ", " left dead "),
    (" announced ", " revealed "),
    (" large ", " big "),
    (" because ", " as "),
]


class NotApplicable(Exception):
    """This edit would change nothing here; the caller picks another."""


class Editor:
    """The edits, each a method `kind(article)` that changes the article in place."""

    TRUNCATIONS = frozenset({"trunc", "lead", "third"})

    def __init__(
        self, rnd: random.Random, donors: list[str], leads: list[tuple[int, str]], profile: str
    ) -> None:
        self.rnd = rnd
        self.donors = donors  # sentences of texts that are in no story of the set
        self.leads = leads  # (story, first sentence) of the set's stories
        self.hard = profile == "hard"
        self.story = -1  # the story being copied

    def _donor(self) -> str:
        """A sentence for an added, changed or update sentence. Some are the lead of another
        story of the set, as when a page adds a "latest news" line: a cross-story overlap
        that must not merge the two stories."""
        if self.rnd.random() < (0.4 if self.hard else 0.25):
            others = [text for story, text in self.leads if story != self.story]
            if others:
                return self.rnd.choice(others)
        return self.rnd.choice(self.donors)

    # -- framing -------------------------------------------------------------------------
    def dateline(self, a: Article) -> None:
        first = a.body()[0]
        first.text = _dateline(self.rnd) + first.text

    def byline(self, a: Article) -> None:
        rnd = self.rnd
        lines = [f"By {rnd.choice(NAMES)}" + rnd.choice(["", f", {rnd.choice(AGENCIES)}"])]
        if rnd.random() < 0.6:
            lines.append(
                rnd.choice(
                    [
                        f"Updated {rnd.randint(1, 12)}:{rnd.randint(0, 59):02d}pm",
                        f"Posted {rnd.randint(2, 59)} minutes ago",
                        f"{rnd.randint(1, 9)} min read",
                    ]
                )
            )
        a.paras[0:0] = [Para("boiler", line) for line in lines]

    def boiler(self, a: Article) -> None:
        rnd = self.rnd
        for _ in range(rnd.randint(1, 3)):
            roll = rnd.random()
            if roll < 0.45:
                line = rnd.choice(BOILER_KNOWN)
            elif roll < 0.85:
                line = rnd.choice(BOILER_OTHER)
            else:
                words = self._donor().split()[: rnd.randint(6, 11)]
                line = rnd.choice(["Related: ", "READ MORE: ", "Also read: "]) + " ".join(
                    words
                ).rstrip(",;:")
            a.paras.insert(rnd.randint(1, len(a.paras)), Para("boiler", line))

    def footer(self, a: Article) -> None:
        rnd = self.rnd
        if not self.hard and sum(len(p.text.split()) for p in a.body()) < 80:
            raise NotApplicable  # a disclaimer as long as the story: only in the hard set
        has = [i for i, p in enumerate(a.paras) if p.role == "footer"]
        if has and rnd.random() < 0.5:
            del a.paras[has[0]]
            return
        text = rnd.choice([f for f in FOOTERS if not has or f != a.paras[has[0]].text])
        if has:
            a.paras[has[0]].text = text
        else:
            a.paras.append(Para("footer", text))

    # -- truncation ----------------------------------------------------------------------
    def _keep_sentences(self, a: Article, keep: int, *, keep_footer: bool = False) -> None:
        """Keep the first `keep` body sentences; the rest of the body, the ads after it and
        (unless keep_footer) the footer go."""
        kept, out = 0, []
        for p in a.paras:
            if p.role != "body":
                if (kept < keep and p.role == "boiler") or (keep_footer and p.role == "footer"):
                    out.append(p)
                continue
            if kept >= keep:
                continue
            sents = split_sentences(p.text)[: keep - kept]
            kept += len(sents)
            out.append(Para("body", " ".join(sents)))
        a.paras = out

    def _body_words(self, a: Article) -> int:
        return sum(len(p.text.split()) for p in a.body())

    def trunc(self, a: Article) -> None:
        """Drop the last paragraph or two (at most 40% of the words)."""
        sents = a.sentences()
        total = self._body_words(a)
        if len(sents) < 3:
            raise NotApplicable
        body = [i for i, p in enumerate(a.paras) if p.role == "body"]
        if len(body) < 2:
            keep = len(sents) - self.rnd.randint(1, max(1, len(sents) // 3))
            self._keep_sentences(a, keep, keep_footer=True)
            return
        drop = self.rnd.randint(1, max(1, len(body) // 3))
        while drop > 1 and sum(len(a.paras[i].text.split()) for i in body[-drop:]) > 0.4 * total:
            drop -= 1
        if sum(len(a.paras[i].text.split()) for i in body[-drop:]) > 0.4 * total:
            raise NotApplicable
        cut = set(body[-drop:])
        a.paras = [p for i, p in enumerate(a.paras) if i not in cut]

    def lead(self, a: Article) -> None:
        """Only the first paragraph (two sentences at least), as a feed summary has it."""
        sents = a.sentences()
        if len(sents) < 5 or self._body_words(a) < 100:
            raise NotApplicable
        first_para = [s for s in sents if s[0] == sents[0][0]]
        keep = len(first_para)
        if keep < 2 or sum(len(s[2].split()) for s in first_para) < 25:
            keep = 2
        self._keep_sentences(a, keep)

    def third(self, a: Article) -> None:
        """The first third of the sentences."""
        sents = a.sentences()
        if len(sents) < 5 or self._body_words(a) < 100:
            raise NotApplicable
        self._keep_sentences(a, max(2, round(len(sents) / 3)))

    # -- wording ---------------------------------------------------------------------------
    def _pick_sentences(self, a: Article, k: int) -> list[tuple[int, int, str]]:
        sents = a.sentences()
        return self.rnd.sample(sents, min(k, len(sents)))

    def _replace_sentence(self, a: Article, para: int, index: int, new: str | None) -> None:
        sents = split_sentences(a.paras[para].text)
        if new is None:
            del sents[index]
        else:
            sents[index] = new
        a.paras[para].text = " ".join(sents)

    def _reword(self, sentence: str) -> str:
        rnd = self.rnd
        ops = ["typo", "sub", "number", "drop"]
        rnd.shuffle(ops)
        for op in ops:
            padded = f" {sentence} "
            if op == "sub":
                options = [(a, b) for a, b in SUBSTITUTIONS if a in padded]
                if options:
                    a_, b_ = rnd.choice(options)
                    return padded.replace(a_, b_, 1).strip()
            elif op == "number":
                numbers = list(re.finditer(r"\d+", sentence))
                if numbers:
                    m = rnd.choice(numbers)
                    return (
                        sentence[: m.start()]
                        + str(int(m.group()) + rnd.randint(1, 9))
                        + sentence[m.end() :]
                    )
            elif op == "drop":
                words = sentence.split()
                if len(words) > 8:
                    i = rnd.randrange(1, len(words) - 1)
                    return " ".join(words[:i] + words[i + 1 :])
            else:
                words = list(WORD.finditer(sentence))
                if words:
                    m = rnd.choice(words)
                    w = m.group()
                    i = rnd.randrange(1, len(w) - 2)
                    w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
                    return sentence[: m.start()] + w + sentence[m.end() :]
        return sentence + " "

    def edits(self, a: Article) -> None:
        for para, index, sentence in sorted(
            self._pick_sentences(a, self.rnd.randint(1, 3)), reverse=True
        ):
            new = self._reword(sentence)
            if self.hard and self.rnd.random() < 0.4:  # a second change in the same sentence
                new = self._reword(new)
            self._replace_sentence(a, para, index, new)

    def _new_sentences(self, a: Article, most: int) -> int:
        """How many sentences a copy may change or add: it stays mostly the same text."""
        n = len(a.sentences())
        if n < 3:
            raise NotApplicable
        return self.rnd.randint(1, max(1, min(most, n // 4)))

    def rewrite(self, a: Article) -> None:
        for para, index, _ in sorted(
            self._pick_sentences(a, self._new_sentences(a, 2)), reverse=True
        ):
            self._replace_sentence(a, para, index, self._donor())

    def added(self, a: Article) -> None:
        for _ in range(self._new_sentences(a, 3)):
            body = [i for i, p in enumerate(a.paras) if p.role == "body"]
            i = self.rnd.choice(body)
            sents = split_sentences(a.paras[i].text)
            sents.insert(self.rnd.randint(0, len(sents)), self._donor())
            a.paras[i].text = " ".join(sents)

    def update(self, a: Article) -> None:
        rnd = self.rnd
        self._new_sentences(a, 1)
        text = rnd.choice(["Update: ", "UPDATE: ", "Editor's note: ", "Latest: "]) + self._donor()
        body = [i for i, p in enumerate(a.paras) if p.role == "body"]
        at = body[-1] + 1 if rnd.random() < 0.7 else body[0] + 1
        a.paras.insert(at, Para("body", text))

    def deleted(self, a: Article) -> None:
        sents = a.sentences()
        if len(sents) < 4:
            raise NotApplicable
        drop = self.rnd.randint(1, max(1, min(2, len(sents) // 4)))
        for para, index, _ in sorted(self.rnd.sample(sents[1:], drop), reverse=True):
            self._replace_sentence(a, para, index, None)
        a.paras = [p for p in a.paras if p.text.strip()]

    # -- characters ------------------------------------------------------------------------
    def _curly(self, text: str) -> str:
        rnd = self.rnd
        text = re.sub(r'(^|[\s(\[\u2014])"', "\\1\u201c", text)
        text = text.replace('"', "\u201d")
        text = re.sub(r"(^|[\s(\[])'", "\\1\u2018", text)
        text = text.replace("'", "\u2019")
        dash = rnd.choice(["\u2014", "\u2013"])
        text = text.replace(" - ", f" {dash} ").replace("--", "\u2014")
        text = text.replace("...", "\u2026")
        text = re.sub(
            r"(\d) (?=[a-zA-Z%$])",
            lambda m: m.group(1) + ("\u00a0" if rnd.random() < 0.6 else " "),
            text,
        )
        text = re.sub(
            r"(Mr|Mrs|Ms|Dr)\.? ",
            lambda m: m.group(0)[:-1] + ("\u00a0" if rnd.random() < 0.5 else " "),
            text,
        )
        if rnd.random() < 0.5:
            text = re.sub(r"\. (?=[A-Z])", ".  ", text)
        return text

    def _straight(self, text: str) -> str:
        table = {
            "\u201c": '"',
            "\u201d": '"',
            "\u2018": "'",
            "\u2019": "'",
            "\u2013": "-",
            "\u2014": "-",
            "\u00a0": " ",
            "\u2026": "...",
        }
        return "".join(table.get(c, c) for c in text)

    def typography(self, a: Article) -> None:
        for p in a.paras:
            if p.role != "boiler":
                before = p.text
                p.text = self._curly(p.text)
                if p.text == before and re.search("[\u201c\u201d\u2018\u2019\u2013\u2014]", before):
                    p.text = self._straight(before)

    def mojibake(self, a: Article) -> None:
        if all(p.text.isascii() for p in a.paras):
            self.typography(a)
        targets = [p for p in a.paras if not p.text.isascii()]
        if not targets:
            raise NotApplicable
        if self.rnd.random() < 0.4:
            targets = self.rnd.sample(targets, self.rnd.randint(1, len(targets)))
        for p in targets:
            p.text = p.text.encode("utf-8").decode("cp1252", "neardup-latin1")

    def invisible(self, a: Article) -> None:
        rnd = self.rnd

        def mark(m: re.Match[str]) -> str:
            w = m.group()
            if len(w) < 8 or rnd.random() > 0.25:
                return w
            i = rnd.randrange(3, len(w) - 3)
            return w[:i] + rnd.choice(["\u00ad", "\u200b", "\u00ad"]) + w[i:]

        for p in a.paras:
            if p.role == "body":
                p.text = re.sub(r"[A-Za-z]+", mark, p.text)

    # -- layout ----------------------------------------------------------------------------
    def reorder(self, a: Article) -> None:
        body = [i for i, p in enumerate(a.paras) if p.role == "body"]
        if len(body) < 2:
            sents = split_sentences(a.paras[body[0]].text)
            if len(sents) < 4:
                raise NotApplicable
            cut = len(sents) // 2
            a.paras[body[0]].text = " ".join(sents[cut:])
            a.paras.insert(body[0] + 1, Para("body", " ".join(sents[:cut])))
            return
        rnd = self.rnd
        if len(body) == 2 or rnd.random() < 0.5:
            i = rnd.randrange(len(body) - 1)
            x, y = body[i], body[i + 1]
            a.paras[x], a.paras[y] = a.paras[y], a.paras[x]
        else:
            src, dst = rnd.sample(body, 2)
            moved = a.paras.pop(src)
            a.paras.insert(dst, moved)

    def rewrap(self, a: Article) -> None:
        rnd, mode = self.rnd, self.rnd.choice(["wrap", "sentences", "merge"])
        if mode == "wrap":
            width = rnd.randint(60, 78)
            for p in a.paras:
                lines, line = [], ""
                for word in p.text.split(" "):
                    if line and len(line) + 1 + len(word) > width:
                        lines.append(line)
                        line = word
                    else:
                        line = f"{line} {word}" if line else word
                p.text = "\n".join([*lines, line])
        elif mode == "sentences":
            out = []
            for p in a.paras:
                out.extend(
                    [Para(p.role, s) for s in split_sentences(p.text)] if p.role == "body" else [p]
                )
            a.paras = out
        else:
            body = [p.text for p in a.paras if p.role == "body"]
            if len(body) < 2:
                raise NotApplicable
            first = next(i for i, p in enumerate(a.paras) if p.role == "body")
            rest = [p for p in a.paras if p.role != "body"]
            a.paras = [*rest[:first], Para("body", " ".join(body)), *rest[first:]]


NORMAL_WEIGHTS = {
    "dateline": 1.0,
    "boiler": 1.2,
    "footer": 0.3,
    "trunc": 1.0,
    "lead": 0.6,
    "third": 0.5,
    "edits": 1.2,
    "rewrite": 0.4,
    "added": 0.5,
    "update": 0.5,
    "deleted": 0.4,
    "typography": 1.0,
    "mojibake": 0.5,
    "reorder": 0.6,
}
# Only the edits ../shared/eval/neardup-dev names, about as often as it has them: sets of
# other texts with the given set's edits (the distractor originals stay).
DEV_WEIGHTS = {
    "trunc": 2.2,
    "edits": 2.0,
    "typography": 1.5,
    "boiler": 1.2,
    "dateline": 0.8,
    "update": 0.6,
}
HARD_WEIGHTS = {
    **NORMAL_WEIGHTS,
    "byline": 0.4,
    "footer": 0.5,
    "third": 0.9,
    "lead": 0.8,
    "rewrite": 0.7,
    "added": 0.7,
    "mojibake": 0.8,
    "reorder": 0.9,
    "rewrap": 0.6,
    "invisible": 0.4,
}


# ---------------------------------------------------------------------------------------
# The set
# ---------------------------------------------------------------------------------------


@dataclass
class Unit:
    """The sentences a story is made of, and what it is for."""

    sentences: list[str]
    role: str  # plain | short | same-event | same-event+quote


class Sources:
    """Cuts source documents into disjoint story units; leftovers are donor sentences."""

    def __init__(self, rnd: random.Random, corpus: str) -> None:
        self.rnd = rnd
        self.pools: list[tuple[str, list[list[list[str]]]]] = []
        if corpus in ("lee", "mixed"):
            self.pools.append(("lee", [[d] for d in lee_documents("lee_background.cor")]))
        if corpus == "lee50":
            self.pools.append(("lee", [[d] for d in lee_documents("lee.cor")]))
        if corpus in ("wiki", "mixed"):
            self.pools.append(("wiki", wiki_documents()))
        if not self.pools:
            raise SystemExit(f"unknown corpus {corpus!r}")
        for _, docs in self.pools:
            rnd.shuffle(docs)
        self.cursor = [0] * len(self.pools)
        self.offset = [0] * len(self.pools)  # paragraph offset inside the current wiki doc

    def _next_sentences(self, want_words: int) -> list[str] | None:
        """Sentences of (at most) one source document, about want_words long, that no other
        unit uses: a Lee article whole, or the next window of paragraphs of a wiki article."""
        k = self.rnd.randrange(len(self.pools))
        for pool in [k] + [i for i in range(len(self.pools)) if i != k]:
            name, docs = self.pools[pool]
            while self.cursor[pool] < len(docs):
                doc = docs[self.cursor[pool]]
                paras = doc[self.offset[pool] :]
                if name == "lee" or len(paras) < 2:
                    self.cursor[pool] += 1
                    self.offset[pool] = 0
                    sents = [s for p in paras for s in p]
                    if sents:
                        return sents
                    continue
                taken, words, used = [], 0, 0
                for p in paras:
                    if words >= want_words:
                        break
                    taken.extend(p)
                    words += sum(len(s.split()) for s in p)
                    used += 1
                # leave a gap paragraph between windows: nearby windows share few phrases
                self.offset[pool] += used + 1
                return taken
        return None

    def unit(self, role: str, length: str) -> Unit | None:
        rnd = self.rnd
        want = {"short": 40, "medium": rnd.randint(90, 260), "long": rnd.randint(350, 900)}[length]
        if role.startswith("same-event"):
            want = max(want * 2, 180)
        sents = self._next_sentences(want)
        if sents is None:
            return None
        if role == "short":
            # Two sentences at least: a one-sentence story would be contained whole in any
            # text that quotes it, which even a reader could not call a different story.
            while len(sents) < 2:
                sents = self._next_sentences(want)
                if sents is None:
                    return None
            trimmed = self._trim(sents, rnd.randint(20, 60))
            return Unit(trimmed if len(trimmed) >= 2 else sents[:2], role)
        if role.startswith("same-event"):
            if len(sents) < 6:
                return Unit(self._trim(sents, want), "plain")
            return Unit(sents, role)  # split later into two stories
        return Unit(self._trim(sents, want), role)

    @staticmethod
    def _trim(sents: list[str], want: int) -> list[str]:
        out, words = [], 0
        for s in sents:
            if words >= want:
                break
            out.append(s)
            words += len(s.split())
        return out

    def donors(self, n: int) -> list[str]:
        """Sentences from documents no story uses (changed, added and update sentences)."""
        out: list[str] = []
        for pool, (_, docs) in enumerate(self.pools):
            for doc in docs[self.cursor[pool] + 1 :]:
                out.extend(s for p in doc for s in p if 8 <= len(s.split()) <= 40)
        if len(out) < 500:  # the stories used up the corpus: borrow from the other one
            other = lee_documents("lee_background.cor") if self.pools[0][0] == "wiki" else None
            docs = [[d] for d in other] if other else wiki_documents()
            out.extend(s for doc in docs for p in doc for s in p if 8 <= len(s.split()) <= 40)
        self.rnd.shuffle(out)
        return out[:n]


# Edits apply in this order whatever order they were drawn in: cut before rewording, text
# before layout, characters last (a mojibake copy is the bytes of the finished text).
APPLY_ORDER = [
    "trunc",
    "lead",
    "third",
    "deleted",
    "rewrite",
    "edits",
    "added",
    "update",
    "reorder",
    "footer",
    "boiler",
    "byline",
    "dateline",
    "rewrap",
    "typography",
    "invisible",
    "mojibake",
]
NEW_TEXT = {"rewrite", "added", "update"}
SHORT_CUTS = {"lead", "third"}


def _kinds(rnd: random.Random, weights: dict[str, float], count: int, *, hard: bool) -> list[str]:
    chosen: list[str] = []
    names = sorted(weights)
    while len(chosen) < count:
        kind = rnd.choices(names, [weights[n] for n in names])[0]
        if kind in chosen or (kind in Editor.TRUNCATIONS and Editor.TRUNCATIONS & set(chosen)):
            continue
        # A lead-only copy with new sentences is mostly another text: not a near copy.
        if {kind, *chosen} & SHORT_CUTS and {kind, *chosen} & NEW_TEXT:
            continue
        if not hard and {kind, *chosen} & SHORT_CUTS and "footer" in {kind, *chosen}:
            continue
        chosen.append(kind)
    return sorted(chosen, key=APPLY_ORDER.index)


def build(
    stories: int, seed: int, corpus: str, profile: str
) -> list[tuple[int, str, str, str | None, str]]:
    """[(story, kind, text, parent index or None, group key)] in story order."""
    rnd = random.Random(f"{seed}-{corpus}-{profile}")
    hard = profile == "hard"
    sources = Sources(rnd, corpus)
    weights = HARD_WEIGHTS if hard else DEV_WEIGHTS if profile == "dev" else NORMAL_WEIGHTS
    footer_share = 0.25 if hard else 0.15
    hard_footers = FOOTERS if hard else FOOTERS[:5]

    # Decide the originals first, so the donor sentences come from documents left over.
    originals: list[tuple[list[str], str]] = []
    while len(originals) < stories:
        roll = rnd.random()
        role = (
            "short"
            if roll < (0.15 if hard else 0.08)
            else "same-event"
            if roll < (0.30 if hard else 0.18)
            else "same-event+quote"
            if roll < (0.36 if hard else 0.21)
            else "plain"
        )
        length = "short" if role == "short" else rnd.choices(["medium", "long"], [0.65, 0.35])[0]
        unit = sources.unit(role, length)
        if unit is None:
            break
        sents = unit.sentences
        if unit.role.startswith("same-event"):
            a, b = sents[0::2], sents[1::2]
            if unit.role == "same-event+quote":
                # both quote the same sentence, past their leads (a lead-only copy of one
                # must not be mostly the shared sentence)
                later = a[len(a) // 2 :]
                shared = max(later, key=lambda s: (('"' in s) or ("\u201c" in s), len(s.split())))
                b.insert(rnd.randint(len(b) // 2 + 1, len(b)), shared)
            originals.append((a, unit.role))
            originals.append((b, unit.role))
        else:
            originals.append((sents, unit.role))
    originals = originals[:stories]
    leads = [
        (story, sents[0])
        for story, (sents, role) in enumerate(originals)
        if role != "short" and len(sents) >= 4 and len(sents[0].split()) >= 8
    ]
    editor = Editor(rnd, sources.donors(4000), leads, profile)

    out: list[tuple[int, str, str, str | None, str]] = []
    for story, (sents, role) in enumerate(originals):
        date = f"20{rnd.randint(0, 24):02d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        original = Article(date, paragraphs_of(rnd, sents, most=1 if role == "short" else 3))
        kind = "original" if role == "plain" else role
        if rnd.random() < footer_share:
            original.paras.append(Para("footer", rnd.choice(hard_footers)))
            kind += "+footer"
        editor.story = story
        members: list[tuple[Article, list[str]]] = [(original, [])]
        out.append((story, kind, original.render(), None, f"{story}:0"))
        seen = {original.render()}
        n_copies = (
            0
            if rnd.random() < (0.25 if hard else 0.3)
            else rnd.choices([1, 2, 3, 4, 5], [0.35, 0.25, 0.2, 0.12, 0.08])[0]
        )
        attempts = 0
        while len(members) <= n_copies and attempts < 40:
            attempts += 1
            parent = 0
            if hard and len(members) > 1 and rnd.random() < 0.3:
                parent = rnd.randrange(1, len(members))
            base, base_kinds = members[parent]
            count = rnd.choices([1, 2, 3], [0.25, 0.45, 0.3] if hard else [0.5, 0.35, 0.15])[0]
            kinds = _kinds(rnd, weights, count, hard=hard)
            both = set(base_kinds) | set(kinds)
            if (
                (Editor.TRUNCATIONS & set(base_kinds) and Editor.TRUNCATIONS & set(kinds))
                or (both & SHORT_CUTS and both & NEW_TEXT)
                or "mojibake" in base_kinds
                or (set(base_kinds) & set(kinds))
            ):
                continue
            doc = copy.deepcopy(base)
            try:
                for k in kinds:
                    getattr(editor, k)(doc)
            except NotApplicable:
                continue
            if rnd.random() < 0.2:  # reprints are often dated a day later
                doc.date = (
                    datetime.date.fromisoformat(date) + datetime.timedelta(days=1)
                ).isoformat()
            text = doc.render()
            if text in seen or not doc.body():
                continue
            seen.add(text)
            all_kinds = base_kinds + kinds
            members.append((doc, all_kinds))
            out.append(
                (
                    story,
                    "+".join(all_kinds),
                    text,
                    f"{story}:{parent}",
                    f"{story}:{len(members) - 1}",
                )
            )
    return out


def write(
    outdir: str,
    rows: list[tuple[int, str, str, str | None, str]],
    *,
    seed: int,
    corpus: str,
    profile: str,
    order: str,
) -> dict[str, object]:
    rnd = random.Random(f"order-{seed}-{corpus}-{profile}")
    if order == "shuffled":
        rows = rows[:]
        rnd.shuffle(rows)
    seeds = os.path.join(outdir, "seeds")
    os.makedirs(seeds, exist_ok=True)
    for old in glob.glob(os.path.join(seeds, "*.txt")):
        os.remove(old)
    files: dict[str, int] = {}
    kinds: dict[str, str] = {}
    names: dict[str, str] = {}
    for i, (_story, _kind, _text, _parent, key) in enumerate(rows):
        fid = hashlib.sha1(f"{seed}-{corpus}-{profile}-{key}".encode()).hexdigest()[:16]
        names[key] = f"{i:04d}_{fid}.txt"
    parents: dict[str, str] = {}
    for story, kind, text, parent, key in rows:
        name = names[key]
        with open(os.path.join(seeds, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        files[name] = story
        kinds[name] = kind
        if parent is not None:
            parents[name] = names[parent]
    truth = {
        "files": dict(sorted(files.items())),
        "kind": dict(sorted(kinds.items())),
        "parent": dict(sorted(parents.items())),
        "meta": {
            "generator": "bench/make_neardup.py",
            "corpus": corpus,
            "seed": seed,
            "profile": profile,
            "order": order,
            "stories": len(set(files.values())),
            "files": len(files),
        },
    }
    with open(os.path.join(outdir, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return truth


# ---------------------------------------------------------------------------------------
# A reference check: how hard is the set, measured with plain word shingles
# ---------------------------------------------------------------------------------------


def _plain_shingles(text: str, size: int = 4) -> set[str]:
    words = re.findall(r"\w+", text.lower().split(" ", 3)[-1])
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def describe(outdir: str, truth: dict[str, dict[str, object]], *, show: int) -> None:
    """Print, under plain 4-word shingles (no normalization): the copies least like any other
    member of their story (a story is found if its members chain together), and the pairs of
    different stories that share most; to sanity-check a set before any ingest."""
    files, kinds = truth["files"], truth["kind"]
    sh = {n: _plain_shingles(Path(outdir, "seeds", n).read_text(encoding="utf-8")) for n in files}
    best: dict[str, tuple[float, float, int, str]] = {}
    false_pairs = []
    for a, b in itertools.combinations(sorted(files), 2):
        inter = len(sh[a] & sh[b])
        if not inter:
            continue
        small = min(len(sh[a]), len(sh[b]))
        jac = inter / (len(sh[a]) + len(sh[b]) - inter)
        row = (round(jac, 3), round(inter / small, 3), small)
        if files[a] != files[b]:
            false_pairs.append((*row, a, b))
            continue
        for x, y in ((a, b), (b, a)):
            if x not in best or max(row[:2]) > max(best[x][:2]):
                best[x] = (*row, y)
    members: dict[object, int] = {}
    for n in files:
        members[files[n]] = members.get(files[n], 0) + 1
    lonely = [(best.get(n, (0.0, 0.0, 0, "-")), n) for n in files if members[files[n]] > 1]
    print("copies least like the rest of their story (jaccard, containment, smaller shingles):")
    for (j, c, s, other), n in sorted(lonely, key=lambda r: max(r[0][:2]))[:show]:
        print(f"  {j:.3f} {c:.3f} {s:4d}  {n} [{kinds[n]}] ~ {other} [{kinds.get(other, '')}]")
    print("different-story pairs sharing most:")
    for j, c, s, a, b in sorted(false_pairs, key=lambda r: -max(r[0], r[1]))[:show]:
        print(f"  {j:.3f} {c:.3f} {s:4d}  {a} [{kinds[a]}] ~ {b} [{kinds[b]}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--stories", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", default="wiki", choices=["lee", "wiki", "mixed", "lee50"])
    ap.add_argument("--profile", default="normal", choices=["normal", "hard", "dev"])
    ap.add_argument(
        "--order",
        default="shuffled",
        choices=["shuffled", "grouped"],
        help="file order (= ingest order): shuffled puts some copies before originals",
    )
    ap.add_argument(
        "--describe",
        type=int,
        default=0,
        metavar="N",
        help="print the N hardest true and false pairs under plain shingles",
    )
    args = ap.parse_args()
    rows = build(args.stories, args.seed, args.corpus, args.profile)
    truth = write(
        args.outdir,
        rows,
        seed=args.seed,
        corpus=args.corpus,
        profile=args.profile,
        order=args.order,
    )
    meta = truth["meta"]
    print(f"{meta['files']} files, {meta['stories']} stories in {args.outdir}")
    if args.describe:
        describe(args.outdir, truth, show=args.describe)


if __name__ == "__main__":
    main()
