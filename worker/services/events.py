"""The outbound event stream: the relay from the transactional outbox to the Redis Stream
`news-ingest:events`, and reading that stream (tail, consumer groups).

Delivery is at least once. A relay marks outbox rows sent only after Redis accepted them,
so a crash between the two publishes the same events again, with the same idempotency
keys; consumers drop an event whose key they have seen.

Stream entries have three fields: `idempotency_key`, `type` (`article.created` or
`article.updated`) and `payload` (the ArticleEvent as JSON, `schemas/json/
article_event.schema.json`). A consumer group is created once per consuming service:

    XGROUP CREATE news-ingest:events indexer 0 MKSTREAM    (or `news-ingest events ensure-group indexer`)
    XREADGROUP GROUP indexer worker-1 COUNT 100 BLOCK 5000 STREAMS news-ingest:events >
    XACK news-ingest:events indexer <id> ...               (after the event is handled)
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import structlog
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from worker import heartbeat
from worker.resources import Kind, resources
from worker.settings import Settings, get_settings
from worker.storage import outbox
from worker.storage.models import utcnow

__all__ = [
    "EVENTS_STREAM",
    "StreamEntry",
    "ensure_group",
    "read_stream",
    "redis_client",
    "relay_forever",
    "relay_outbox",
]

log = structlog.get_logger(__name__)

EVENTS_STREAM = "news-ingest:events"

# Kept across a fork: redis-py's pool notices one and reconnects in the child.
REDIS_CLIENTS: Kind[redis.Redis] = Kind(
    "event stream redis", close=redis.Redis.close, after_fork=lambda _: None
)


def redis_client(settings: Settings | None = None) -> redis.Redis:
    """The event stream's Redis (NEWS_INGEST_EVENTS_REDIS_URL, else NEWS_INGEST_REDIS_URL, else
    the broker's), one client per process."""
    url = (settings or get_settings()).stream_redis_url
    return resources.get(
        REDIS_CLIENTS,
        url,
        lambda: redis.Redis.from_url(
            url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30
        ),
    )


# ---------------------------------------------------------------------------------------
# Relay


def relay_outbox(
    engine: Engine,
    redis: redis.Redis,
    *,
    batch: int = 500,
    maxlen: int | None = None,
    max_batches: int | None = None,
    stream: str = EVENTS_STREAM,
) -> int:
    """Publish unsent outbox events to the stream in id order; returns how many.

    Each batch is one database transaction: lock the oldest unsent rows, XADD them in one
    pipeline, mark them sent with their entry ids, commit. Returns 0 at once when another
    relay is publishing. Stops when the outbox is drained (or after `max_batches`).
    """
    maxlen = maxlen or get_settings().events_maxlen
    published = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        count = _relay_batch(engine, redis, batch=batch, maxlen=maxlen, stream=stream)
        published += count
        batches += 1
        if count < batch:
            break
    return published


def prune_outbox(
    engine: Engine, *, retention_s: float, batch: int = 10_000, now: datetime | None = None
) -> int:
    """Delete outbox events published more than `retention_s` ago that every enabled
    webhook subscriber has had, in batches of `batch` (short transactions); returns how
    many. `retention_s` 0 keeps everything. The stream keeps its own copy (`events_maxlen`)."""
    if retention_s <= 0:
        return 0
    sent_before = (now or utcnow()) - timedelta(seconds=retention_s)
    pruned = 0
    while True:
        with engine.begin() as connection:
            count = outbox.prune_sent(connection=connection, sent_before=sent_before, limit=batch)
        pruned += count
        if count < batch:
            return pruned


def _relay_batch(
    engine: Engine, redis: redis.Redis, *, batch: int, maxlen: int, stream: str
) -> int:
    with engine.begin() as connection:
        if not outbox.lock_relay(connection=connection):
            return 0
        rows = outbox.lock_unsent(connection=connection, limit=batch)
        if not rows:
            return 0
        entry_ids = _publish(redis, rows, maxlen=maxlen, stream=stream)
        # Redis has the events now. Should this process die before the commit, the rows
        # stay unsent and the next relay publishes them again: at least once, never zero.
        outbox.mark_sent(
            connection=connection,
            stream_ids=list(zip((row.id for row in rows), entry_ids, strict=True)),
            sent_at=utcnow(),
        )
    return len(rows)


def _publish(
    redis: redis.Redis, rows: list[outbox.OutboxRow], *, maxlen: int, stream: str
) -> list[str]:
    """XADD each event, pipelined (one round trip); the entry ids, in order."""
    pipe = redis.pipeline(transaction=False)
    for row in rows:
        pipe.xadd(
            stream,
            {
                "idempotency_key": row.idempotency_key,
                "type": row.event_type,
                "payload": json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False),
            },
            maxlen=maxlen,
            approximate=True,
        )
    accepted: Any = pipe.execute(raise_on_error=True)
    return [_text(entry_id) for entry_id in accepted]


