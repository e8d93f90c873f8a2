"""`retention.prune`: delete what is kept only for a while (beat runs it hourly)."""

from __future__ import annotations

from worker.app import app
from worker.services import retention
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS


@app.task(name="retention.prune", **{**TASK_OPTIONS, "max_retries": 3})
def prune_expired() -> dict[str, int]:
    """Prune finished jobs' payloads, old jobs, rejects and revisions per the settings."""
    return retention.prune(get_engine()).as_dict()
