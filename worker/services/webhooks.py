"""Webhooks: post every outbox event to each subscriber, in order, signed, with retries.

Each subscriber has a cursor (`last_event_id`). A delivery run posts the events after it
one by one; a 2xx moves the cursor on. A failure (network error, non-2xx, refused address)
stops the run for that subscriber and schedules the next attempt with exponential backoff
and jitter. An event that stays undeliverable for NEWS_INGEST_WEBHOOK_GIVE_UP_S (a day) is
skipped, and the failure stays visible in `subscribers list` (status, last_error).

Requests: `POST <url>` with the ArticleEvent as JSON and the headers
`X-News-Ingest-Event` (type), `X-News-Ingest-Idempotency-Key`, `X-News-Ingest-Timestamp`
(Unix seconds) and, when the subscriber has a secret,
`X-News-Ingest-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`: the
timestamp is signed with the body, so a receiver that refuses old timestamps cannot be sent
a captured delivery again later.

The secret is read when a delivery is signed, from the environment variable or file the
subscriber names (`--secret-env`, `--secret-file`), so neither the command line nor the
database holds it; a secret stored by the older `--secret` still works. A secret that cannot
be read fails the delivery (retried with backoff): an event is never sent unsigned instead.

Each delivery has a total deadline (NEWS_INGEST_WEBHOOK_TIMEOUT_S) over connect, send and
the response headers together, so a receiver that trickles bytes cannot hold it longer; the
subscribers of a run are served concurrently, each in its own thread, so a slow one never
delays another. Connections go through the feed fetcher's SSRF guard: private, loopback,
link-local and similar addresses are refused unless NEWS_INGEST_ALLOW_PRIVATE_NETWORKS=1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpcore
import httpx
import structlog
from sqlalchemy import Engine

from worker.errors import FetchError
from worker.settings import Settings, get_settings
from worker.sources.fetch import new_client, total_deadline
from worker.storage import outbox
from worker.storage import subscribers as subscriber_rows
from worker.storage.models import utcnow

__all__ = [
    "DeliveryReport",
    "SecretUnavailable",
    "SubscriberListing",
    "add_subscriber",
    "check_webhook_url",
    "deliver_webhooks",
    "list_subscribers",
    "remove_subscriber",
    "secret_reference",
    "sign",
    "verify",
]

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-News-Ingest-Signature"
# A run leases its subscribers for this long and starts no new request after half of it,
# so a lease never expires while its holder is still posting.
_LEASE = timedelta(seconds=300)
_BACKOFF_BASE_S = 5.0
# Subscribers served at once by one run (one thread each).
_CONCURRENCY = 16
_MAX_SECRET_BYTES = 4096


class SecretUnavailable(Exception):
    """A subscriber's secret could not be read from where it is kept."""


@dataclass(slots=True)
class DeliveryReport:
    """What one delivery run did, over all subscribers."""

    subscribers: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    errors: dict[int, str] = field(default_factory=dict)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header's value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    header: str, body: bytes, secret: str, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """What a receiver does (see the README): the signature over `<t>.<body>` must match
    (constant-time) and `t` must be within `tolerance_s` of now."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, offered) for offered in fields.get("v1", []))


def secret_reference(*, env: str | None = None, file: str | None = None) -> str:
    """Where a subscriber's secret is kept, as stored: `env:NAME` or `file:/absolute/path`.
    Checked now (it must be readable here) so a typo fails at `subscribers add`."""
    if (env is None) == (file is None):
        raise ValueError("give the secret's environment variable or its file, not both")
    reference = f"env:{env}" if env is not None else f"file:{Path(file or '').resolve()}"
    read_secret(reference)
    return reference


