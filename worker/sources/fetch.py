"""Fetch one feed document over HTTP, defensively and politely.

Conditional GET, redirects followed by hand (each hop re-checked), one wall-clock deadline
for the whole fetch, a size cap applied after decompression, and SSRF refusal on the address
actually connected to (see `_GuardedBackend`). Knows nothing of the database or Celery.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import MappingProxyType
from typing import Any

import httpcore
import httpx

from worker import USER_AGENT
from worker.errors import FetchError
from worker.settings import Settings, get_settings

__all__ = [
    "FEED_ACCEPT",
    "AddressPolicy",
    "FeedClient",
    "FetchResult",
    "Resolver",
    "allow_any_address",
    "fetch_feed",
    "fetch_page",
    "is_public_address",
    "new_client",
    "parse_retry_after",
    "total_deadline",
]

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Only what we can decode with a bounded output per step (see _Decoder); a server that
# sends br/zstd anyway gets a "decode" error rather than an unbounded decompression.
_ACCEPT_ENCODING = "gzip, deflate"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DECODE_STEP = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
# (host, port, timeout_s) -> the IP addresses to try, in order.
Resolver = Callable[[str, int, float | None], list[str]]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of a successful fetch: a document (2xx) or "not modified" (304)."""

    status: int
    url: str
    content: bytes | None
    etag: str | None
    last_modified: str | None
    headers: Mapping[str, str]
    elapsed_s: float
    # Where the feed now lives, when every redirect followed was permanent (301/308): feed
    # readers move the subscription there; a temporary hop anywhere keeps the old URL.
    moved_to: str | None = None


