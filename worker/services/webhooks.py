"""Webhooks: post every outbox event to each subscriber, in order, signed, with retries.

Each subscriber has a cursor (`last_event_id`). A delivery run posts the events after it
one by one; a 2xx moves the cursor on. A failure (network error, non-2xx, refused address)
stops the run for that subscriber and schedules the next attempt with exponential backoff
and jitter. An event that stays undeliverable for NEWS_INGEST_WEBHOOK_GIVE_UP_S (a day) is
skipped, and the failure stays visible in `subscribers list` (status, last_error).

Requests: `POST <url>` with the ArticleEvent as JSON and the headers
`X-News-Ingest-Event` (type), `X-News-Ingest-Idempotency-Key`, `X-News-Ingest-Timestamp`
(Unix seconds) and, when the subscriber has a secret,
`X-News-Ingest-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the secret>`.
Connections go through the feed fetcher's SSRF guard: private, loopback, link-local and
similar addresses are refused unless NEWS_INGEST_ALLOW_PRIVATE_NETWORKS=1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import Engine

from worker.errors import FetchError
from worker.settings import Settings, get_settings
from worker.storage import outbox
from worker.storage import subscribers as subscriber_rows
from worker.storage.models import utcnow

__all__ = [
    "DeliveryReport",
    "add_subscriber",
    "check_webhook_url",
    "deliver_webhooks",
    "sign",
]

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-News-Ingest-Signature"
# A run leases its subscribers for this long and starts no new request after half of it,
# so a lease never expires while its holder is still posting.
_LEASE = timedelta(seconds=300)
_BACKOFF_BASE_S = 5.0


@dataclass(slots=True)
class DeliveryReport:
    """What one delivery run did, over all subscribers."""

    subscribers: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    errors: dict[int, str] = field(default_factory=dict)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
    *, engine: Engine, url: str, secret: str | None, from_start: bool = False
) -> int | None:
    """Register a webhook receiving events from now on (or every retained event)."""
    url = check_webhook_url(url)
    with engine.begin() as connection:
        start = 0 if from_start else outbox.last_event_id(connection=connection)
        return subscriber_rows.add_subscriber(
            connection=connection, url=url, secret=secret or None, last_event_id=start
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
        from worker.sources.fetch import new_client

        client = new_client(settings)
    try:
        for subscriber in due:
            report.subscribers += 1
            _deliver_to(
                engine,
                client,
                subscriber,
                settings=settings,
                now=now,
                batch=batch,
                rng=rng,
                report=report,
            )
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
    headers = {
        "Content-Type": "application/json",
        "Accept": "*/*",
        "X-News-Ingest-Event": event.event_type,
        "X-News-Ingest-Idempotency-Key": event.idempotency_key,
        "X-News-Ingest-Timestamp": str(int(time.time())),
    }
    if subscriber.secret:
        headers[SIGNATURE_HEADER] = sign(body, subscriber.secret)
    try:
        # Streamed and closed unread: a subscriber's response body is of no interest, and
        # an endless one must not be read.
        with client.stream(
            "POST",
            subscriber.url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(settings.webhook_timeout_s),
        ) as response:
            status = response.status_code
    except FetchError as error:
        return f"{error.kind}: {error}"
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
    return delay / 2 + rng() * delay / 2
