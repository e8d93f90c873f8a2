"""Tests for worker.pipeline.normalize: text, HTML, titles, dates, URLs and fingerprints."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.articles import RawArticle
from worker.errors import RejectedInput
from worker.pipeline.normalize import (
    NORMALIZER_VERSION,
    NormalizedArticle,
    canonical_url,
    clean_text,
    derive_title,
    fingerprint_paragraphs,
    fingerprint_text,
    html_to_text,
    looks_like_notice,
    normalize_article,
    parse_published,
)
from worker.settings import DEFAULT_BOILERPLATE
from worker.sources.seeds import read_seed_file

SAMPLE_SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_d9f37a4187b141f7.txt"
HEADINGS = (
    "Escalating Tensions and Diplomatic Maneuvers",
    "US-Israel Relations at a Crossroads",
    "Global Reaction and the Path Forward",
)
# What must never come out of HTML: the start of a tag, or a trace of executable content.
TAG_START = re.compile(r"<[a-zA-Z/!?]")
EXECUTABLE_TRACES = ("alert", "javascript", "onerror", "onload", "evil()")

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# Fragments that exercise the interesting paths: mojibake, markup, entities, controls,
# boilerplate, line breaks, combining marks, sentence ends.
FRAGMENTS = st.sampled_from(
    [
        "donâ€™t", "cafÃ©", "Â ", "Ã", "\x80", "\x9d", "\u0301", "e", "<", ">", "<b>", "</p>",
        "<p>", "<script>", "</script>", "<style>", "&lt;", "&amp;", "&#x27;", "&nbsp;", "\n",
        "\n\n", "\r\n", "\r", " ", "\xa0", "\x00", "\x1b[31m", "Advertisement", "ADVERTISMENT:",
        ".", "U.S.", "Mr.", "?", " The", "word", "\u2028", "\u2029", "\ufeff", "\u00ad",
        "\u200b", "\u2019", "\u201c", "<!--", "-->", "\t", "\x0c", "\u202e", "<a href=x>",
        "<img onerror=evil()>", "<div>", "</div>", "<br>", "é", "ß“",
    ]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(FRAGMENTS, max_size=40).map("".join),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=6)), max_size=30).map("".join),
)


def _raw(body: str, **fields: object) -> RawArticle:
    return RawArticle.model_validate({"body": body, **fields})


@pytest.fixture(scope="module")
def article() -> NormalizedArticle:
    """The sample seed shipped in seeds/, read and normalized end to end."""
    raw = read_seed_file(SAMPLE_SEED, source="seeds", max_bytes=1 << 20)
    return normalize_article(raw)


class TestSampleSeed:
    def test_title_is_first_sentence_cut_at_a_word(self, article: NormalizedArticle) -> None:
        """The title is the first sentence, cut at a word boundary within 200 characters."""
        assert article.title.startswith("In a move that has sent ripples through international")
        assert len(article.title) <= 200
        assert article.title.endswith("\u2026")
        prefix = article.title[:-1]
        assert article.body.startswith(prefix)
        assert article.body[len(prefix)] == " "

    def test_paragraphs_are_separated_by_one_blank_line(self, article: NormalizedArticle) -> None:
        """The body keeps the seed's eight paragraphs, each on one line, with no edge space."""
        paragraphs = article.body.split("\n\n")
        assert len(paragraphs) == 8
        assert all(p and p == p.strip() and "\n" not in p for p in paragraphs)

    def test_headings_stay_their_own_paragraphs(self, article: NormalizedArticle) -> None:
        """Short lines without end punctuation are kept as paragraphs of their own."""
        paragraphs = article.body.split("\n\n")
        for heading in HEADINGS:
            assert heading in paragraphs

    def test_advertisment_lines_are_dropped(self, article: NormalizedArticle) -> None:
        """The misspelt `Advertisment` boilerplate lines are gone."""
        assert "Advertisment" not in article.body

    def test_date_header_becomes_midnight_utc(self, article: NormalizedArticle) -> None:
        """`date 2024-03-24` becomes 2024-03-24T00:00Z with no warning."""
        assert article.published_at == datetime(2024, 3, 24, tzinfo=UTC)
        assert article.warnings == ()

    def test_no_url_or_guid(self, article: NormalizedArticle) -> None:
        """Seeds have no URL or guid."""
        assert article.url is None
        assert article.guid is None


