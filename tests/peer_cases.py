"""Feeds of our own, written from the cases in the test suites of gofeed (testdata/),
Miniflux (internal/reader/*/parser_test.go), lemon24/reader (tests/data) and ROME
(rome/src/test/resources), with what those parsers give for each entry's title, link,
date and body. Scored by tests/peer_fidelity.py; a field marked in `conventions` differs
from the peer on purpose, as the README's "How feed entries are read" says.
"""

from __future__ import annotations

import json

from tests.peer_fidelity import Expected, PeerCase

E = Expected

CANONICAL = "canonical URLs: the link is stored canonicalized (tracking parameters dropped)"
DERIVED_TITLE = "an entry without a title gets one derived from its body"
NON_HTTP = "a non-http permalink (at://, urn:, tag:) is kept as the guid, never as the URL"
RICHEST = "the body is the longest of content and summary"
ABSOLUTE = "links are made absolute (xml:base, then the channel's link, then the feed URL)"


def rss(
    items: str, *, channel: str = "", link: str = "https://example.org/", ns: str = ""
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel>'
        f"<title>Example</title><link>{link}</link><description>d</description>"
        f"{channel}{items}</channel></rss>"
    ).encode()


def atom(entries: str, *, head: str = "", base: str = "") -> bytes:
    xml_base = f' xml:base="{base}"' if base else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{xml_base}>'
        f"<title>Example</title><id>urn:feed</id><updated>2024-01-01T00:00:00Z</updated>"
        f"{head}{entries}</feed>"
    ).encode()


def atom03(entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">'
        '<title>Example</title><link rel="alternate" type="text/html" href="http://example.org/"/>'
        f"<modified>2004-01-01T00:00:00Z</modified>{entries}</feed>"
    ).encode()


def rdf(items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="http://example.org/"><title>Example</title>'
        "<link>http://example.org/</link><description>d</description></channel>"
        f"{items}</rdf:RDF>"
    ).encode()


def json_feed(items: list[dict[str, object]], *, version: str = "1.1", **top: object) -> bytes:
    return json.dumps(
        {
            "version": f"https://jsonfeed.org/version/{version}",
            "title": "Example",
            **top,
            "items": items,
        }
    ).encode()


DC = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
CONTENT = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
FEEDBURNER = ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
PHEEDO = ' xmlns:pheedo="http://www.pheedo.com/namespace/pheedo"'


