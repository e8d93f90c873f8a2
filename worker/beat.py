"""Celery beat with a heartbeat file: beat does not answer `celery inspect ping`, so the
compose healthcheck looks at how fresh this file is instead."""

from __future__ import annotations

import os
from pathlib import Path

from celery.beat import PersistentScheduler

HEARTBEAT_FILE = Path(
    os.environ.get("NEWS_INGEST_BEAT_HEARTBEAT", "/tmp/news-ingest-beat.heartbeat")
)


class HeartbeatScheduler(PersistentScheduler):  # type: ignore[misc]  # celery is untyped
    """The default scheduler, touching HEARTBEAT_FILE on every tick."""

    def tick(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        HEARTBEAT_FILE.touch()
        # Tick at least every 15 s so the heartbeat stays fresh between due tasks.
        return min(super().tick(*args, **kwargs), 15.0)