def relay_forever(
    engine: Engine,
    redis: redis.Redis,
    *,
    batch: int,
    poll_s: float,
    stop: threading.Event,
    maxlen: int | None = None,
) -> int:
    """Relay until `stop` is set: drain, then poll every `poll_s` seconds. A database or
    Redis outage is waited out with capped exponential backoff. Returns the total."""
    total = 0
    failures = 0
    while not stop.is_set():
        try:
            count = relay_outbox(engine, redis, batch=batch, maxlen=maxlen, max_batches=20)
        except (SQLAlchemyError, RedisError, OSError) as error:
            failures += 1
            delay = min(30.0, poll_s * 2 ** min(failures, 10))
            log.warning(
                "relay failed, retrying",
                error=str(error).splitlines()[0],
                retry_in_s=round(delay, 1),
            )
            stop.wait(delay)
            continue
        failures = 0
        heartbeat.touch(heartbeat.RELAY_HEARTBEAT)  # the compose healthcheck reads it
        total += count
        if count:
            log.debug("relayed events", count=count)
        if count < batch:
            stop.wait(poll_s)
    return total


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the running batch commits, then the loop ends."""

    def _handler(signum: int, _frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


# ---------------------------------------------------------------------------------------
# Reading the stream


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One event as read from the stream."""

    id: str
    type: str
    idempotency_key: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "idempotency_key": self.idempotency_key,
            "payload": self.payload,
        }


def read_stream(
    redis: redis.Redis,
    *,
    start: str | None = None,
    count: int | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
    block_ms: int = 1000,
    stream: str = EVENTS_STREAM,
) -> Iterator[StreamEntry]:
    """Stream entries, oldest first.

    With `start` (an entry id, inclusive; "0" or "-" for the oldest): the entries from
    there, at most `count`. Without: the last `count` entries (10 by default; none when
    following without a count). With `follow`: then every new entry until `stop` is set.
    """
    last: str | None = None
    if start is None:
        wanted = count if count is not None else (0 if follow else 10)
        newest: Any = redis.xrevrange(stream, count=wanted) if wanted else []
        for entry_id, fields in reversed(newest):
            last = _text(entry_id)
            yield _entry(entry_id, fields)
    else:
        remaining = count
        low = "-" if start in ("0", "-") else start
        while remaining is None or remaining > 0:
            page_size = min(remaining or _PAGE, _PAGE)
            page: Any = redis.xrange(stream, min=low, count=page_size)
            for entry_id, fields in page:
                last = _text(entry_id)
                yield _entry(entry_id, fields)
            if remaining is not None:
                remaining -= len(page)
            if len(page) < page_size:
                break
            low = "(" + last  # type: ignore[operator]  # a full page has a last entry
    if not follow:
        return
    # XREAD returns entries after its cursor: the last one shown, else just before start.
    # A literal "$" would be re-read on each call, losing entries added in between.
    cursor = last or (_newest_id(redis, stream) if start is None else _before(start))
    while stop is None or not stop.is_set():
        response: Any = redis.xread({stream: cursor}, block=block_ms, count=_PAGE)
        for _name, entries in response or []:
            for entry_id, fields in entries:
                cursor = _text(entry_id)
                yield _entry(entry_id, fields)


_PAGE = 1000
_MAX_SEQ = 2**64 - 1


def ensure_group(
    redis: redis.Redis, name: str, *, start: str = "0", stream: str = EVENTS_STREAM
) -> bool:
    """Create consumer group `name` (and the stream if need be); False if it existed."""
    try:
        redis.xgroup_create(stream, name, id=start, mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" in str(error):
            return False
        raise
    return True


def _newest_id(redis: redis.Redis, stream: str) -> str:
    newest: Any = redis.xrevrange(stream, count=1)
    return _text(newest[0][0]) if newest else "0-0"


def _before(entry_id: str) -> str:
    """The XREAD cursor whose next entry is `entry_id` (or the first one after it)."""
    if entry_id in ("-", "0", "0-0"):
        return "0-0"
    ms_text, _, seq_text = entry_id.partition("-")
    ms, seq = int(ms_text), int(seq_text or 0)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{_MAX_SEQ}" if ms > 0 else "0-0"


def _entry(entry_id: bytes | str, fields: dict[Any, Any]) -> StreamEntry:
    values = {_text(key): _text(value) for key, value in fields.items()}
    return StreamEntry(
        id=_text(entry_id),
        type=values.get("type", ""),
        idempotency_key=values.get("idempotency_key", ""),
        payload=json.loads(values.get("payload") or "{}"),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
