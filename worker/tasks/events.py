"""Outbound events: `events.relay` publishes the outbox to the Redis stream and
`events.deliver` posts it to webhook subscribers (beat runs both every few seconds);
`events.prune` deletes what everyone has had, once retention has passed (hourly)."""

from __future__ import annotations

from worker.app import app
from worker.services import events as event_service
from worker.services import webhooks
from worker.settings import get_settings
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS

# Both tasks are idempotent (the outbox and the subscriber cursors say what is done) and
# cheap when there is nothing to do; a missed tick is made up by the next one.
_OPTIONS = {**TASK_OPTIONS, "max_retries": 3}


@app.task(name="events.relay", **_OPTIONS)
def relay_events() -> int:
    """Publish unsent outbox events (at most 100 batches per run: the next tick goes on)."""
    settings = get_settings()
    return event_service.relay_outbox(
        get_engine(),
        event_service.redis_client(settings),
        batch=settings.relay_batch,
        max_batches=100,
    )


@app.task(name="events.deliver", **_OPTIONS)
def deliver_events() -> int:
    """Post undelivered events to every subscriber that is due."""
    return webhooks.deliver_webhooks(engine=get_engine()).delivered


@app.task(name="events.prune", **_OPTIONS)
def prune_events() -> int:
    """Delete published outbox events older than NEWS_INGEST_EVENTS_RETENTION_S."""
    return event_service.prune_outbox(get_engine(), retention_s=get_settings().events_retention_s)