PEER_CASES: list[PeerCase] = [
    # ------------------------------------------------------------------ gofeed testdata
    PeerCase(
        "gofeed",
        "rss20_item_title",
        rss("<item><title>Item Title</title></item>"),
        [E(title="Item Title")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_title_entities",
        rss("<item><title>AT&amp;T &#8220;quoted&#8221;</title></item>"),
        [E(title="AT&T \u201cquoted\u201d")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_title_cdata_markup",
        rss("<item><title><![CDATA[<b>Bold</b> move]]></title><description>x</description></item>"),
        [E(title="<b>Bold</b> move")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_title_trailing_period",
        rss("<item><title>Markets closed higher.</title><description>x</description></item>"),
        [E(title="Markets closed higher.")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_link",
        rss("<item><title>t</title><link>http://example.org/item/1</link></item>"),
        [E(link="http://example.org/item/1")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_pubdate_rfc822",
        rss("<item><title>t</title><pubDate>Thu, 01 Jan 2004 19:48:21 GMT</pubDate></item>"),
        [E(date="2004-01-01T19:48:21+00:00")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_pubdate_offset",
        rss("<item><title>t</title><pubDate>Fri, 31 Dec 2010 23:59:59 -0800</pubDate></item>"),
        [E(date="2011-01-01T07:59:59+00:00")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_pubdate_named_zone",
        rss("<item><title>t</title><pubDate>Mon, 15 Jul 2019 10:00:00 EDT</pubDate></item>"),
        [E(date="2019-07-15T14:00:00+00:00")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_dc_date",
        rss("<item><title>t</title><dc:date>2012-05-04T09:10:11+02:00</dc:date></item>", ns=DC),
        [E(date="2012-05-04T07:10:11+00:00")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_description",
        rss(
            "<item><title>t</title><description>&lt;p&gt;Item &lt;b&gt;one&lt;/b&gt;.&lt;/p&gt;</description></item>"
        ),
        [E(body="<p>Item <b>one</b>.</p>")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_content_encoded",
        rss(
            "<item><title>t</title><description>Short teaser.</description>"
            "<content:encoded><![CDATA[<p>The whole story, in two paragraphs.</p><p>Second.</p>]]>"
            "</content:encoded></item>",
            ns=CONTENT,
        ),
        [E(body="<p>The whole story, in two paragraphs.</p><p>Second.</p>")],
    ),
    PeerCase(
        "gofeed",
        "rss20_item_guid_permalink_as_link",
        rss(
            '<item><title>t</title><guid isPermaLink="true">http://example.org/guid/1</guid></item>'
        ),
        [E(link="http://example.org/guid/1")],
    ),
    PeerCase(
        "gofeed",
        "rss20_two_items_order",
        rss(
            "<item><title>First</title><link>http://example.org/1</link></item>"
            "<item><title>Second</title><link>http://example.org/2</link></item>"
        ),
        [
            E(title="First", link="http://example.org/1"),
            E(title="Second", link="http://example.org/2"),
        ],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_title_html",
        atom(
            '<entry><id>1</id><title type="html">Fish &amp;amp; &lt;em&gt;Chips&lt;/em&gt;</title>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(title="Fish &amp; <em>Chips</em>")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_title_xhtml",
        atom(
            '<entry><id>1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            "Example <b>xhtml</b> title</div></title><updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(title="Example <b>xhtml</b> title")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_link_alternate_among_others",
        atom(
            '<entry><id>1</id><title>t</title><link rel="self" href="http://example.org/self"/>'
            '<link rel="enclosure" href="http://example.org/a.mp3"/>'
            '<link rel="alternate" type="text/html" href="http://example.org/alternate"/>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(link="http://example.org/alternate")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_link_no_rel",
        atom(
            '<entry><id>1</id><title>t</title><link href="http://example.org/norel"/>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(link="http://example.org/norel")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_published_and_updated",
        atom(
            "<entry><id>1</id><title>t</title><published>2003-12-13T08:29:29-04:00</published>"
            "<updated>2003-12-14T10:00:00Z</updated></entry>"
        ),
        [E(date="2003-12-13T12:29:29+00:00")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_updated_only",
        atom(
            "<entry><id>1</id><title>t</title><updated>2003-12-13T18:30:02.25+01:00</updated></entry>"
        ),
        [E(date="2003-12-13T17:30:02+00:00")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_content_xhtml",
        atom(
            "<entry><id>1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>"
            '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Some <i>xhtml</i> content.</p></div></content></entry>'
        ),
        [E(body="<p>Some <i>xhtml</i> content.</p>")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_content_escaped",
        atom(
            "<entry><id>1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>"
            '<content type="html">&lt;p&gt;Escaped &amp;amp; content.&lt;/p&gt;</content></entry>'
        ),
        [E(body="<p>Escaped &amp; content.</p>")],
    ),
    PeerCase(
        "gofeed",
        "atom10_entry_summary_only",
        atom(
            "<entry><id>1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>"
            "<summary>Plain summary text.</summary></entry>"
        ),
        [E(body="Plain summary text.")],
    ),
    PeerCase(
        "gofeed",
        "atom10_xml_base_relative_link",
        atom(
            '<entry><id>1</id><title>t</title><link href="posts/1"/><updated>2024-01-01T00:00:00Z</updated></entry>',
            base="http://example.org/blog/",
        ),
        [E(link="http://example.org/blog/posts/1")],
    ),
    PeerCase(
        "gofeed",
        "atom10_xml_base_nested",
        atom(
            '<entry xml:base="http://other.example/e/"><id>1</id><title>t</title><link href="2"/>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>",
            base="http://example.org/",
        ),
        [E(link="http://other.example/e/2")],
    ),
    PeerCase(
        "gofeed",
        "atom03_entry_issued",
        atom03(
            '<entry><title>t</title><link rel="alternate" type="text/html" href="http://example.org/1"/>'
            "<id>1</id><issued>2004-01-01T19:48:21Z</issued><modified>2004-01-01T19:48:21Z</modified></entry>"
        ),
        [E(date="2004-01-01T19:48:21+00:00", link="http://example.org/1")],
    ),
    PeerCase(
        "gofeed",
        "atom03_entry_issued_offset",
        atom03(
            "<entry><title>t</title><id>1</id><issued>2003-12-13T18:30:02+01:00</issued>"
            "<modified>2003-12-13T18:30:02+01:00</modified></entry>"
        ),
        [E(date="2003-12-13T17:30:02+00:00")],
    ),
    PeerCase(
        "gofeed",
        "atom03_entry_modified_only",
        atom03(
            "<entry><title>t</title><id>1</id><modified>2003-12-13T08:29:29-05:00</modified></entry>"
        ),
        [E(date="2003-12-13T13:29:29+00:00")],
    ),
    PeerCase(
        "gofeed",
        "atom03_entry_content_escaped",
        atom03(
            "<entry><title>t</title><id>1</id><modified>2004-01-01T00:00:00Z</modified>"
            '<content type="text/html" mode="escaped">&lt;p&gt;Zero three.&lt;/p&gt;</content></entry>'
        ),
        [E(body="<p>Zero three.</p>")],
    ),
    PeerCase(
        "gofeed",
        "atom03_entry_content_base64",
        atom03(
            "<entry><title>t</title><id>1</id><modified>2004-01-01T00:00:00Z</modified>"
            '<content type="text/plain" mode="base64">RXhhbXBsZSA8Yj5UZXN0PC9iPg==</content></entry>'
        ),
        [E(body="Example &lt;b&gt;Test&lt;/b&gt;")],
    ),
    PeerCase(
        "gofeed",
        "rss10_item",
        rdf(
            '<item rdf:about="http://example.org/r1"><title>RDF item</title><link>http://example.org/r1</link>'
            "<dc:date>2002-09-07T00:00:01Z</dc:date><description>RDF body.</description></item>"
        ),
        [
            E(
                title="RDF item",
                link="http://example.org/r1",
                date="2002-09-07T00:00:01+00:00",
                body="RDF body.",
            )
        ],
    ),
    PeerCase(
        "gofeed",
        "rss091_item",
        b'<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title><link>http://example.org/</link>'
        b"<description>d</description><language>en</language><item><title>Old item</title>"
        b"<link>http://example.org/old</link><description>Old body.</description></item></channel></rss>",
        [E(title="Old item", link="http://example.org/old", body="Old body.")],
    ),
    PeerCase(
        "gofeed",
        "json10_item",
        json_feed(
            [
                {
                    "id": "1",
                    "title": "JSON one",
                    "url": "https://example.org/j1",
                    "content_html": "<p>JSON <b>body</b>.</p>",
                    "date_published": "2010-02-07T14:04:00-05:00",
                }
            ],
            version="1",
        ),
        [
            E(
                title="JSON one",
                link="https://example.org/j1",
                date="2010-02-07T19:04:00+00:00",
                body="<p>JSON <b>body</b>.</p>",
            )
        ],
        content_type="application/json",
    ),
    PeerCase(
        "gofeed",
        "json11_content_text_and_modified",
        json_feed(
            [
                {
                    "id": "2",
                    "url": "https://example.org/j2",
                    "content_text": "Just text.",
                    "date_modified": "2021-03-04T05:06:07Z",
                }
            ]
        ),
        [
            E(
                title=None,
                link="https://example.org/j2",
                date="2021-03-04T05:06:07+00:00",
                body="Just text.",
            )
        ],
        content_type="application/feed+json",
    ),
    PeerCase(
        "gofeed",
        "issue_358_xml_base_file",
        b'<rss version="2.0" xml:base="https://example.com/feeds/feed.xml"><channel>'
        b"<item><title>a</title><link>post</link></item>"
        b'<item xml:base="archive/"><title>b</title><link>post</link></item>'
        b"<item><title>c</title><link>#part</link></item></channel></rss>",
        [
            E(link="https://example.com/feeds/post"),
            E(link="https://example.com/feeds/archive/post"),
            E(link="https://example.com/feeds/feed.xml#part"),
        ],
        feed_url="https://elsewhere.example/f.xml",
    ),
    PeerCase(
        "gofeed",
        "issue_305_bare_ampersand",
        b'<rss version="2.0"><channel><title>t</title><item>'
        b"<title>Fish & Chips &amp; more &lt;3</title><description>x</description></item></channel></rss>",
        [E(title="Fish & Chips & more <3")],
    ),
    # ------------------------------------------------------------------ Miniflux tests
    PeerCase(
        "miniflux",
        "feedburner_origlink",
        rss(
            "<item><title>Item 1</title><link>http://feedproxy.google.com/~r/example/~3/abc/</link>"
            "<feedburner:origLink>http://example.org/original</feedburner:origLink></item>",
            ns=FEEDBURNER,
        ),
        [E(link="http://example.org/original")],
    ),
    PeerCase(
        "miniflux",
        "atom_feedburner_origlink",
        atom(
            '<entry xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><id>1</id><title>t</title>'
            '<link href="http://feedproxy.google.com/~r/x/~3/1/"/><feedburner:origLink>https://example.org/atom-original</feedburner:origLink>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(link="https://example.org/atom-original")],
    ),
    PeerCase(
        "miniflux",
        "pheedo_origlink",
        rss(
            "<item><title>t</title><link>http://www.pheedo.com/click.phdo?i=1</link>"
            "<pheedo:origLink>http://example.org/pheedo-original</pheedo:origLink></item>",
            ns=PHEEDO,
        ),
        [E(link="http://example.org/pheedo-original")],
    ),
    PeerCase(
        "miniflux",
        "relative_link_against_channel_link",
        rss(
            "<item><title>t</title><link>item.html</link></item>", link="https://site.example/blog/"
        ),
        [E(link="https://site.example/blog/item.html")],
        feed_url="https://feeds.example/x.xml",
    ),
    PeerCase(
        "miniflux",
        "absolute_path_link_against_channel_link",
        rss("<item><title>t</title><link>/posts/1</link></item>", link="https://site.example/"),
        [E(link="https://site.example/posts/1")],
        feed_url="https://cdn.example/feed.xml",
    ),
    PeerCase(
        "miniflux",
        "relative_link_without_channel_link",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>t</title><link>/a/b</link></item></channel></rss>",
        [E(link="https://feeds.example/a/b")],
        feed_url="https://feeds.example/feed.xml",
    ),
    PeerCase(
        "miniflux",
        "title_whitespace",
        rss(
            "<item><title>\n\t\t\t\tSome Title\n\t\t\t</title><link>http://www.example.org/entries/1</link>"
            "<pubDate>Fri, 15 Jul 2005 00:00:00 -0500</pubDate></item>"
        ),
        [E(title="Some Title", date="2005-07-15T05:00:00+00:00")],
    ),
    PeerCase(
        "miniflux",
        "date_without_zone",
        rss("<item><title>t</title><pubDate>2019-09-29T23:40:06</pubDate></item>"),
        [E(date="2019-09-29T23:40:06+00:00")],
    ),
    PeerCase(
        "miniflux",
        "content_encoded_over_description",
        rss(
            "<item><title>Item 1</title><link>http://example.org/item1</link><description>Description.</description>"
            '<guid isPermaLink="false">UUID</guid><content:encoded><![CDATA[<p><a href="http://www.example.org/">Example</a>.</p>]]>'
            "</content:encoded></item>",
            ns=CONTENT,
        ),
        [E(body='<p><a href="http://www.example.org/">Example</a>.</p>')],
    ),
    PeerCase(
        "miniflux",
        "description_longer_than_content",
        rss(
            "<item><title>t</title><description>A long description that says far more than the content does.</description>"
            "<content:encoded><![CDATA[<p>Short.</p>]]></content:encoded></item>",
            ns=CONTENT,
        ),
        [E(body="<p>Short.</p>")],
        conventions={"body": RICHEST},
    ),
    PeerCase(
        "miniflux",
        "entry_without_title",
        rss(
            "<item><link>http://example.org/no-title</link><description>Body of an untitled entry. More.</description></item>"
        ),
        [E(title=None, link="http://example.org/no-title")],
        conventions={"title": DERIVED_TITLE},
    ),
    PeerCase(
        "miniflux",
        "guid_not_permalink_with_link",
        rss(
            '<item><title>t</title><link>https://example.org/a</link><guid isPermaLink="false">1234</guid></item>'
        ),
        [E(link="https://example.org/a")],
    ),
    PeerCase(
        "miniflux",
        "bluesky_at_uri_guid",
        rss(
            "<item><link>https://bsky.app/profile/someone.example/post/3k</link><description>A post.</description>"
            '<guid isPermaLink="false">at://did:plc:abc/app.bsky.feed.post/3k</guid>'
            "<pubDate>01 Jan 2024 10:00 +0000</pubDate></item>"
        ),
        [
            E(
                link="https://bsky.app/profile/someone.example/post/3k",
                date="2024-01-01T10:00:00+00:00",
            )
        ],
    ),
    PeerCase(
        "miniflux",
        "at_uri_as_only_link",
        rss(
            "<item><title>t</title><link>at://did:plc:abc/app.bsky.feed.post/9z</link><description>x</description></item>"
        ),
        [E(link="at://did:plc:abc/app.bsky.feed.post/9z")],
        conventions={"link": NON_HTTP},
    ),
    PeerCase(
        "miniflux",
        "link_with_tracking_parameters",
        rss(
            "<item><title>t</title><link>https://example.org/a?utm_source=rss&amp;id=7</link></item>"
        ),
        [E(link="https://example.org/a?utm_source=rss&id=7")],
    ),
    PeerCase(
        "miniflux",
        "fragment_links_in_a_changelog",
        rss(
            "<item><title>v2</title><link>https://example.org/changelog#v2</link><description>Two.</description></item>"
            "<item><title>v1</title><link>https://example.org/changelog#v1</link><description>One.</description></item>"
        ),
        [E(link="https://example.org/changelog#v2"), E(link="https://example.org/changelog#v1")],
    ),
    PeerCase(
        "miniflux",
        "atom_multiple_alternate_first_html",
        atom(
            '<entry><id>1</id><title>t</title><link rel="alternate" type="text/html" href="https://example.org/html"/>'
            '<link rel="alternate" type="application/pdf" href="https://example.org/pdf"/>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(link="https://example.org/html")],
    ),
    PeerCase(
        "miniflux",
        "atom_relative_link_no_base",
        atom(
            '<entry><id>1</id><title>t</title><link href="/entry/1"/><updated>2024-01-01T00:00:00Z</updated></entry>'
        ),
        [E(link="https://example.org/entry/1")],
    ),
    PeerCase(
        "miniflux",
        "json_feed_external_url",
        json_feed(
            [
                {
                    "id": "1",
                    "title": "Linked",
                    "external_url": "https://elsewhere.example/x",
                    "content_text": "See there.",
                }
            ]
        ),
        [E(link="https://elsewhere.example/x", title="Linked")],
        content_type="application/feed+json",
    ),
    PeerCase(
        "miniflux",
        "json_feed_relative_url",
        json_feed(
            [{"id": "1", "url": "/posts/1", "content_text": "Rel."}],
            home_page_url="https://site.example/",
        ),
        [E(link="https://site.example/posts/1")],
        content_type="application/feed+json",
        feed_url="https://cdn.example/feed.json",
    ),
    PeerCase(
        "miniflux",
        "json_feed_numeric_id_and_summary",
        json_feed(
            [
                {
                    "id": 42,
                    "title": "Numbered",
                    "url": "https://example.org/42",
                    "summary": "Only a summary.",
                }
            ],
            version="1",
        ),
        [E(title="Numbered", body="Only a summary.")],
        content_type="application/json",
    ),
    PeerCase(
        "miniflux",
        "atom_relative_links_against_the_feed_url",
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b'<title>Example Feed</title><link href="/blog/atom.xml" rel="self" type="application/atom+xml"/>'
        b'<link href="/blog"/><entry><title>Test</title><link href="/blog/article.html"/>'
        b'<link href="/blog/article.html" rel="alternate" type="text/html"/><id>/blog/article.html</id>'
        b"<updated>2003-12-13T18:30:02Z</updated><summary>Some text.</summary></entry></feed>",
        [E(link="https://example.org/blog/article.html", date="2003-12-13T18:30:02+00:00")],
        feed_url="https://example.org/",
    ),
    PeerCase(
        "miniflux",
        "atom_relative_link_against_the_site_not_the_feed",
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b'<title>Example Feed</title><link href="http://example.org/"/><entry><title>Test</title>'
        b'<link href="something.html"/><id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>'
        b"<updated>2003-12-13T18:30:02Z</updated><summary>Some text.</summary></entry></feed>",
        [E(title="Test", link="http://example.org/something.html", body="Some text.")],
        feed_url="https://example.net/",
    ),
    PeerCase(
        "miniflux",
        "rss_link_only_item_titled_by_its_url",
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        b"<link>https://example.org/</link><item><link>item.html</link></item></channel></rss>",
        [E(title="https://example.org/item.html")],
        feed_url="https://example.org/",
    ),
    # ------------------------------------------------------------------ lemon24/reader
    PeerCase(
        "reader",
        "full_rss",
        rss(
            "<item><title>Title</title><link>http://www.example.com/blog/post/1</link>"
            '<guid isPermaLink="false">7bd204c6-1655-4c27-aeee-53f933c5395f</guid>'
            "<pubDate>Sun, 06 Sep 2009 16:20:00 +0000</pubDate>"
            "<description>Here is some text containing an interesting description.</description>"
            "<content:encoded><![CDATA[<p>Here is some text containing an interesting description, and more.</p>]]></content:encoded>"
            "</item>",
            ns=CONTENT,
            link="http://www.example.com/main.html",
        ),
        [
            E(
                title="Title",
                link="http://www.example.com/blog/post/1",
                date="2009-09-06T16:20:00+00:00",
                body="<p>Here is some text containing an interesting description, and more.</p>",
            )
        ],
    ),
    PeerCase(
        "reader",
        "full_atom",
        atom(
            '<entry><title>Atom-Powered Robots Run Amok</title><link href="http://example.org/2003/12/13/atom03"/>'
            "<id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id><updated>2003-12-13T18:30:02Z</updated>"
            "<published>2003-12-13T17:30:02Z</published><summary>Some text.</summary>"
            '<content type="html">&lt;p&gt;Some longer content, with markup.&lt;/p&gt;</content></entry>'
        ),
        [
            E(
                title="Atom-Powered Robots Run Amok",
                link="http://example.org/2003/12/13/atom03",
                date="2003-12-13T17:30:02+00:00",
                body="<p>Some longer content, with markup.</p>",
            )
        ],
    ),
    PeerCase(
        "reader",
        "relative_rss",
        b'<?xml version="1.0" encoding="UTF-8" ?><rss version="2.0"><channel><link>file.html</link>'
        b'<item><link>blog/post/1</link><guid isPermaLink="false">7bd204c6</guid>'
        b'<description>one &lt;a href="target"&gt;two&lt;/a&gt; three</description></item></channel></rss>',
        [
            E(
                link="http://localhost:8080/dir/blog/post/1",
                body='one <a href="target">two</a> three',
            )
        ],
        feed_url="http://localhost:8080/dir/relative.rss",
    ),
    PeerCase(
        "reader",
        "relative_atom",
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://localhost:8080/dir/">'
        b'<link href="file.html"/><id>urn:x</id><updated>2020-01-01T00:00:00Z</updated>'
        b'<entry><id>urn:e</id><link href="blog/post/1"/><updated>2020-01-01T00:00:00Z</updated>'
        b'<summary type="html">one &lt;a href="target"&gt;two&lt;/a&gt; three</summary></entry></feed>',
        [E(link="http://localhost:8080/dir/blog/post/1", date="2020-01-01T00:00:00+00:00")],
        feed_url="http://localhost:8080/dir/relative.atom",
    ),
    PeerCase(
        "reader",
        "full_json",
        json_feed(
            [
                {
                    "id": "2",
                    "title": "Title",
                    "content_text": "Content with no link",
                    "content_html": 'Content with <a href="http://example.com/">link</a>',
                    "summary": "A summary",
                    "date_published": "2020-01-02T14:00:00-07:00",
                    "date_modified": "2020-01-04T01:00:00+0100",
                    "url": "https://example.org/second-item",
                    "language": "de",
                },
                {
                    "id": "1",
                    "content_html": "<p>Hello, world!</p>",
                    "url": "https://example.org/initial-post",
                    "date_published": "2020-01-02T12:00:00Z",
                    "author": {"name": "Jane"},
                },
            ],
            home_page_url="https://example.org/",
        ),
        [
            E(
                title="Title",
                link="https://example.org/second-item",
                date="2020-01-02T21:00:00+00:00",
                body='Content with <a href="http://example.com/">link</a>',
            ),
            E(
                title=None,
                link="https://example.org/initial-post",
                date="2020-01-02T12:00:00+00:00",
                body="<p>Hello, world!</p>",
            ),
        ],
        content_type="application/feed+json",
    ),
    PeerCase(
        "reader",
        "json_unknown_version_still_items",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/2",
                "items": [
                    {"id": "u", "url": "https://example.org/u", "content_text": "Unknown version."}
                ],
            }
        ).encode(),
        [E(link="https://example.org/u", body="Unknown version.")],
        content_type="application/json",
    ),
    PeerCase(
        "reader",
        "entry_updated_no_published",
        atom("<entry><id>1</id><title>t</title><updated>2010-08-24T00:00:00Z</updated></entry>"),
        [E(date="2010-08-24T00:00:00+00:00")],
    ),
    # ------------------------------------------------------------------ ROME test feeds
    *[
        PeerCase(
            "rome",
            f"rss_{version}_items",
            (
                f'<?xml version="1.0"?><rss version="{version}"><channel><title>Channel title</title>'
                "<link>http://localhost:8080/</link><description>Channel description</description>"
                + "".join(
                    f"<item><title>Item {i} title</title><link>http://localhost:8080/item{i}</link>"
                    f"<description>Item {i} description</description></item>"
                    for i in range(2)
                )
                + "</channel></rss>"
            ).encode(),
            [
                E(
                    title=f"Item {i} title",
                    link=f"http://localhost:8080/item{i}",
                    body=f"Item {i} description",
                )
                for i in range(2)
            ],
        )
        for version in ("0.91", "0.92", "0.93", "0.94", "2.0")
    ],
    PeerCase(
        "rome",
        "rss_2.0_pubdate_two_digit_year",
        rss("<item><title>t</title><pubDate>Sun, 19 May 02 15:21:36 GMT</pubDate></item>"),
        [E(date="2002-05-19T15:21:36+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_pubdate_pdt",
        rss("<item><title>t</title><pubDate>Tue, 10 Jun 2003 04:00:00 PDT</pubDate></item>"),
        [E(date="2003-06-10T11:00:00+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_1.0_items",
        rdf(
            "".join(
                f'<item rdf:about="http://localhost:8080/item{i}"><title>Item {i} title</title>'
                f"<link>http://localhost:8080/item{i}</link><description>Item {i} description</description>"
                f"<dc:date>2000-01-0{i + 1}T00:00:00Z</dc:date></item>"
                for i in range(2)
            )
        ),
        [
            E(
                title=f"Item {i} title",
                link=f"http://localhost:8080/item{i}",
                body=f"Item {i} description",
                date=f"2000-01-0{i + 1}T00:00:00+00:00",
            )
            for i in range(2)
        ],
    ),
    PeerCase(
        "rome",
        "atom_0.3_entries",
        atom03(
            "".join(
                f'<entry><title>Entry {i} title</title><link rel="alternate" type="text/html" '
                f'href="http://localhost:8080/entry{i}"/><id>urn:e{i}</id>'
                f"<issued>2000-0{i + 1}-01T00:00:00Z</issued><modified>2000-0{i + 1}-02T00:00:00Z</modified>"
                f'<content type="text/plain" mode="xml">Entry {i} content</content></entry>'
                for i in range(2)
            )
        ),
        [
            E(
                title=f"Entry {i} title",
                link=f"http://localhost:8080/entry{i}",
                date=f"2000-0{i + 1}-01T00:00:00+00:00",
                body=f"Entry {i} content",
            )
            for i in range(2)
        ],
    ),
    PeerCase(
        "rome",
        "atom_1.0_xml_base_relative_base",
        atom(
            '<entry xml:base="sub/"><id>1</id><title>t</title><link href="page.html"/>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>",
            base="http://example.org/base/",
        ),
        [E(link="http://example.org/base/sub/page.html")],
    ),
    PeerCase(
        "rome",
        "atom_1.0_entry_text_title_with_markup_characters",
        atom(
            '<entry><id>1</id><title type="text">Less &lt;than&gt; more</title><updated>2024-01-01T00:00:00Z</updated>'
            "<content>Body.</content></entry>"
        ),
        [E(title="Less <than> more")],
    ),
    PeerCase(
        "rome",
        "atom_1.0_content_and_summary",
        atom(
            "<entry><id>1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated><summary>Summary text.</summary>"
            '<content type="html">&lt;p&gt;The content, which is longer than the summary.&lt;/p&gt;</content></entry>'
        ),
        [E(body="<p>The content, which is longer than the summary.</p>")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_title_with_angle_brackets_as_text",
        rss(
            "<item><title>Why a &lt;b&gt; tag is not bold</title><description>x</description></item>"
        ),
        [E(title="Why a <b> tag is not bold")],
    ),
    PeerCase(
        "rome",
        "atom_1.0_text_title_with_less_than",
        atom(
            '<entry><id>1</id><title type="text">1 &lt; 2 and 3 &gt; 2</title><content>x</content>'
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        ),
        [E(title="1 < 2 and 3 > 2")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_pubdate_bst",
        rss("<item><title>t</title><pubDate>Mon, 01 Jul 2019 09:00:00 BST</pubDate></item>"),
        [E(date="2019-07-01T08:00:00+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_pubdate_cest",
        rss("<item><title>t</title><pubDate>Wed, 14 Aug 2019 12:30:00 CEST</pubDate></item>"),
        [E(date="2019-08-14T10:30:00+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_pubdate_cet",
        rss("<item><title>t</title><pubDate>Wed, 04 Dec 2019 12:30:00 CET</pubDate></item>"),
        [E(date="2019-12-04T11:30:00+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_pubdate_aest",
        rss("<item><title>t</title><pubDate>Thu, 05 Dec 2019 10:00:00 AEST</pubDate></item>"),
        [E(date="2019-12-05T00:00:00+00:00")],
    ),
    PeerCase(
        "rome",
        "atom_1.0_iso_basic_format",
        atom("<entry><id>1</id><title>t</title><updated>20031231T101455Z</updated></entry>"),
        [E(date="2003-12-31T10:14:55+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_dc_date_without_seconds",
        rss("<item><title>t</title><dc:date>2004-06-01T10:00+02:00</dc:date></item>", ns=DC),
        [E(date="2004-06-01T08:00:00+00:00")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_link_with_surrounding_whitespace",
        rss("<item><title>t</title><link>\n   http://example.org/spaced   \n</link></item>"),
        [E(link="http://example.org/spaced")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_link_in_cdata",
        rss("<item><title>t</title><link><![CDATA[http://example.org/a?b=1&c=2]]></link></item>"),
        [E(link="http://example.org/a?b=1&c=2")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_itunes_summary_body",
        rss(
            "<item><title>Episode 1</title><itunes:summary>What the episode is about.</itunes:summary></item>",
            ns=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
        ),
        [E(body="What the episode is about.")],
    ),
    PeerCase(
        "rome",
        "rss_2.0_guid_urn_only",
        rss(
            '<item><title>t</title><guid isPermaLink="false">urn:uuid:1234</guid><description>x</description></item>'
        ),
        [E(link=None)],
    ),
    PeerCase(
        "rome",
        "rss_2.0_tag_uri_permalink",
        rss(
            "<item><title>t</title><guid>tag:example.org,2024:1</guid><description>x</description></item>"
        ),
        [E(link="tag:example.org,2024:1")],
        conventions={"link": NON_HTTP},
    ),
]
