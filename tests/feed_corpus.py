"""The robustness corpus: the test feeds shipped in feedparser's sdist on PyPI.

Downloaded once with pip into a cache directory (NEWS_INGEST_TEST_CACHE, default
~/.cache/news-ingest-test) and reused; tests skip with the reason when PyPI is unreachable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FEEDPARSER_VERSION = "6.0.11"
# Headers that runtests.py would send for a file ("Header: Content-type: ..." comments);
# status and redirect lines are for feedparser's own HTTP tests and are left out.
_HEADER_LINE = re.compile(rb"^Header:\s+([A-Za-z-]+):\s*(.+?)\s*$", re.MULTILINE)
_SERVED_HEADERS = {"content-type", "content-language", "content-location", "etag", "last-modified"}


@dataclass(frozen=True, slots=True)
class CorpusFile:
    name: str  # path inside the corpus, e.g. "wellformed/rss/item_guid.xml"
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


def cache_dir() -> Path:
    return Path(
        os.environ.get("NEWS_INGEST_TEST_CACHE", Path.home() / ".cache" / "news-ingest-test")
    )


def corpus_root() -> Path:
    """The extracted tests/ folder of the feedparser sdist, downloading it if needed."""
    target = cache_dir() / f"feedparser-{FEEDPARSER_VERSION}-tests"
    if (target / "wellformed").is_dir():
        return target
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
        download = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"feedparser=={FEEDPARSER_VERSION}",
                "-d",
                scratch,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        archives = list(Path(scratch).glob("feedparser-*.tar.gz"))
        if download.returncode != 0 or not archives:
            pytest.skip(
                f"feedparser {FEEDPARSER_VERSION} sdist not downloadable (is PyPI reachable?): "
                f"{download.stderr.strip()[-300:]}"
            )
        extracted = Path(scratch) / "extracted"
        with tarfile.open(archives[0]) as archive:
            prefix = f"feedparser-{FEEDPARSER_VERSION}/tests/"
            members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
            archive.extractall(extracted, members=members, filter="data")
        # Atomic, so a concurrent or interrupted run never sees half a corpus.
        staged = extracted / f"feedparser-{FEEDPARSER_VERSION}" / "tests"
        try:
            staged.rename(target)
        except OSError:
            if not (target / "wellformed").is_dir():
                raise
    return target


def load_corpus() -> list[CorpusFile]:
    """Every feed document in the corpus (wellformed, illformed, encoding, entities, ...)."""
    root = corpus_root()
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix == ".py":
            continue
        content = path.read_bytes()
        headers = {}
        for name, value in _HEADER_LINE.findall(content[:4096]):
            key = name.decode("ascii").lower()
            if key in _SERVED_HEADERS:
                headers[key] = value.decode("latin-1")
        files.append(CorpusFile(name=str(path.relative_to(root)), content=content, headers=headers))
    if len(files) < 1000:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(
            f"feedparser corpus at {root} looks incomplete ({len(files)} files); removed it"
        )
    return files
