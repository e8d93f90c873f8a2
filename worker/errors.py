"""Errors that cross layers: bad input that is rejected, and faults that are retried."""

from __future__ import annotations

from http import HTTPStatus


class RejectedInput(Exception):
    """Input we will never be able to ingest: kept in `rejects` with this reason, never retried."""

    def __init__(self, reason: str, *, raw: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class FetchError(Exception):
    """A feed could not be fetched; `kind` names the failure for metrics and `feeds list`."""

    def __init__(self, kind: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


# What a feed's `last_error` (stored, and shown by `feeds list` and GET /feeds) says for each
# kind: never the text of the underlying error, which names hosts, addresses and how
# internal names resolve (an oracle for whoever can add a feed). Details go to the log.
_PUBLIC_FETCH_ERRORS = {
    "ssrf_refused": "refused: the feed's address is not public",
    "connect": "could not connect to the server",
    "timeout": "the server did not answer in time",
    "dns": "the host name could not be resolved",
    "tls": "the TLS handshake or certificate check failed",
    "network": "the connection failed during the transfer",
    "protocol": "the server sent malformed HTTP",
    "invalid_url": "not a URL that can be fetched",
    "redirect_loop": "the redirects form a loop",
    "too_many_redirects": "too many redirects",
    "too_large": "the document is larger than NEWS_INGEST_FETCH_MAX_BYTES",
    "decode": "the document's content encoding could not be decoded",
    "not_a_feed": "the document is not an RSS or Atom feed",
    "too_deep": "the feed's markup is nested deeper than NEWS_INGEST_MAX_FEED_DEPTH",
    "rate_limited": "the server asked us to slow down (HTTP 429/503)",
    "gone": "HTTP 410 Gone: the feed was removed",
    "internal": "an internal error; see the worker's log",
}


def public_fetch_error(error: FetchError) -> str:
    """`<kind>: <fixed message>` for a failed fetch, safe to store and show to anyone."""
    kind = error.kind
    if kind.startswith("http_") and kind[5:].isdigit():
        status = int(kind[5:])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        return f"{kind}: HTTP {status} {phrase}".rstrip()
    return f"{kind}: {_PUBLIC_FETCH_ERRORS.get(kind, 'the fetch failed')}"