class TestCleanText:
    def test_crlf_and_cr_become_lf(self) -> None:
        """CRLF and lone CR line ends are read as LF."""
        text = "First para\r\ncontinues.\r\n\r\nSecond.\r\rThird."
        assert clean_text(text, boilerplate=()) == "First para continues.\n\nSecond.\n\nThird."

    def test_whitespace_is_folded_inside_paragraphs(self) -> None:
        """Runs of spaces, tabs and single newlines inside a paragraph become one space."""
        text = "  A  line\twith\n   spaces \n\n\n\n  Next\xa0one  "
        assert clean_text(text, boilerplate=()) == "A line with spaces\n\nNext one"

    @pytest.mark.parametrize(
        "line",
        [
            "Advertisment",
            "ADVERTISEMENT",
            "Advertisement:",
            "- Advertisement -",
            "  advertisement  ",
            "Story continues below advertisement",
            "SPONSORED CONTENT",
        ],
    )
    def test_boilerplate_lines_are_dropped(self, line: str) -> None:
        """Boilerplate lines go whatever their case, punctuation and spacing."""
        text = f"Before.\n\n{line}\n\nAfter.\n{line}\nEnd."
        assert clean_text(text, boilerplate=DEFAULT_BOILERPLATE) == "Before.\n\nAfter. End."

    def test_text_mentioning_boilerplate_is_kept(self) -> None:
        """Only whole lines equal to a phrase are boilerplate, not sentences using the word."""
        text = "Advertisement revenue fell 5%."
        assert clean_text(text, boilerplate=DEFAULT_BOILERPLATE) == text

    def test_boilerplate_list_is_configurable(self) -> None:
        """Any collection of phrases works, compared case-insensitively."""
        text = "Read more:\n\nStory.\n\nShare this article"
        phrases = ["READ MORE", "share this article"]
        assert clean_text(text, boilerplate=phrases) == "Story."
        assert clean_text(text, boilerplate=frozenset(phrases)) == "Story."

    def test_control_characters_and_trailing_noise_are_removed(self) -> None:
        """NULs, stray controls, terminal escapes and trailing noise do not survive."""
        text = "Te\x00xt \x1b[31mred\x1b[0m\x07 here.\x7f\n\n\x00\x00\x1a  \n"
        assert clean_text(text, boilerplate=()) == "Text red here."

    @pytest.mark.parametrize(
        ("broken", "fixed"),
        [
            ("donâ€™t", "don\u2019t"),
            ("cafÃ©", "caf\u00e9"),
            ("â€œquotedâ€\x9d", "\u201cquoted\u201d"),
            ("naÃ¯ve rÃ©sumÃ©", "na\u00efve r\u00e9sum\u00e9"),
            ("Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "\u043f\u0440\u0438\u0432\u0435\u0442"),
        ],
    )
    def test_mojibake_is_repaired(self, broken: str, fixed: str) -> None:
        """UTF-8 read as cp1252/Latin-1 is repaired, and curly quotes stay curly."""
        assert clean_text(f"They {broken} it.", boilerplate=()) == f"They {fixed} it."

    @pytest.mark.parametrize(
        "text",
        [
            "Ça va \u2014 \u201ctrès\u201d bien, l\u2019été.",
            "Le caf\u00e9\u00a0\u00bb est fermé.".replace("\u00a0", " "),
            "Gru\u00df\u201c und \u00c4rger, \u00fcberall.",
            "\u041f\u0440\u0438\u0432\u0435\u0442, \u4e16\u754c! \U0001f600\u200d\U0001f4bb",
        ],
    )
    def test_correct_non_ascii_text_is_untouched(self, text: str) -> None:
        """Legitimate accents, quotes, scripts and emoji are not "repaired"."""
        assert clean_text(text, boilerplate=()) == text

    def test_text_is_nfc(self) -> None:
        """Decomposed characters are composed (Unicode NFC)."""
        assert clean_text("Cafe\u0301 cre\u0300me", boilerplate=()) == "Caf\u00e9 cr\u00e8me"

    def test_invisible_format_characters_are_removed(self) -> None:
        """Soft hyphens, zero-width spaces, BOMs and bidi overrides are removed."""
        text = "\ufeffin\u00adfor\u200bma\u202etion"
        assert clean_text(text, boilerplate=()) == "information"

    def test_unicode_line_separators_split_lines(self) -> None:
        """U+2029 separates paragraphs and U+2028 lines."""
        assert clean_text("a\u2028b\u2029c", boilerplate=()) == "a b\n\nc"

    def test_blank_input_gives_empty_text(self) -> None:
        """Nothing but whitespace and noise cleans to the empty string."""
        assert clean_text(" \n\x00\r\n\t\u200b ", boilerplate=()) == ""

    @PROPERTY_SETTINGS
    @given(text=TEXTS)
    def test_is_idempotent(self, text: str) -> None:
        """Cleaning clean text changes nothing."""
        once = clean_text(text, boilerplate=DEFAULT_BOILERPLATE)
        assert clean_text(once, boilerplate=DEFAULT_BOILERPLATE) == once


class TestHtmlToText:
    def test_block_elements_become_paragraphs(self) -> None:
        """p, h1-h6, li, div and br end paragraphs; inline elements do not."""
        html = (
            "<h1>Head</h1><p>One <b>bold</b> <a href='/x'>link</a>.</p>"
            "<ul><li>first</li><li>second</li></ul><div>div<br>after br</div>"
        )
        assert html_to_text(html) == "Head\n\nOne bold link.\n\nfirst\n\nsecond\n\ndiv\n\nafter br"

    def test_source_newlines_are_not_paragraph_breaks(self) -> None:
        """Line breaks in the HTML source are whitespace, as a browser shows them."""
        assert html_to_text("<p>one\n\ntwo\nthree</p>") == "one two three"

    def test_entities_are_decoded(self) -> None:
        """Named and numeric entities come out as characters."""
        html = "<p>Tom &amp; Jerry&nbsp;&eacute;t&eacute; &#8220;x&#8221; &#x2019; &lt;3</p>"
        assert html_to_text(html) == "Tom & Jerry \u00e9t\u00e9 \u201cx\u201d \u2019 <3"

    @pytest.mark.parametrize(
        "html",
        [
            "<p>Safe</p><script>alert(1)</script>",
            "<p>Safe</p><SCRIPT type='text/javascript'>evil()</SCRIPT >",
            "<p>Safe</p><style>body{background:url(javascript:alert(1))}</style>",
            "<p>Safe</p><iframe src='javascript:alert(1)'>alert</iframe>",
            "<p>Safe</p><img src=x onerror=alert(1)>",
            "<p>Safe</p><a href='javascript:alert(1)' onclick='evil()'></a>",
            "<p>Safe</p><svg onload=alert(1)><script>alert(1)</script></svg>",
            "<p>Safe</p><math><mtext><script>alert(1)</script></mtext></math>",
            "<p>Safe</p><object data='javascript:alert(1)'>alert</object>",
            "<p>Safe</p><embed src='javascript:alert(1)'>",
            "<p>Safe</p><noscript><p>alert</p></noscript>",
            "<p>Safe</p><template><script>alert(1)</script></template>",
            "<p>Safe</p><textarea><script>alert(1)</script></textarea>",
            "<p>Safe</p><title><script>alert(1)</script></title>",
            "<p>Safe</p><xmp><script>alert(1)</script></xmp>",
            "<p>Safe</p><plaintext><script>alert(1)</script>",
            "<p>Safe</p><!-- <script>alert(1)</script> -->",
            "<p>Safe</p>&lt;script&gt;alert(1)&lt;/script&gt;",
            "<p>Safe</p>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
            "<p>Safe</p><div style='x:expression(alert(1))'></div>",
            "<p>Safe</p><select><option>alert</option></select>",
        ],
    )
    def test_nothing_executable_survives(self, html: str) -> None:
        """Script, style, iframe, event handlers and javascript: never reach the text."""
        text = html_to_text(html)
        assert text.startswith("Safe")
        assert not TAG_START.search(text)
        for trace in EXECUTABLE_TRACES:
            assert trace not in text.lower()

    def test_double_escaped_markup_is_parsed_again(self) -> None:
        """Markup escaped twice (common in feeds) comes out as text, not as tags."""
        assert html_to_text("&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;") == "Hello world"

    def test_plain_less_than_signs_are_text(self) -> None:
        """A "<" that starts no tag is text."""
        assert html_to_text("<p>x < y and 3<4</p>") == "x < y and 3<4"

    @pytest.mark.parametrize(
        "html",
        [
            "",
            "<",
            "<<<<>>>>",
            "</div></div></p>",
            "<p><b><i>unclosed",
            "<table><tr><td>a<td>b</table></table>",
            "<div <p>>",
            "<!--",
            "<![CDATA[x]]>",
            "<frameset><frame src=x></frameset>",
            "\x00<p>\x00</p>\ud800",
        ],
    )
    def test_malformed_html_does_not_raise(self, html: str) -> None:
        """Malformed HTML gives text without tags, never an exception."""
        assert not TAG_START.search(html_to_text(html))

    @pytest.mark.timeout(30)
    @pytest.mark.parametrize(
        ("html", "paragraphs"),
        [
            ("<div>x" * 100_000, 100_000),
            ("<section>" * 50_000 + "deep" + "</section>" * 50_000, 1),
            ("<span>" * 50_000 + "<div>x" * 50_000, 50_000),
        ],
    )
    def test_deep_nesting_is_linear(self, html: str, paragraphs: int) -> None:
        """Deeply nested HTML is handled in linear time (the parser alone is quadratic)."""
        started = time.perf_counter()
        text = html_to_text(html)
        assert len(text.split("\n\n")) == paragraphs
        assert time.perf_counter() - started < 20

    @PROPERTY_SETTINGS
    @given(html=TEXTS)
    def test_no_tag_ever_leaks(self, html: str) -> None:
        """Whatever the input, the output holds no tag opening."""
        assert not TAG_START.search(html_to_text(html))


class TestDeriveTitle:
    def test_first_sentence_without_final_period(self) -> None:
        """The title is the first sentence of the first paragraph, without its period."""
        assert derive_title("It rained. Then it stopped.\n\nMore.") == "It rained"

    def test_abbreviations_do_not_end_the_sentence(self) -> None:
        """Initials, initialisms and titles such as Mr. are not sentence ends."""
        body = "Mr. Smith met J. K. Rowling in the U.S. on Monday. Then he left."
        assert derive_title(body) == "Mr. Smith met J. K. Rowling in the U.S. on Monday"

    def test_question_and_quote_endings(self) -> None:
        """A question mark is kept, and a closing quote belongs to the sentence."""
        assert derive_title("Who won? Nobody.") == "Who won?"
        assert derive_title('He said "no." Then left.') == 'He said "no."'

    def test_heading_first_paragraph_is_the_title(self) -> None:
        """A first paragraph without end punctuation is used whole."""
        assert derive_title("Markets Rally\n\nStocks rose.") == "Markets Rally"

    def test_long_sentence_is_cut_at_a_word_with_ellipsis(self) -> None:
        """A long sentence is cut at a word boundary and ends with an ellipsis."""
        body = "word " * 100
        title = derive_title(body, max_chars=23)
        assert title == "word word word word\u2026"

    def test_single_long_word_is_hard_cut(self) -> None:
        """A word longer than the limit is cut inside it rather than dropped."""
        assert derive_title("x" * 300, max_chars=10) == "x" * 9 + "\u2026"

    @PROPERTY_SETTINGS
    @given(text=TEXTS, max_chars=st.integers(min_value=1, max_value=250))
    def test_never_longer_than_the_limit(self, text: str, max_chars: int) -> None:
        """The title never exceeds max_chars, and a cut title ends with an ellipsis."""
        body = clean_text(text, boilerplate=())
        title = derive_title(body, max_chars=max_chars)
        assert len(title) <= max_chars


class TestParsePublished:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-03-24", datetime(2024, 3, 24, tzinfo=UTC)),
            ("  2024-03-24  ", datetime(2024, 3, 24, tzinfo=UTC)),
            ("2024-03-24T10:00:00Z", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("2024-03-24t10:00:00z", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("2024-03-24T10:00:00+05:30", datetime(2024, 3, 24, 4, 30, tzinfo=UTC)),
            ("2024-03-24T10:00:00-0800", datetime(2024, 3, 24, 18, tzinfo=UTC)),
            ("2024-03-24T23:30:00.123456-02:00", datetime(2024, 3, 25, 1, 30, 0, 123456, UTC)),
            ("2024-03-24 10:00:00 +01:00", datetime(2024, 3, 24, 9, tzinfo=UTC)),
            ("2024-03-24 10:00 UTC", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("2024-03-24T10:00:00", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 +0000", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 GMT", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("24 Mar 2024 10:00:00 EST", datetime(2024, 3, 24, 15, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 PST", datetime(2024, 3, 24, 18, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 CET", datetime(2024, 3, 24, 9, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 -0000", datetime(2024, 3, 24, 10, tzinfo=UTC)),
            ("Sun, 24 Mar 2024 10:00:00 +0100 (CET)", datetime(2024, 3, 24, 9, tzinfo=UTC)),
            ("Sun, 24 Mar 24 10:00 -0500", datetime(2024, 3, 24, 15, tzinfo=UTC)),
            ("March 24, 2024", datetime(2024, 3, 24, tzinfo=UTC)),
        ],
    )
    def test_formats_are_converted_to_utc(self, value: str, expected: datetime) -> None:
        """ISO 8601, bare dates, RFC 822/2822 and zone names all give aware UTC datetimes."""
        parsed, warning = parse_published(value)
        assert (parsed, warning) == (expected, None)
        assert parsed is not None and parsed.tzinfo is UTC

    def test_unknown_zone_is_taken_as_utc_with_a_warning(self) -> None:
        """An unknown zone name keeps the date, as UTC, and says so."""
        parsed, warning = parse_published("Sun, 24 Mar 2024 10:00:00 XYZ")
        assert parsed == datetime(2024, 3, 24, 10, tzinfo=UTC)
        assert warning == "date zone unknown: XYZ, assumed UTC"

    @pytest.mark.parametrize("value", [None, "", "   \t"])
    def test_missing(self, value: str | None) -> None:
        """No date at all gives (None, "date missing")."""
        assert parse_published(value) == (None, "date missing")

    @pytest.mark.parametrize(
        "value",
        [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-03-24T25:00:00Z",
            "Fri, 30 Feb 2024 10:00:00 GMT",
            "yesterday",
            "2024",
            "x" * 500,
            "\x00\ud800",
        ],
    )
    def test_impossible_or_unparseable(self, value: str) -> None:
        """Impossible or unparseable dates give None and a "date invalid" warning."""
        parsed, warning = parse_published(value)
        assert parsed is None
        assert warning is not None and warning.startswith("date invalid: ")

    def test_impossible_date_warning_shows_the_value(self) -> None:
        """The warning quotes the value so an operator can find it."""
        assert parse_published("2024-02-30") == (None, "date invalid: 2024-02-30")

    def test_far_future_is_refused(self) -> None:
        """A date more than two days ahead is None with a warning; one day ahead is kept."""
        soon = datetime.now(UTC) + timedelta(days=1)
        later = datetime.now(UTC) + timedelta(days=3)
        assert parse_published(soon.isoformat())[0] is not None
        parsed, warning = parse_published(later.isoformat())
        assert parsed is None
        assert warning is not None and warning.startswith("date in the future: ")

    def test_before_1900_is_refused(self) -> None:
        """A date before 1900 is None with a warning."""
        assert parse_published("1899-12-31T23:00:00Z") == (
            None,
            "date before 1900: 1899-12-31T23:00:00Z",
        )

    def test_out_of_range_offsets_do_not_overflow(self) -> None:
        """Offsets that push a date past year 1 or 9999 are invalid, not an OverflowError."""
        assert parse_published("9999-12-31T23:59:59-23:59")[0] is None
        assert parse_published("0001-01-01T00:00:00+01:00")[0] is None

    @PROPERTY_SETTINGS
    @given(value=st.one_of(st.none(), st.text(max_size=80), TEXTS))
    def test_never_raises(self, value: str | None) -> None:
        """Any string gives an aware UTC datetime or None with a warning."""
        parsed, warning = parse_published(value)
        if parsed is None:
            assert warning
        else:
            assert parsed.utcoffset() == timedelta(0)


class TestCanonicalUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (
                "HTTP://Example.COM:80/a?utm_source=x&b=2&fbclid=1&a=1#frag",
                "http://example.com/a?b=2&a=1",
            ),
            ("https://example.com:443", "https://example.com/"),
            ("https://example.com:8443/x", "https://example.com:8443/x"),
            ("http://example.com:443/x", "http://example.com:443/x"),
            ("  https://example.com/a b \n", "https://example.com/a%20b"),
            ("https://b\u00fccher.de/", "https://xn--bcher-kva.de/"),
            ("https://B\u00dcCHER.de/", "https://xn--bcher-kva.de/"),
            ("https://user:secret@example.com/x", "https://example.com/x"),
            ("https://example.com./x", "https://example.com/x"),
            ("http://[::1]:8080/x", "http://[::1]:8080/x"),
            ("https://example.com/a?b=1&&c=2&", "https://example.com/a?b=1&c=2"),
            ("https://example.com/%7euser/%2f?q=%c3%a9", "https://example.com/~user/%2F?q=%C3%A9"),
            ("https://example.com/caf\u00e9", "https://example.com/caf%C3%A9"),
            ("https://example.com/x?utm%5Fsource=a&id=7", "https://example.com/x?id=7"),
            ("http://good.example\\@evil.example/", "http://good.example/@evil.example/"),
            (
                (
                    "https://example.com/?gclid=1&UTM_Campaign=b&mc_cid=c&mc_eid=d&igshid=e"
                    "&_ga=f&yclid=g&ref_src=h&msclkid=i&dclid=j&utm_anything=k"
                ),
                "https://example.com/",
            ),
            ("https://example.com/?z=1&a=2&m=3", "https://example.com/?z=1&a=2&m=3"),
        ],
    )
    def test_canonical_form(self, url: str, expected: str) -> None:
        """Scheme and host are lowered, defaults, fragments and trackers removed."""
        assert canonical_url(url) == expected

    @pytest.mark.parametrize(
        "url",
        [
            None,
            "",
            "   ",
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "mailto:news@example.com",
            "ftp://example.com/file",
            "/relative/path",
            "relative/path",
            "//example.com/protocol-relative",
            "example.com/no-scheme",
            "http://",
            "http:///path",
            "http://[::1",
            "http://example.com:99999/",
            "http://example.com:port/",
            "http://exa mple.com/",
            "http://-bad-.example/",
            "http://" + "a" * 64 + ".example/",
            "https://\ud800.example/",
        ],
    )
    def test_not_http_or_garbage_is_none(self, url: str | None) -> None:
        """Anything that is not a usable http(s) URL gives None, never an exception."""
        assert canonical_url(url) is None

    @PROPERTY_SETTINGS
    @given(url=st.one_of(st.text(max_size=200), TEXTS))
    def test_never_raises_and_is_idempotent(self, url: str) -> None:
        """Any string gives None or a canonical URL that canonicalizes to itself."""
        result = canonical_url(url)
        if result is not None:
            assert canonical_url(result) == result

    @PROPERTY_SETTINGS
    @given(
        scheme=st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript"]),
        host=st.sampled_from(["example.com", "EXAMPLE.com", "b\u00fccher.de", "[::1]", "x"]),
        port=st.sampled_from(["", ":80", ":443", ":8080"]),
        path=st.text(max_size=20),
        params=st.lists(
            st.tuples(
                st.one_of(
                    st.sampled_from(["utm_source", "UTM_MEDIUM", "fbclid", "gclid", "mc_eid"]),
                    st.text(alphabet="abcxyz_", min_size=1, max_size=5),
                ),
                st.text(alphabet="abc123", max_size=4),
            ),
            max_size=6,
        ),
        fragment=st.text(max_size=10),
    )
    def test_built_urls_lose_trackers_and_fragment(
        self,
        scheme: str,
        host: str,
        port: str,
        path: str,
        params: list[tuple[str, str]],
        fragment: str,
    ) -> None:
        """Output never has a fragment or a tracking parameter, and other params keep order."""
        query = "&".join(f"{key}={value}" for key, value in params)
        url = f"{scheme}://{host}{port}/{path}?{query}#{fragment}"
        result = canonical_url(url)
        if result is None:
            return
        assert "#" not in result
        assert canonical_url(result) == result
        keys = [key.lower() for key, _ in parse_qsl(urlsplit(result).query, keep_blank_values=True)]
        assert not any(key.startswith("utm_") for key in keys)
        assert not {"fbclid", "gclid", "mc_eid"} & set(keys)
        if "?" not in path and "#" not in path:
            expected = [k.lower() for k, _ in params if not k.lower().startswith("utm_")]
            assert keys == [k for k in expected if k not in {"fbclid", "gclid", "mc_eid"}]


class TestFingerprintText:
    def test_typography_does_not_matter(self) -> None:
        """Curly and straight quotes, dashes, ellipses and no-break spaces fingerprint alike."""
        curly = "Don\u2019t \u2014 \u201cstop\u201d\u2026 the party\u2019s\u00a0over"
        straight = "Don't -- \"stop\"... the party's over"
        assert fingerprint_text(curly) == fingerprint_text(straight)

    def test_lower_case_words_single_spaces(self) -> None:
        """Punctuation goes, words are lower-case and separated by single spaces."""
        text = "The U.S. (and EU)  agreed:\n\nstrife-torn, $3.3bn; 50% \uff21!"
        assert fingerprint_text(text) == "the u s and eu agreed strife torn 3 3bn 50 a"

    def test_combining_marks_stay_in_words(self) -> None:
        """Marks that NFKC cannot compose do not split a word."""
        assert fingerprint_text("\u0928\u092e\u0938\u094d\u0924\u0947 x") == (
            "\u0928\u092e\u0938\u094d\u0924\u0947 x"
        )

    def test_marks_left_by_a_dropped_apostrophe_are_composed(self) -> None:
        """A letter and a mark brought together by dropping punctuation are composed."""
        assert fingerprint_text("A\u2018\u0300") == "\u00e0"

    @PROPERTY_SETTINGS
    @given(text=TEXTS)
    def test_is_idempotent_and_collapsed(self, text: str) -> None:
        """The fingerprint of a fingerprint is itself, with no runs of whitespace."""
        fingerprint = fingerprint_text(text)
        assert fingerprint == " ".join(fingerprint.split())
        assert fingerprint_text(fingerprint) == fingerprint


class TestFingerprintParagraphs:
    @pytest.mark.parametrize(
        "dateline",
        [
            "SYDNEY (AAP) - ",
            "CANBERRA, Jan 5 (Reuters) -- ",
            "PERTH: ",
            "(AFP) ",
            "HOBART \u2014 ",
            "NEW YORK (AP) \u2013 ",
        ],
    )
    def test_a_dateline_does_not_change_the_lead(self, dateline: str) -> None:
        """The first paragraph fingerprints alike with and without a dateline."""
        body = "The council approved the budget.\n\nIt takes effect in January."
        assert (
            fingerprint_paragraphs(dateline + body)
            == fingerprint_paragraphs(body)
            == ["the council approved the budget", "it takes effect in january"]
        )

    def test_links_and_page_furniture_are_left_out(self) -> None:
        """ "Related:" links and lines of a few words (bylines, share and print lines) are
        not compared; the text paragraphs are."""
        text = "The council approved the new budget for schools and buses on Tuesday."
        body = (
            f"By Jane Doe\n\n{text}\n\nRelated: Council votes on the new budget for the "
            "city and its schools\n\nPrint this page"
        )
        assert fingerprint_paragraphs(body) == [fingerprint_text(text)]

    @pytest.mark.parametrize(
        "note",
        [
            "Update: ",
            "UPDATE - ",
            "Editor's note: ",
            "Editor\u2019s note: ",
            "Correction: ",
            "Latest \u2014 ",
        ],
    )
    def test_a_note_added_after_the_story_is_left_out(self, note: str) -> None:
        """An update or editor's note after the first paragraph is new text (often another
        story's lead), not the story a reprint carries; as the first paragraph it is kept."""
        text = "The council approved the new budget for schools and buses on Tuesday."
        added = note + "Police have named the man who died in a crash on the highway overnight."
        assert fingerprint_paragraphs(f"{text}\n\n{added}") == [fingerprint_text(text)]
        first, second = fingerprint_paragraphs(f"{added}\n\n{text}")  # ("UPDATE - " as a dateline)
        assert first.endswith(
            "police have named the man who died in a crash on the highway overnight"
        )
        assert second == fingerprint_text(text)

    def test_a_body_of_short_lines_keeps_them(self) -> None:
        """A text made only of short lines (a list, a poem) is compared as it is."""
        assert fingerprint_paragraphs("Roses are red\n\nViolets are blue") == [
            "roses are red",
            "violets are blue",
        ]

    def test_only_an_upper_case_place_before_a_separator_is_a_dateline(self) -> None:
        """An ordinary opening, a colon in a sentence, or a later paragraph keeps its words."""
        assert fingerprint_paragraphs("Officials said: no.\n\nPERTH: later") == [
            "officials said no",
            "perth later",
        ]


class TestLooksLikeNotice:
    @pytest.mark.parametrize(
        "notice",
        [
            "Copyright Australian Associated Press. All rights reserved.",
            "\u00a9 2026 The Daily Planet. This material may not be published, broadcast, rewritten or "
            "redistributed.",
            "Disclaimer: The views and opinions expressed in this article are those of the authors.",
            "This article was distributed by the Southern Cross news service.",
            "If you or someone you know needs help, call Lifeline on 13 11 14.",
            "Subscribe today for unlimited access to breaking news and analysis.",
            "Reporting by Jane Doe in Sydney; Editing by John Roe",
            "Do you have a story tip? Email our newsroom. Our corrections policy is on our website.",
            "The information is general in nature and does not constitute financial advice.",
        ],
    )
    def test_publishers_notices(self, notice: str) -> None:
        """Rights lines, disclaimers, credits, pitches, helplines and bylines of the desk."""
        assert looks_like_notice(fingerprint_text(notice))

    @pytest.mark.parametrize(
        "paragraph",
        [
            "Premier Peter Beattie says the Government is seeking legal advice about the case.",
            "In 1976 she retired from writing her newsletter and moved to Houston.",
            "Perhaps the time has come for us to sign up to a federal executive process.",
            "Animalia is an illustrated children's book. It was originally published in 1986.",
            "The court heard the band had breached copyright law when it sampled the song. " * 8,
        ],
    )
    def test_story_paragraphs_that_mention_such_things(self, paragraph: str) -> None:
        """One weak sign is not enough, and a long paragraph is a story about rights."""
        assert not looks_like_notice(fingerprint_text(paragraph))


class TestNormalizeArticle:
    def test_version_is_exported(self) -> None:
        """The normalizer version stored with articles is 1."""
        assert NORMALIZER_VERSION == 1

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ("", "text/plain"),
            ("  \n\r\n\t ", "text/plain"),
            ("\x00\x00\x1a", "text/plain"),
            ("Advertisement\n\nADVERTISMENT", "text/plain"),
            ("<script>alert(1)</script><style>p{}</style>", "text/html"),
            ("<p> </p><br><div></div>", "text/html"),
        ],
    )
    def test_empty_body_is_rejected(self, body: str, content_type: str) -> None:
        """An article with no text left is rejected with a clear reason."""
        with pytest.raises(RejectedInput, match="empty body after normalization"):
            normalize_article(_raw(body, content_type=content_type))

    def test_result_is_frozen(self) -> None:
        """A NormalizedArticle cannot be changed after the fact."""
        article = normalize_article(_raw("Text."))
        with pytest.raises(dataclasses.FrozenInstanceError):
            article.body = "other"  # type: ignore[misc]

    def test_html_body_is_converted(self) -> None:
        """A text/html body becomes plain text with paragraph breaks."""
        article = normalize_article(
            _raw(
                "<h2>Head</h2><p>Body &amp; more.</p><script>x()</script>", content_type="text/html"
            )
        )
        assert article.body == "Head\n\nBody & more."

    def test_html_labelled_plain_is_converted_with_a_warning(self) -> None:
        """Tags in a text/plain body are parsed anyway, and the article says so."""
        article = normalize_article(_raw("First.\n\n<p>Second <b>para</b>.</p><script>x</script>"))
        assert article.body == "First.\n\nSecond para."
        assert "body looked like HTML: converted to text" in article.warnings

    def test_plain_text_with_angle_brackets_is_left_alone(self) -> None:
        """A "<" that makes no tag keeps a plain body plain."""
        article = normalize_article(_raw("If x < y and <news@example.com> wrote, 2<3."))
        assert article.body == "If x < y and <news@example.com> wrote, 2<3."
        assert article.warnings == ("date missing",)

    def test_given_title_is_cleaned_and_cut(self) -> None:
        """A given title is cleaned, HTML in it is removed, and it respects the limit."""
        raw = _raw("Body.", title="  <b>Big</b>   news &amp; more\r\n")
        assert normalize_article(raw).title == "Big news & more"
        long_title = normalize_article(_raw("Body.", title="word " * 30), title_max_chars=22)
        assert long_title.title == "word word word word\u2026"

    def test_blank_title_falls_back_to_the_body(self) -> None:
        """A title that cleans to nothing is derived from the body instead."""
        assert normalize_article(_raw("It rained. More.", title=" <br> ")).title == "It rained"

    def test_identity_fields(self) -> None:
        """The URL is canonical, the guid stripped, and a blank guid is None."""
        raw = _raw("Body.", url="HTTPS://Example.com/a?utm_source=x#top", guid="  g-1 \n")
        article = normalize_article(raw)
        assert (article.url, article.guid) == ("https://example.com/a", "g-1")
        assert normalize_article(_raw("Body.", guid="  ", url="javascript:x")).guid is None
        assert normalize_article(_raw("Body.", url="javascript:x")).url is None

    @pytest.mark.parametrize(
        ("published_at", "warnings"),
        [
            (None, ("date missing",)),
            ("2024-02-30", ("date invalid: 2024-02-30",)),
            ("2999-01-01", ("date in the future: 2999-01-01",)),
        ],
    )
    def test_bad_dates_keep_the_article(
        self, published_at: str | None, warnings: tuple[str, ...]
    ) -> None:
        """A missing or impossible date leaves published_at None with a warning."""
        article = normalize_article(_raw("Body.", published_at=published_at))
        assert article.published_at is None
        assert article.warnings == warnings

    def test_custom_boilerplate(self) -> None:
        """The boilerplate list passed in is the one used."""
        raw = _raw("Story.\n\nSubscribe to our newsletter\n\nAdvertisement")
        article = normalize_article(raw, boilerplate=["subscribe to our newsletter"])
        assert article.body == "Story.\n\nAdvertisement"

    @PROPERTY_SETTINGS
    @given(
        body=TEXTS,
        content_type=st.sampled_from(["text/plain", "text/html"]),
        title=st.one_of(st.none(), TEXTS),
        published_at=st.one_of(st.none(), st.text(max_size=40)),
        url=st.one_of(st.none(), st.text(max_size=60)),
    )
    def test_only_rejected_input_is_raised(
        self,
        body: str,
        content_type: str,
        title: str | None,
        published_at: str | None,
        url: str | None,
    ) -> None:
        """Arbitrary text or HTML either normalizes or raises RejectedInput."""
        raw = _raw(body, content_type=content_type, title=title, published_at=published_at, url=url)
        try:
            article = normalize_article(raw)
        except RejectedInput:
            return
        assert article.body and len(article.title) <= 200
        assert not re.search(r"\n\n\n|^\s|\s$", article.body)
        if content_type == "text/html":
            assert not TAG_START.search(article.body)

    @PROPERTY_SETTINGS
    @given(body=TEXTS, content_type=st.sampled_from(["text/plain", "text/html"]))
    def test_is_idempotent_on_its_own_body(self, body: str, content_type: str) -> None:
        """Normalizing a normalized body again gives the same body."""
        try:
            once = normalize_article(_raw(body, content_type=content_type)).body
        except RejectedInput:
            return
        assert normalize_article(_raw(once)).body == once
