"""Fuzzing the way in: arbitrary bytes on disk and arbitrary text or HTML from producers.

Whatever arrives, the seed reader and the normalizer either give something the rest of the
pipeline can store, or raise our own RejectedInput; never anything else. "Storable" means
what Postgres and the identity step need: text that encodes as strict UTF-8 (no lone
surrogates) and holds no NUL, a UTC date, and a body the hash and the sketch accept.
"""

from __future__ import annotations

import codecs
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.articles import RawArticle
from worker.errors import RejectedInput
from worker.pipeline import dedup
from worker.pipeline.candidates import sketch_body
from worker.pipeline.identity import content_hash
from worker.pipeline.normalize import (
    NormalizedArticle,
    fingerprint_paragraphs,
    normalize_article,
)
from worker.settings import Settings
from worker.sources.seeds import decode_seed_bytes, parse_seed_text, read_seed_file

# FUZZ_EXAMPLES=5000 for a longer campaign; the default keeps this file under ~15 s.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMITS = Settings()

# --------------------------------------------------------------------------------------
# Strategies: the pieces hostile or broken input is made of
# --------------------------------------------------------------------------------------

HTML_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<br/>",
        "<div>",
        "</div>",
        "<h1>",
        "<li>",
        "<table><tr><td>",
        "<script>alert(1)</script>",
        "<script>",
        "</script>",
        "<style>p{}</style>",
        "<iframe src=x>",
        "<img src=x onerror=alert(1)>",
        "<a href='javascript:alert(1)'>link</a>",
        "<svg onload=x>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE html>",
        "<?xml version='1.0'?>",
        "&amp;",
        "&lt;script&gt;",
        "&amp;lt;p&amp;gt;",
        "&#0;",
        "&#xD800;",
        "&#x110000;",
        "&#65;",
        "&nbsp;",
        "&",
        "&#",
        "<",
        ">",
        "<<",
        "<div",
        "<p\x00>",
        "<template>",
        "<noscript>",
        "<textarea>",
        "<plaintext>",
        "<xmp>",
        "<math><mi>",
        "<title>",
        "<base href=x>",
    ]
)
CONTROLS = st.characters(categories=["Cc"])  # C0, DEL and C1
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ODD_UNICODE = st.sampled_from(
    [
        "\ufeff",
        "\u200b",
        "\u2028",
        "\u2029",
        "\u00ad",
        "\u202e",
        "\ufffe",
        "\uffff",
        "\U0010ffff",
        "\u0301",
        "e\u0301",
        "\x1b[31m",
        "\x1b]0;title\x07",
        "\r\n",
        "\r",
        "\n\n",
        "\t",
        "\x0c",
    ]
)
MOJIBAKE = st.sampled_from(
    [
        "Ã©",
        "â€™",
        "â€œquotedâ€\x9d",
        "Ã¢â‚¬â„¢",
        "ÃƒÂ©",
        "Â ",
        "‚Ä",
        "\x80\x93",
        "Ã",
    ]
)
SEED_LINES = st.sampled_from(
    [
        " date 2024-05-01 ",
        "date 2024-02-30 ",
        "date 0000-00-00 ",
        "date 9999-99-99 ",
        "date ",
        "Advertisment\n",
        "Advertisement\n\n",
        "Short heading\n\n",
        "\n\n\n",
        "The council approved the budget on Tuesday after a long debate. ",
    ]
)
WORDS = st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"]), max_size=40)

TEXT = st.lists(
    st.one_of(
        WORDS,
        st.text(max_size=20),
        HTML_PIECES,
        CONTROLS,
        SURROGATES,
        ODD_UNICODE,
        MOJIBAKE,
        SEED_LINES,
    ),
    max_size=40,
).map("".join)

