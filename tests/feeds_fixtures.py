"""Fixtures and builders shared by the feed tests (kept out of conftest.py on purpose).

Test modules import the fixtures they use by name.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pytest_httpserver import HTTPServer

from worker.settings import Settings

SocketHandler = Callable[[socket.socket], None]


def local_settings(**overrides: object) -> Settings:
    """Settings for fetching from the local test server, with small, fast limits."""
    values: dict[str, object] = {
        "allow_private_networks": True,
        "fetch_connect_timeout": 2.0,
        "fetch_total_timeout": 5.0,
        "fetch_max_bytes": 1024 * 1024,
        "fetch_max_redirects": 5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def _module_feed_server() -> Iterator[HTTPServer]:
    # Threaded, unlike the plugin's session server: slow handlers must not block the next.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def feed_server(_module_feed_server: HTTPServer) -> Iterator[HTTPServer]:
    """A local HTTP server on 127.0.0.1, with no handlers and an empty log."""
    _module_feed_server.clear()
    yield _module_feed_server
    _module_feed_server.clear()


@pytest.fixture
def second_server() -> Iterator[HTTPServer]:
    """Another local server, on 127.0.0.2, for redirect hops to a different address."""
    server = HTTPServer(host="127.0.0.2", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@contextmanager
def raw_socket_server(handler: SocketHandler) -> Iterator[tuple[str, int]]:
    """A TCP server on 127.0.0.1 that hands each connection to `handler`, for byte-level
    misbehaviour an HTTP framework will not produce (headers sent one byte at a time)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=_run_handler, args=(handler, conn), daemon=True)
            worker.start()
            workers.append(worker)

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        acceptor.join(timeout=2)
        listener.close()
        for worker in workers:
            worker.join(timeout=5)


def _run_handler(handler: SocketHandler, conn: socket.socket) -> None:
    # the client hung up, which is what these tests provoke
    with conn, contextlib.suppress(OSError):
        handler(conn)


def trickle(payload: bytes, *, every_s: float, max_s: float) -> Iterator[bytes]:
    """Yield `payload` one byte at a time, for at most `max_s` seconds."""
    ends = time.monotonic() + max_s
    for byte in payload:
        if time.monotonic() > ends:
            return
        yield bytes([byte])
        time.sleep(every_s)


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A single-member gzip stream of `decompressed_bytes` zeros (about 1/1000 the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = []
    for _ in range(decompressed_bytes // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def rss_document(items: str, *, channel_extra: str = "", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 document around the given <item> elements."""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0"><channel><title>Example News</title>'
        "<link>https://news.example.com/</link>"
        f"<description>Test feed</description>{channel_extra}{items}</channel></rss>"
    )
    return text.encode(encoding)


def rss_items(count: int, *, words: int = 60) -> str:
    """`count` realistic items with guid, link, date and an HTML description."""
    body = " ".join(f"word{i}" for i in range(words))
    return "".join(
        f"<item><title>Story number {n}</title>"
        f"<link>https://news.example.com/2024/story-{n}?utm_source=rss</link>"
        f'<guid isPermaLink="false">story-{n}</guid>'
        f"<pubDate>Mon, 0{1 + n % 9} Jan 2024 1{n % 10}:00:00 +0100</pubDate>"
        f"<description>&lt;p&gt;{body} {n}&lt;/p&gt;&lt;p&gt;Second paragraph.&lt;/p&gt;</description>"
        "</item>"
        for n in range(count)
    )