def read_secret(reference: str) -> str:
    """The secret an `env:`/`file:` reference names; SecretUnavailable if it cannot be read."""
    kind, _, where = reference.partition(":")
    if kind == "env":
        value = os.environ.get(where, "")
    elif kind == "file":
        try:
            with open(where, "rb") as handle:
                value = handle.read(_MAX_SECRET_BYTES + 1).decode().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise SecretUnavailable(
                f"the secret file {where} cannot be read ({type(error).__name__})"
            ) from None
        if len(value) > _MAX_SECRET_BYTES:
            raise SecretUnavailable(
                f"the secret file {where} is larger than {_MAX_SECRET_BYTES} bytes"
            )
    else:
        raise SecretUnavailable(f"unknown secret reference {kind!r}")
    if not value:
        raise SecretUnavailable(
            f"the secret {'variable' if kind == 'env' else 'file'} {where} is unset or empty"
        )
    return value


def check_webhook_url(url: str) -> str:
    """The URL, if it is an absolute http(s) URL; ValueError otherwise."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, UnicodeError) as error:
        raise ValueError(f"invalid URL {url!r}: {error}") from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"a webhook URL must be an absolute http or https URL, not {url!r}")
    return str(parsed)


def add_subscriber(
    *,
    engine: Engine,
    url: str,
    secret: str | None = None,
    secret_ref: str | None = None,
    from_start: bool = False,
) -> int | None:
    """Register a webhook receiving events from now on (or every retained event), signed
    with the secret `secret_ref` names (see `secret_reference`) or, older style, `secret`."""
    url = check_webhook_url(url)
    with engine.begin() as connection:
        start = 0 if from_start else outbox.last_event_id(connection=connection)
        return subscriber_rows.add_subscriber(
            connection=connection,
            url=url,
            secret=secret or None,
            secret_ref=secret_ref,
            last_event_id=start,
        )


def deliver_webhooks(
    *,
    engine: Engine,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    batch: int = 100,
    rng: Callable[[], float] = random.random,
) -> DeliveryReport:
    """One delivery run over every due subscriber. `now` is for tests that move time."""
    settings = settings or get_settings()
    now = now or utcnow()
    report = DeliveryReport()
    with engine.begin() as connection:
        due = subscriber_rows.claim_due(connection=connection, now=now, lease_until=now + _LEASE)
    if not due:
        return report
    own_client = client is None
    if client is None:
        client = new_client(settings)

    def deliver(subscriber: subscriber_rows.DueSubscriber) -> DeliveryReport:
        own = DeliveryReport(subscribers=1)
        assert client is not None
        _deliver_to(
            engine,
            client,
            subscriber,
            settings=settings,
            now=now,
            batch=batch,
            rng=rng,
            report=own,
        )
        return own

    try:
        # A thread per subscriber (the client's pool and the engine are thread-safe): a
        # receiver that takes the whole deadline on every event holds its own thread only.
        with ThreadPoolExecutor(
            max_workers=min(len(due), _CONCURRENCY), thread_name_prefix="news-ingest-webhook"
        ) as pool:
            for own in pool.map(deliver, due):
                report.subscribers += own.subscribers
                report.delivered += own.delivered
                report.failed += own.failed
                report.skipped += own.skipped
                report.errors.update(own.errors)
    finally:
        if own_client:
            client.close()
    return report


def _deliver_to(
    engine: Engine,
    client: httpx.Client,
    subscriber: subscriber_rows.DueSubscriber,
    *,
    settings: Settings,
    now: datetime,
    batch: int,
    rng: Callable[[], float],
    report: DeliveryReport,
) -> None:
    started = time.monotonic()
    with engine.connect() as connection:
        events = outbox.events_after(
            connection=connection, after_id=subscriber.last_event_id, limit=batch
        )
    outcome: dict[str, object] = {
        "last_event_id": subscriber.last_event_id,
        "next_attempt_at": None,
    }
    failing_since = subscriber.failing_since
    error_count = subscriber.error_count
    for event in events:
        if time.monotonic() - started > _LEASE.total_seconds() / 2:
            break
        error = _post(client, subscriber, event, settings)
        if error is None:
            report.delivered += 1
            failing_since, error_count = None, 0
            outcome.update(
                last_event_id=event.id, status="active", failing_since=None, error_count=0
            )
            continue
        report.failed += 1
        report.errors[subscriber.id] = error
        error_count += 1
        failing_since = failing_since or now
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        outcome.update(status="failing", failing_since=failing_since, error_count=error_count)
        # Undeliverable since the later of: the subscriber started failing, the event was
        # written. After a day of that the event is skipped, so one event the subscriber
        # always refuses (or a long outage) cannot stop its deliveries for good.
        stuck_for = now - max(failing_since, event.created_at)
        if stuck_for.total_seconds() >= settings.webhook_give_up_s:
            report.skipped += 1
            log.error(
                "webhook event given up",
                subscriber_id=subscriber.id,
                event_id=event.id,
                idempotency_key=event.idempotency_key,
                error=error,
            )
            outcome.update(
                last_event_id=event.id,
                last_error=(
                    f"{stamp} gave up on event {event.id} ({event.idempotency_key}) after "
                    f"{stuck_for.total_seconds() / 3600:.1f} h of failures: {error}"
                ),
            )
            continue
        delay = _backoff(error_count, settings.webhook_backoff_max_s, rng)
        log.warning(
            "webhook delivery failed",
            subscriber_id=subscriber.id,
            event_id=event.id,
            error=error,
            retry_in_s=round(delay, 1),
        )
        outcome.update(
            last_error=f"{stamp} event {event.id}: {error}",
            next_attempt_at=now + timedelta(seconds=delay),
        )
        break
    with engine.begin() as connection:
        subscriber_rows.record_delivery(
            connection=connection, subscriber_id=subscriber.id, values=outcome
        )


def _post(
    client: httpx.Client,
    subscriber: subscriber_rows.DueSubscriber,
    event: outbox.OutboxRow,
    settings: Settings,
) -> str | None:
    """POST one event; None on a 2xx, else what went wrong (one line)."""
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Accept": "*/*",
        "X-News-Ingest-Event": event.event_type,
        "X-News-Ingest-Idempotency-Key": event.idempotency_key,
        "X-News-Ingest-Timestamp": str(timestamp),
    }
    try:
        secret = subscriber.secret or (
            read_secret(subscriber.secret_ref) if subscriber.secret_ref else None
        )
    except SecretUnavailable as error:
        return f"secret_unavailable: {error}"
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret, timestamp)
    deadline_s = settings.webhook_timeout_s
    try:
        # One deadline for connect, send and the response headers together (every socket
        # operation is clamped to it); streamed and closed unread: a subscriber's response
        # body is of no interest, and an endless one must not be read.
        with (
            total_deadline(deadline_s),
            client.stream(
                "POST",
                subscriber.url,
                content=body,
                headers=headers,
                timeout=httpx.Timeout(deadline_s),
            ) as response,
        ):
            status = response.status_code
    except FetchError as error:
        return f"{error.kind}: {error}"
    except (httpx.TimeoutException, httpcore.TimeoutException):
        return f"timeout: no answer within {deadline_s:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        # InvalidURL: a malformed Location (`http:99999`) in the subscriber's answer.
        return f"{type(error).__name__}: {error}".rstrip(": ")
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


def _backoff(failures: int, cap_s: float, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter: half the delay fixed, half random."""
    delay = min(cap_s, _BACKOFF_BASE_S * 2 ** min(failures - 1, 30))
    return float(delay / 2 + rng() * delay / 2)


# ---------------------------------------------------------------------------------------
# The subscriber registry, as `news-ingest subscribers` reads and changes it.

SubscriberListing = subscriber_rows.SubscriberListing  # never with its secret


def list_subscribers(*, engine: Engine) -> list[SubscriberListing]:
    """Every subscriber: delivery cursor, backlog, failure state, where its secret is read."""
    with engine.connect() as connection:
        return subscriber_rows.list_subscribers(connection=connection)


def remove_subscriber(*, engine: Engine, subscriber_id: int) -> bool:
    """Delete a subscriber; False if there is none with this id."""
    with engine.begin() as connection:
        return subscriber_rows.remove_subscriber(connection=connection, subscriber_id=subscriber_id)