DATES = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "2024-05-01",
            "2024-02-30",
            "2024-05-01T12:00:00+14:00",
            "2024-05-01T12:00:00-12:00",
            "Tue, 10 Jun 2003 04:00:00 GMT",
            "Tue, 10 Jun 2003 04:00:00 +9999",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "1e400",
            "NaN",
            "2024-05-01T25:61:61",
            "\x00",
        ]
    ),
)
URLS = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.sampled_from(
        [
            "https://Example.COM:443/a?utm_source=x&b=1#frag",
            "http://[::1]:80/",
            "http://[::1",
            "https://exa mple.com/",
            "javascript:alert(1)",
            "//no-scheme",
            "https://xn--80ak6aa92e.com",
            "https://例え.テスト/パス?q=値",
            "http://%zz/",
            "https://a.com/%00",
            "https://a.com:99999/",
            "http://user:pass@host/",
            "https://a.com/\ud800",
            "mailto:x@y",
            "",
            " ",
        ]
    ),
)


@st.composite
def seed_bytes(draw: st.DrawFn) -> bytes:
    """Bytes as seed files come: any text in any encoding, BOMs, padding, or plain noise."""
    kind = draw(st.sampled_from(["noise", "encoded", "bom+noise", "padded", "utf16-no-bom"]))
    if kind == "noise":
        return draw(st.binary(max_size=3000))
    text = draw(TEXT)
    if kind == "encoded":
        encoding = draw(
            st.sampled_from(
                ["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252", "latin-1", "mac-roman"]
            )
        )
        return text.encode(encoding, errors="ignore" if encoding != "utf-8" else "surrogatepass")
    if kind == "bom+noise":
        bom = draw(
            st.sampled_from(
                [
                    codecs.BOM_UTF8,
                    codecs.BOM_UTF16_LE,
                    codecs.BOM_UTF16_BE,
                    codecs.BOM_UTF32_LE,
                    codecs.BOM_UTF32_BE,
                ]
            )
        )
        return bom + draw(st.binary(max_size=500))
    if kind == "padded":
        padding = st.binary(max_size=50) | st.sampled_from(
            [b"\x00" * 7, b"\x1a", b"\r\n\x00\x1a  ", b"\xff\xfe"]
        )
        return text.encode("utf-8", "surrogatepass") + draw(padding)
    return text.encode("utf-16-le", errors="surrogatepass")


# model_construct skips validation, so the normalizer also sees what RawArticle would refuse
# (lone surrogates, over-long fields): renormalize and other callers may hand it anything.
RAW_ARTICLES = st.builds(
    RawArticle.model_construct,
    body=TEXT,
    title=st.one_of(st.none(), TEXT),
    url=URLS,
    # guid and source only ever come validated (RawArticle refuses lone surrogates there).
    guid=st.one_of(st.none(), st.text(max_size=30), st.just("\x00guid\x1f")),
    content_type=st.sampled_from(["text/plain", "text/html"]),
    published_at=DATES,
    source=st.one_of(st.none(), st.text(max_size=30)),
)


# --------------------------------------------------------------------------------------
# What every outcome must satisfy
# --------------------------------------------------------------------------------------


def assert_storable(text: str | None, what: str) -> None:
    if text is None:
        return
    text.encode("utf-8")  # strict: a lone surrogate would fail the database driver
    assert "\x00" not in text, f"{what} holds NUL, which Postgres text cannot store"


def assert_article_storable(article: NormalizedArticle) -> None:
    """What the storing transaction and the identity/dedup steps need from an article."""
    assert article.body.strip(), "an article with no body was not rejected"
    for name in ("title", "body", "url", "guid"):
        assert_storable(getattr(article, name), name)
    if article.published_at is not None:
        assert article.published_at.utcoffset() == timedelta(0)
    content_hash(article.body)
    paragraphs, shingles, sketch = sketch_body(article.body, LIMITS)  # with the opening's keys
    comparison = " ".join(text for _, text in paragraphs)
    assert comparison == " ".join(fingerprint_paragraphs(article.body))
    assert len(sketch.band_keys) == (LIMITS.lsh_bands + LIMITS.lead_bands if len(shingles) else 0)
    in_order = dedup.shingles_in_order(comparison, size=LIMITS.shingle_words)
    dedup.shared_passages(in_order, shingles)
    dedup.leading_containment(shingles, in_order)


