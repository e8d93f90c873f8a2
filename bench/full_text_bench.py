"""Full text benchmark: extraction quality and speed on saved real news pages, the teaser
rule's numbers, and a teaser-only feed fetched end to end.

    python bench/full_text_bench.py [--rounds 3] [--json OUT]

What it does, in one run:

1. extraction shingle F1 (word 4-grams, the measure of the public article extraction
   benchmarks) of every page of bench/pages/ against its ground truth: our configuration
   (trafilatura, favor_precision), trafilatura's default and favor_recall, and
   readability-lxml when it is installed (not a dependency: `pip install readability-lxml`);
2. pages per second of `worker.sources.page.extract_page` in this one process, one thread
   (what one worker process does per page, fetching aside), over `--rounds` passes;
3. the teaser rule: lengths of the articles' first paragraphs (what a teaser usually is)
   and of the whole articles, in characters;
4. end to end: a local HTTP server (127.0.0.1) serving a teaser-only RSS feed whose entries
   link to the saved pages, plus robots.txt; `feeds fetch` (in process, SQLite) with the
   per-host spacing lifted; stored bodies scored against the ground truth, the share with
   body_source "page", and pages per second including fetch, robots.txt and ingest.

Not a test: it prints numbers (and --json writes them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "bench" / "pages"
sys.path.insert(0, str(ROOT))


def shingle_f1(predicted: str, expected: str, n: int = 4) -> tuple[float, float, float]:
    """(precision, recall, F1) of word n-gram multisets."""

    def shingles(text: str) -> Counter[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)))

    got, want = shingles(predicted), shingles(expected)
    common = sum((got & want).values())
    if not common:
        return 0.0, 0.0, 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def load_pages() -> list[tuple[str, bytes, str]]:
    return [
        (path.name[: -len(".html.gz")], gzip.decompress(path.read_bytes()),
         (PAGES / path.name.replace(".html.gz", ".txt")).read_text(encoding="utf-8"))
        for path in sorted(PAGES.glob("*.html.gz"))
    ]  # fmt: skip


def score(pages: list[tuple[str, bytes, str]], extract: Callable[[bytes], str]) -> dict[str, Any]:
    per_page = {name: shingle_f1(extract(html), text) for name, html, text in pages}
    return {
        "f1": statistics.mean(f for _, _, f in per_page.values()),
        "precision": statistics.mean(p for p, _, _ in per_page.values()),
        "recall": statistics.mean(r for _, r, _ in per_page.values()),
        "per_page_f1": {name: round(f, 3) for name, (_, _, f) in per_page.items()},
    }


def extractors() -> dict[str, Callable[[bytes], str]]:
    import trafilatura

    from worker.sources.page import extract_page

    found: dict[str, Callable[[bytes], str]] = {
        "news-ingest (trafilatura favor_precision)": lambda html: (
            extract_page(html, url="https://bench.test/a").text
        ),
        "trafilatura default": lambda html: trafilatura.extract(html) or "",
        "trafilatura favor_recall": lambda html: trafilatura.extract(html, favor_recall=True) or "",
    }
    try:
        from lxml import html as lxml_html
        from readability import Document  # optional comparator, not a dependency

        def readability_text(html: bytes) -> str:
            summary = Document(html).summary(html_partial=True)
            return lxml_html.fromstring(summary).text_content() if summary.strip() else ""

        found["readability-lxml"] = readability_text
    except ImportError:
        pass
    return found


def speed(pages: list[tuple[str, bytes, str]], rounds: int) -> dict[str, float]:
    from worker.sources.page import extract_page

    extract_page(pages[0][1], url="https://bench.test/warm")  # imports and lazy setup
    times: list[float] = []
    for _ in range(rounds):
        for _name, html, _ in pages:
            started = time.perf_counter()
            extract_page(html, url="https://bench.test/a")
            times.append(time.perf_counter() - started)
    return {
        "pages_per_s": len(times) / sum(times),
        "median_ms": statistics.median(times) * 1000,
        "max_ms": max(times) * 1000,
        "median_page_kib": statistics.median(len(html) for _, html, _ in pages) / 1024,
    }


def teaser_numbers(pages: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    from worker.services.full_text import TEASER_MAX_CHARS

    leads, twos, whole = [], [], []
    for _name, _, text in pages:
        paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
        leads.append(len(paragraphs[0]))
        twos.append(len(" ".join(paragraphs[:2])))
        whole.append(len(text))
    return {
        "lead_chars": {"min": min(leads), "median": statistics.median(leads), "max": max(leads)},
        "two_leads_chars": {"min": min(twos), "median": statistics.median(twos), "max": max(twos)},
        "article_chars": {"min": min(whole), "median": statistics.median(whole), "max": max(whole)},
        "leads_under_rule": sum(n < TEASER_MAX_CHARS for n in leads) / len(leads),
        "articles_under_rule": sum(n < TEASER_MAX_CHARS for n in whole) / len(whole),
    }


def end_to_end(pages: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    """A teaser-only feed over the saved pages, fetched with `feeds fetch` on SQLite."""
    by_path = {f"/news/{name}.html": html for name, html, _ in pages}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nDisallow: /private/\n", "text/plain"
            elif self.path == "/feed.xml":
                body, kind = feed, "application/rss+xml"
            elif self.path in by_path:
                body, kind = by_path[self.path], "text/html"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    items = "".join(
        f"<item><title>{escape(name)}</title><link>{base}/news/{name}.html</link>"
        f'<guid isPermaLink="false">{escape(name)}</guid>'
        f"<description>{escape(text[:150])} …</description></item>"
        for name, _, text in pages
    )
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Teasers</title>'
        f"<link>{base}/</link><description>d</description>{items}</channel></rss>"
    ).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(
            DATABASE_URL=f"sqlite:///{scratch}/bench.db",
            NEWS_INGEST_ALLOW_PRIVATE_NETWORKS="1",
            NEWS_INGEST_PER_HOST_RATE_PER_MINUTE="600000",
            NEWS_INGEST_FULL_TEXT="auto",
            NEWS_INGEST_REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"),
            NEWS_INGEST_LOG_LEVEL="WARNING",
        )
        from sqlalchemy import select

        from worker.logs import configure_logging
        from worker.services import feeds as feed_service
        from worker.storage import feeds as feed_rows
        from worker.storage.migrate import upgrade_embedded
        from worker.storage.models import Article
        from worker.storage.session import get_engine

        configure_logging(level="WARNING")
        engine = upgrade_embedded(get_engine())
        with engine.begin() as connection:
            added, _ = feed_rows.add_feed(connection=connection, url=f"{base}/feed.xml")
        started = time.perf_counter()
        feed_service.fetch_feeds(engine=engine, selection=added.id)
        elapsed = time.perf_counter() - started
        with engine.connect() as connection:
            rows = connection.execute(
                select(Article.guid, Article.body, Article.body_source, Article.full_text_error)
            ).all()
    server.shutdown()
    truths = {name: text for name, _, text in pages}
    scores = [shingle_f1(row.body, truths[row.guid])[2] for row in rows]
    return {
        "entries": len(pages),
        "stored": len(rows),
        # Of the stored articles: two saved pages (cleveland.com1, video_article_01) hold
        # the same article, stored once.
        "body_source_page_share": sum(row.body_source == "page" for row in rows) / len(rows),
        "f1": statistics.mean(scores) if scores else 0.0,
        "errors": sorted({row.full_text_error for row in rows if row.full_text_error}),
        "seconds": elapsed,
        "pages_per_s": len(pages) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()

    pages = load_pages()
    results: dict[str, Any] = {"pages": len(pages), "extractors": {}}
    for name, extract in extractors().items():
        scored = score(pages, extract)
        results["extractors"][name] = scored
        print(f"{name:45} F1 {scored['f1']:.3f}  P {scored['precision']:.3f}  "
              f"R {scored['recall']:.3f}")  # fmt: skip
    results["extraction_speed"] = timing = speed(pages, args.rounds)
    print(
        f"extraction, one process, one thread: {timing['pages_per_s']:.1f} pages/s; "
        f"median {timing['median_ms']:.0f} ms, max {timing['max_ms']:.0f} ms a page "
        f"(median page {timing['median_page_kib']:.0f} KiB)"
    )
    results["teaser_rule"] = teaser_numbers(pages)
    print("teaser rule:", json.dumps(results["teaser_rule"]))
    if not args.skip_end_to_end:
        results["end_to_end"] = end_to_end(pages)
        e2e = results["end_to_end"]
        print(
            f"end to end: {e2e['stored']}/{e2e['entries']} stored, body_source=page "
            f"{e2e['body_source_page_share']:.0%}, F1 {e2e['f1']:.3f}, "
            f"{e2e['pages_per_s']:.1f} pages/s ({e2e['seconds']:.1f} s); errors {e2e['errors']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