# ---------------------------------------------------------------------------------------
# SSRF policy


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip: IPAddress) -> bool:
    """True when `ip` is a globally routable unicast address a feed may live on.

    Refuses loopback, private, link-local, multicast, reserved, unspecified, CGNAT,
    documentation and benchmarking ranges, and the same hidden inside IPv6 (IPv4-mapped,
    NAT64, 6to4).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def allow_any_address(ip: IPAddress) -> bool:
    """The policy under NEWS_INGEST_ALLOW_PRIVATE_NETWORKS=1 (tests, private deployments)."""
    return True


def _system_resolver(host: str, port: int, timeout: float | None) -> list[str]:
    """getaddrinfo with a timeout: the OS resolver alone can block longer than our deadline."""
    outcome: dict[str, Any] = {}

    def _lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # OverflowError: a port past the C long range (`http://h:99999999999999999999/`).
        except (OSError, UnicodeError, OverflowError, ValueError) as exc:
            outcome["error"] = exc

    # A thread per lookup, not a pool: pools do not survive Celery's prefork fork.
    thread = threading.Thread(target=_lookup, name="news-ingest-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise FetchError("dns", f"DNS lookup for {host} timed out")
    if "error" in outcome:
        raise FetchError("dns", f"DNS lookup for {host} failed: {outcome['error']}")
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in outcome["infos"]:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise FetchError("dns", f"DNS lookup for {host} returned no address")
    return addresses


# ---------------------------------------------------------------------------------------
# Connect-time guard: an httpcore network backend


# The absolute deadline (time.monotonic()) of the fetch running in this thread/context.
# httpx timeouts are per operation; clamping every socket operation to this deadline makes
# a server that trickles headers or body bytes unable to stretch a fetch past it.
_deadline: ContextVar[float | None] = ContextVar("news_ingest_fetch_deadline", default=None)


def _clamp(timeout: float | None, on_expiry: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise on_expiry("total fetch deadline exceeded")
    return remaining if timeout is None else min(timeout, remaining)


@contextmanager
def total_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation of a `new_client` client inside this block ends within
    `seconds` from now (webhook deliveries use it; `fetch_feed` sets its own)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class _DeadlineStream(httpcore.NetworkStream):
    """A connected stream whose every operation ends by the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host (httpcore passes it), so SNI and certificate
        # checks use the name even though we connected to a pinned IP literal.
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address, connect only to a checked IP literal.

    The name is resolved here and the socket is opened to the very address that passed
    the policy, so there is no second lookup a DNS-rebinding server could answer
    differently. Redirects open new connections and so come through here again.
    """

    def __init__(self, *, policy: AddressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        connect_by = None if timeout is None else time.monotonic() + timeout
        literal = _ip_literal(host)
        candidates = [literal] if literal is not None else self._resolver(host, port, timeout)
        allowed = [a for a in candidates if self._policy(ipaddress.ip_address(a.split("%")[0]))]
        if not allowed:
            raise FetchError(
                "ssrf_refused",
                f"refused to connect to {host} ({', '.join(candidates)}): "
                "not a public address (set NEWS_INGEST_ALLOW_PRIVATE_NETWORKS=1 to allow)",
            )
        last_error: Exception | None = None
        for index, address in enumerate(allowed):
            remaining = None if connect_by is None else connect_by - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            # Share the connect budget, so one blackholed address (often an IPv6 one on a
            # host without IPv6 routing) cannot use all of it.
            attempt = None if remaining is None else remaining / (len(allowed) - index)
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=attempt,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            self._check_peer(stream, host)
            return _DeadlineStream(stream)
        if last_error is not None:
            raise last_error
        raise httpcore.ConnectTimeout(f"connecting to {host} timed out")

    def _check_peer(self, stream: httpcore.NetworkStream, host: str) -> None:
        # Belt and braces: the kernel's idea of the peer must pass the policy too.
        sock = stream.get_extra_info("socket")
        if sock is None:
            return
        peer = str(sock.getpeername()[0]).split("%")[0]
        if not self._policy(ipaddress.ip_address(peer)):
            stream.close()
            raise FetchError("ssrf_refused", f"refused: {host} connected to non-public {peer}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise FetchError("ssrf_refused", "unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response mapping, error mapping) over a pool that
    connects through `_GuardedBackend`."""

    def __init__(
        self,
        *,
        backend: _GuardedBackend,
        verify: ssl.SSLContext | bool,
        limits: httpx.Limits,
    ) -> None:
        # Deliberately not calling super().__init__: httpx exposes no hook for httpcore's
        # network backend, and HTTPTransport's only state is the pool it would build.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),  # honours SSL_CERT_FILE/DIR
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class _NoCookies(DefaultCookiePolicy):
    """Feeds are fetched statelessly: no tracking cookies carried between fetches."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class FeedClient(httpx.Client):
    """An httpx client whose connections pass the SSRF policy; build it with `new_client`."""


def new_client(
    settings: Settings | None = None,
    *,
    address_policy: AddressPolicy | None = None,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
    max_connections: int = 20,
) -> FeedClient:
    """A client to reuse across many `fetch_feed` calls (connection pooling).

    `address_policy` defaults to `is_public_address`, or to allowing everything when
    `settings.allow_private_networks` is set; `resolver` defaults to the system resolver.
    Environment proxies are not used: a proxy would hide the real peer from the policy.
    """
    settings = settings or get_settings()
    if address_policy is None:
        address_policy = allow_any_address if settings.allow_private_networks else is_public_address
    backend = _GuardedBackend(policy=address_policy, resolver=resolver or _system_resolver)
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
    )
    return FeedClient(
        transport=_GuardedTransport(backend=backend, verify=verify, limits=limits),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": FEED_ACCEPT,
            "Accept-Encoding": _ACCEPT_ENCODING,
        },
        cookies=CookieJar(policy=_NoCookies()),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.fetch_total_timeout, connect=settings.fetch_connect_timeout),
    )


# ---------------------------------------------------------------------------------------
# The fetch


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
    auth: tuple[str, str] | None = None,
) -> FetchResult:
    """GET a feed document, conditionally; raise `FetchError` for anything but 2xx/304.

    `auth` (user, password) is sent as Basic auth to the URL's origin only, never to a
    redirect elsewhere; credentials in the URL itself are taken out of it and used so.

    Pass a client from `new_client` to pool connections across feeds. Any other client
    is refused unless private networks are allowed, because only ours checks addresses
    at connect time.
    """
    settings = settings or get_settings()
    if client is None:
        with new_client(settings) as own_client:
            return fetch_feed(
                url,
                etag=etag,
                last_modified=last_modified,
                settings=settings,
                client=own_client,
                auth=auth,
            )
    if not isinstance(client, FeedClient) and not settings.allow_private_networks:
        raise TypeError("fetch_feed needs a client from new_client(): it enforces the SSRF policy")

    started = time.monotonic()
    deadline = started + settings.fetch_total_timeout
    token = _deadline.set(deadline)
    try:
        return _fetch(
            client,
            url,
            etag=etag,
            last_modified=last_modified,
            settings=settings,
            started=started,
            deadline=deadline,
            auth=auth,
        )
    except httpx.HTTPError as exc:
        raise _fetch_error_from(exc) from exc
    except httpx.InvalidURL as exc:
        # httpx builds `next_request` from a redirect's Location even when it does not
        # follow it, and a malformed one (`Location: http:99999`) raises there, outside
        # httpx.HTTPError: this fetch fails, the caller's other feeds go on.
        raise FetchError("invalid_url", f"the server sent an invalid URL: {exc}") from exc
    except (httpcore.TimeoutException, TimeoutError) as exc:
        raise FetchError("timeout", f"fetch timed out: {exc}") from exc
    finally:
        _deadline.reset(token)


def _fetch(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    settings: Settings,
    started: float,
    deadline: float,
    accept: str | None = None,
    auth: tuple[str, str] | None = None,
) -> FetchResult:
    current = _checked_url(url)
    if current.userinfo:
        # Never carried in a URL: it would be copied into the result, the entries' links
        # resolved against it, and every log line naming it.
        auth = auth or (current.username, current.password)
        current = current.copy_with(username=None, password=None)
    origin = (current.scheme, current.host, current.port)
    basic = httpx.BasicAuth(*auth) if auth else None
    visited = {_without_fragment(current)}
    conditional: dict[str, str] = {"Accept": accept} if accept else {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified

    redirects = 0
    permanent = True  # every redirect so far was a 301 or 308
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timeout", f"no response within {settings.fetch_total_timeout:g} s")
        request = client.build_request(
            "GET",
            current,
            headers=conditional,
            timeout=httpx.Timeout(
                remaining, connect=min(settings.fetch_connect_timeout, remaining)
            ),
        )
        same_origin = (current.scheme, current.host, current.port) == origin
        response = client.send(request, stream=True, auth=basic if same_origin else None)
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES and "location" in response.headers:
                target = _redirect_target(current, response.headers["location"])
                if _without_fragment(target) in visited:
                    raise FetchError("redirect_loop", f"redirect loop: {current} -> {target}")
                redirects += 1
                if redirects > settings.fetch_max_redirects:
                    raise FetchError(
                        "too_many_redirects",
                        f"more than {settings.fetch_max_redirects} redirects (last to {target})",
                    )
                visited.add(_without_fragment(target))
                permanent = permanent and status in (301, 308)
                current = target
                continue
            moved_to = str(current) if redirects and permanent else None
            headers = MappingProxyType({k.lower(): v for k, v in response.headers.items()})
            if status == 304:
                return FetchResult(
                    status=304,
                    url=str(current),
                    content=None,
                    etag=headers.get("etag") or etag,
                    last_modified=headers.get("last-modified") or last_modified,
                    headers=headers,
                    elapsed_s=time.monotonic() - started,
                    moved_to=moved_to,
                )
            if 200 <= status < 300:
                content = _read_body(
                    response, max_bytes=settings.fetch_max_bytes, deadline=deadline
                )
                return FetchResult(
                    status=status,
                    url=str(current),
                    content=content,
                    etag=headers.get("etag"),
                    last_modified=headers.get("last-modified"),
                    headers=headers,
                    elapsed_s=time.monotonic() - started,
                    moved_to=moved_to,
                )
            dates = response.headers.get_list("date")
            raise _status_error(
                status, response.reason_phrase, headers, dates[0] if dates else None
            )
        finally:
            response.close()


def _checked_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, UnicodeError) as exc:
        raise FetchError("invalid_url", f"invalid URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchError("invalid_url", f"only http and https are fetched, not {url!r}")
    if not parsed.host:
        raise FetchError("invalid_url", f"URL without a host: {url!r}")
    if not _valid_port(parsed):
        raise FetchError("invalid_url", f"URL with an invalid port: {url!r}")
    return parsed


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, TypeError, UnicodeError, ValueError) as exc:
        raise FetchError("invalid_url", f"redirect to an invalid URL {location!r}") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise FetchError("invalid_url", f"redirect to an unsupported URL {location!r}")
    if not _valid_port(target):
        raise FetchError("invalid_url", f"redirect to an invalid port {location!r}")
    return target


def _valid_port(url: httpx.URL) -> bool:
    return url.port is None or 0 < url.port < 65536


def _without_fragment(url: httpx.URL) -> str:
    return str(url.copy_with(fragment=None))


def _status_error(
    status: int, reason: str, headers: Mapping[str, str], date: str | None
) -> FetchError:
    retry_after = parse_retry_after(headers.get("retry-after"), date=date)
    if status == 410:
        return FetchError("gone", "HTTP 410 Gone: the feed was removed", retry_after_s=retry_after)
    if status == 429 or (status == 503 and retry_after is not None):
        wait = f", retry after {retry_after:.0f} s" if retry_after is not None else ""
        return FetchError(
            "rate_limited", f"HTTP {status} {reason}{wait}", retry_after_s=retry_after
        )
    if 300 <= status < 400:
        message = f"HTTP {status} {reason} without a usable Location"
    else:
        message = f"HTTP {status} {reason}".rstrip()
    return FetchError(f"http_{status}", message, retry_after_s=retry_after)


def parse_retry_after(value: str | None, *, date: str | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date.

    An HTTP date is measured against the response's own Date header when there is one,
    so a server whose clock is off still gets the wait it asked for.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    until = http_date(value)
    if until is None:
        return None
    now = http_date(date) if date else None
    return max(0.0, (until - (now or datetime.now(UTC))).total_seconds())


def http_date(value: str) -> datetime | None:
    """An HTTP date (RFC 9110 IMF-fixdate and the obsolete forms) as UTC, or None."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fetch_page(
    url: str, *, settings: Settings | None = None, client: httpx.Client | None = None
) -> FetchResult:
    """GET an article page (an entry's link) the way feeds are fetched: the same client
    and SSRF check on every hop, deadline, size cap and User-Agent; only Accept differs.
    Raise `FetchError` for anything but 2xx."""
    settings = settings or get_settings()
    if client is None:
        with new_client(settings) as own_client:
            return fetch_page(url, settings=settings, client=own_client)
    if not isinstance(client, FeedClient) and not settings.allow_private_networks:
        raise TypeError("fetch_page needs a client from new_client(): it enforces the SSRF policy")
    started = time.monotonic()
    deadline = started + settings.fetch_total_timeout
    token = _deadline.set(deadline)
    try:
        return _fetch(
            client, url, etag=None, last_modified=None, settings=settings, started=started,
            deadline=deadline, accept=PAGE_ACCEPT,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise _fetch_error_from(exc) from exc
    except (httpcore.TimeoutException, TimeoutError) as exc:
        raise FetchError("timeout", f"fetch timed out: {exc}") from exc
    finally:
        _deadline.reset(token)


# ---------------------------------------------------------------------------------------
# Body: streamed, decompressed in bounded steps, capped


def _read_body(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    codings = [
        c.strip().lower()
        for c in response.headers.get("content-encoding", "").split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    declared = response.headers.get("content-length", "")
    if not codings and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"body of {declared} bytes is over the {max_bytes}-byte cap")

    decoder = _Decoder(codings)
    body = bytearray()
    received = 0
    # Compressed input larger than the cap cannot decompress to less; a margin covers headers.
    raw_cap = max_bytes + 64 * 1024

    def _take(pieces: Iterator[bytes]) -> None:
        for piece in pieces:
            body.extend(piece)
            if len(body) > max_bytes:
                raise FetchError(
                    "too_large", f"body is over the {max_bytes}-byte cap after decompression"
                )

    for raw in response.iter_raw():
        received += len(raw)
        if received > raw_cap:
            raise FetchError("too_large", f"body is over the {max_bytes}-byte cap")
        _take(decoder.feed(raw))
        if time.monotonic() > deadline:
            raise FetchError("timeout", "body not received within the total fetch deadline")
    _take(decoder.flush())
    return bytes(body)


class _Decoder:
    """Undo Content-Encoding (gzip, deflate; stacked in any order) in bounded steps.

    zlib's `max_length` caps each step's output, so one 64 KiB chunk of a gzip bomb cannot
    balloon into 64 MB before the size check sees it.
    """

    def __init__(self, codings: list[str]) -> None:
        self._stages: list[_Stage] = []
        # Content-Encoding lists codings in the order applied; undo them in reverse.
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                self._stages.append(_GzipStage())
            elif coding == "deflate":
                self._stages.append(_DeflateStage())
            else:
                raise FetchError("decode", f"unsupported Content-Encoding {coding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._run(data, 0, final=False)

    def flush(self) -> Iterator[bytes]:
        return self._run(b"", 0, final=True)

    def _run(self, data: bytes, index: int, *, final: bool) -> Iterator[bytes]:
        if index == len(self._stages):
            if data:
                yield data
            return
        stage = self._stages[index]
        for piece in stage.feed(data):
            yield from self._run(piece, index + 1, final=False)
        if final:
            for piece in stage.flush():
                yield from self._run(piece, index + 1, final=False)
            yield from self._run(b"", index + 1, final=True)


class _Stage:
    def feed(self, data: bytes) -> Iterator[bytes]:  # pragma: no cover - interface
        raise NotImplementedError

    def flush(self) -> Iterator[bytes]:  # pragma: no cover - interface
        raise NotImplementedError


def _bounded(decompressor: Any, data: bytes) -> Iterator[bytes]:
    try:
        out = decompressor.decompress(data, _DECODE_STEP)
        while True:
            if out:
                yield out
            tail = decompressor.unconsumed_tail
            if not tail:
                return
            out = decompressor.decompress(tail, _DECODE_STEP)
    except zlib.error as exc:
        raise FetchError("decode", f"corrupt compressed body: {exc}") from exc


class _GzipStage(_Stage):
    """gzip, including multi-member streams; a body labelled gzip but sent plain passes."""

    def __init__(self) -> None:
        self._head = b""
        self._plain: bool | None = None
        self._zlib: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._plain is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._plain = not data.startswith(b"\x1f\x8b")
        if self._plain:
            if data:
                yield data
            return
        while data:
            yield from _bounded(self._zlib, data)
            # A finished member followed by more bytes: the next gzip member, or trailing junk.
            data = self._zlib.unused_data if self._zlib.eof else b""
            if data:
                if not data.startswith(b"\x1f\x8b"):
                    return
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def flush(self) -> Iterator[bytes]:
        if self._head:
            yield self._head
            self._head = b""
        elif self._plain is False:
            # Truncated streams give what they have; the parser copes with a cut document.
            rest = self._zlib.flush(_DECODE_STEP)
            if rest:
                yield rest


class _DeflateStage(_Stage):
    """HTTP "deflate": zlib-wrapped by the spec, raw deflate from many servers; accept both."""

    def __init__(self) -> None:
        self._zlib: Any = zlib.decompressobj(zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if not self._started:
            self._started = True
            try:
                first = self._zlib.decompress(data, _DECODE_STEP)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            else:
                if first:
                    yield first
                data = self._zlib.unconsumed_tail
                if not data:
                    return
        yield from _bounded(self._zlib, data)

    def flush(self) -> Iterator[bytes]:
        if self._started:
            rest = self._zlib.flush(_DECODE_STEP)
            if rest:
                yield rest


# ---------------------------------------------------------------------------------------
# Exceptions from httpx into FetchError kinds


def _fetch_error_from(exc: httpx.HTTPError) -> FetchError:
    if _caused_by(exc, ssl.SSLError) or _caused_by(exc, ssl.CertificateError):
        return FetchError("tls", f"TLS error: {_root_message(exc)}")
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the server"
        return FetchError("timeout", f"timed out {phase}: {_root_message(exc)}")
    if isinstance(exc, httpx.ConnectError):
        return FetchError("connect", f"could not connect: {_root_message(exc)}")
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return FetchError("invalid_url", str(exc))
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return FetchError("protocol", f"malformed HTTP from the server: {_root_message(exc)}")
    if isinstance(exc, httpx.NetworkError):
        return FetchError("network", f"connection failed mid-transfer: {_root_message(exc)}")
    return FetchError("network", f"{type(exc).__name__}: {_root_message(exc)}")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _root_message(exc: BaseException) -> str:
    while (exc.__cause__ or exc.__context__) is not None and not str(exc):
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__