def normalize_or_reject(raw: RawArticle) -> NormalizedArticle | None:
    try:
        article = normalize_article(
            raw, boilerplate=LIMITS.boilerplate, title_max_chars=LIMITS.title_max_chars
        )
    except RejectedInput as rejected:
        assert rejected.reason
        event(f"normalizer rejected: {rejected.reason}")
        return None
    event("normalized")
    assert_article_storable(article)
    assert len(article.title) <= LIMITS.title_max_chars
    return article


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzzed-seeds")


# --------------------------------------------------------------------------------------
# The seed reader
# --------------------------------------------------------------------------------------


class TestSeedReader:
    @FUZZ
    @given(data=seed_bytes())
    def test_any_bytes_decode_to_text_or_are_rejected(self, data: bytes) -> None:
        """decode_seed_bytes gives a str or raises RejectedInput (with the bytes)."""
        try:
            text = decode_seed_bytes(data)
        except RejectedInput as rejected:
            assert rejected.reason and rejected.raw == data
            return
        assert isinstance(text, str) and text.strip()

    @FUZZ
    @given(text=TEXT)
    def test_any_text_parses(self, text: str) -> None:
        """parse_seed_text never raises; without a date header the body is the whole text."""
        date, body = parse_seed_text(text)
        assert date is None or (len(date) == 10 and body in text)
        assert date is not None or body == text

    @FUZZ
    @given(data=seed_bytes(), max_bytes=st.sampled_from([1024, 2048, LIMITS.max_article_bytes]))
    def test_any_file_is_an_article_or_rejected(
        self, seed_dir: Path, data: bytes, max_bytes: int
    ) -> None:
        """A seed file of any bytes becomes a storable article or a RejectedInput, never
        another exception, whatever the size limit."""
        path = seed_dir / "001_fuzzed.txt"
        path.write_bytes(data)
        try:
            raw = read_seed_file(path, source=str(seed_dir), max_bytes=max_bytes)
        except RejectedInput as rejected:
            assert rejected.reason
            event("reader rejected: " + " ".join(rejected.reason.split(" ")[:2]))
            return
        assert len(data) <= max_bytes
        assert raw.extra["path"] == str(path) and raw.content_type == "text/plain"
        normalize_or_reject(raw)


# --------------------------------------------------------------------------------------
# The normalizer
# --------------------------------------------------------------------------------------


class TestNormalizer:
    @FUZZ
    @given(raw=RAW_ARTICLES)
    def test_any_article_normalizes_or_is_rejected(self, raw: RawArticle) -> None:
        """Any RawArticle (text or HTML, odd dates and URLs) normalizes to a storable
        article or raises RejectedInput."""
        normalize_or_reject(raw)

    @FUZZ
    @given(
        body=st.lists(
            st.one_of(HTML_PIECES, WORDS, CONTROLS, SURROGATES, MOJIBAKE), min_size=1, max_size=60
        ).map("".join)
    )
    def test_html_soup_normalizes_or_is_rejected(self, body: str) -> None:
        """HTML fragments glued together at random, labelled as HTML or as plain text,
        leave no tag start behind."""
        for content_type in ("text/html", "text/plain"):
            article = normalize_or_reject(
                RawArticle.model_construct(body=body, content_type=content_type)
            )
            if article is not None:
                assert "<script" not in article.body.lower()

    @settings(max_examples=20, deadline=None)
    @given(
        piece=st.one_of(HTML_PIECES, MOJIBAKE, ODD_UNICODE, SURROGATES),
        repeat=st.integers(min_value=1_000, max_value=20_000),
    )
    def test_long_repetitions_normalize_or_are_rejected(self, piece: str, repeat: int) -> None:
        """One hostile fragment repeated thousands of times: no exception, no blow-up."""
        for content_type in ("text/html", "text/plain"):
            normalize_or_reject(
                RawArticle.model_construct(body=piece * repeat, content_type=content_type)
            )
