"""worker.sources.opml: reading subscription lists safely and writing them back."""

from __future__ import annotations

import pytest

from worker.sources.opml import OpmlError, OpmlFeed, parse_opml, render_opml

OPML_1 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<opml version="1.0"><head><title>My subscriptions</title></head><body>
<outline text="Caf\xe9 News" type="rss" xmlUrl="http://cafe.example.com/rss.xml" htmlUrl="http://cafe.example.com/"/>
<outline title="Second" text="ignored" xmlUrl="https://two.example.com/atom.xml"/>
</body></opml>"""

OPML_2_NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Nested</title></head><body>
<outline text="Tech">
  <outline text="Deep">
    <outline type="rss" text="Deep feed" xmlUrl="https://deep.example.com/feed"/>
  </outline>
  <outline type="rss" text="Tech feed" xmlurl="https://tech.example.com/feed?x=1&amp;y=2"/>
</outline>
<outline text="Just a link" type="link" url="https://example.com/page"/>
<outline text="No URL at all"/>
<outline text="Local file" xmlUrl="file:///etc/passwd"/>
<outline text="Script" xmlUrl="javascript:alert(1)"/>
<outline text="Old browser form" xmlUrl="feed://legacy.example.com/rss"/>
<outline text="Duplicate" xmlUrl="https://DEEP.example.com/feed#frag"/>
</body></opml>"""


class TestParse:
    def test_opml_1_flat(self) -> None:
        """OPML 1.0 with a legacy charset: URLs and titles (title, else text) come out."""
        assert parse_opml(OPML_1) == [
            OpmlFeed(url="http://cafe.example.com/rss.xml", title="Caf\u00e9 News"),
            OpmlFeed(url="https://two.example.com/atom.xml", title="Second"),
        ]

    def test_opml_2_nested_folders_are_flattened(self) -> None:
        """Nested outlines are walked; only http(s) xmlUrl outlines count; duplicates once."""
        feeds = parse_opml(OPML_2_NESTED)
        assert feeds == [
            OpmlFeed(url="https://deep.example.com/feed", title="Deep feed"),
            OpmlFeed(url="https://tech.example.com/feed?x=1&y=2", title="Tech feed"),
            OpmlFeed(url="http://legacy.example.com/rss", title="Old browser form"),
        ]

    def test_hundreds_of_feeds_round_trip(self) -> None:
        """500 feeds rendered and parsed back are the same 500, in order."""
        feeds = [
            (f"https://site{n}.example.com/feed.xml?page={n}&lang=en", f'Site <{n}> & "co"')
            for n in range(500)
        ]
        parsed = parse_opml(render_opml(feeds))
        assert [(f.url, f.title) for f in parsed] == feeds

    def test_not_well_formed_opml_is_read_leniently(self) -> None:
        """An unescaped & (common in real exports) does not lose the list."""
        broken = (
            b'<?xml version="1.0"?><opml version="2.0"><body>'
            b'<outline text="A & B" xmlUrl="https://a.example.com/feed?x=1&y=2"/>'
            b"<outline text='Single' xmlUrl='https://b.example.com/feed'/>"
            b"</body></opml>"
        )
        assert parse_opml(broken) == [
            OpmlFeed(url="https://a.example.com/feed?x=1&y=2", title="A & B"),
            OpmlFeed(url="https://b.example.com/feed", title="Single"),
        ]

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"not xml at all",
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            b"\x89PNG\r\n\x1a\n\x00\x00",
        ],
    )
    def test_non_opml_is_refused(self, data: bytes) -> None:
        """Anything that is not OPML raises OpmlError (a ValueError) with a reason."""
        with pytest.raises(OpmlError):
            parse_opml(data)

    def test_billion_laughs_is_refused_fast(self) -> None:
        """Entity declarations are refused before any expansion."""
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(
                b"<!ENTITY "
                + bytes([98 + i])
                + b' "'
                + (b"&" + bytes([97 + i]) + b";") * 10
                + b'">'
                for i in range(9)
            )
            + b']><opml version="2.0"><body><outline text="&j;" xmlUrl="https://e.com/f"/></body></opml>'
        )
        with pytest.raises(OpmlError, match="entity"):
            parse_opml(bomb)

    def test_external_entities_are_never_loaded(self) -> None:
        """An XXE pointing at a local file is refused; the file is never read into a title."""
        xxe = (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
            b'<opml version="2.0"><body><outline text="&x;" xmlUrl="https://e.com/f"/></body></opml>'
        )
        with pytest.raises(OpmlError):
            parse_opml(xxe)

    def test_doctype_without_entities_is_fine(self) -> None:
        """A harmless DOCTYPE line does not block an import."""
        data = b'<?xml version="1.0"?><!DOCTYPE opml><opml version="1.0"><body><outline xmlUrl="https://e.com/f"/></body></opml>'
        assert parse_opml(data) == [OpmlFeed(url="https://e.com/f", title=None)]


class TestRender:
    def test_render_is_valid_opml_2(self) -> None:
        """The export is OPML 2.0 with type="rss" outlines carrying text, title and xmlUrl."""
        data = render_opml([("https://e.com/feed", "E & Co")])
        text = data.decode("utf-8")
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        assert '<opml version="2.0">' in text
        assert 'text="E &amp; Co" title="E &amp; Co" xmlUrl="https://e.com/feed"' in text

    def test_untitled_feeds_use_their_url(self) -> None:
        """OPML requires text; a feed without a title is labelled with its URL."""
        assert parse_opml(render_opml([("https://e.com/feed", None)])) == [
            OpmlFeed(url="https://e.com/feed", title="https://e.com/feed")
        ]

    def test_control_characters_and_newlines_survive_as_valid_xml(self) -> None:
        """Characters XML forbids are dropped; newlines in titles round-trip."""
        parsed = parse_opml(render_opml([("https://e.com/feed", "Line\none\x00\x07 \u00e9")]))
        assert parsed == [OpmlFeed(url="https://e.com/feed", title="Line\none \u00e9")]
