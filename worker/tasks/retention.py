"""`retention.prune`: beat runs it hourly (see worker/services/retention.py)."""

from __future__ import annotations

from worker.app import app
from worker.services.retention import prune_stored
from worker.storage.session import get_engine
from worker.tasks import TASK_OPTIONS


@app.task(name="retention.prune", **{**TASK_OPTIONS, "max_retries": 3})
def prune_retained() -> dict[str, int]:
    """Apply the retention settings once; idempotent, a missed tick is made up next hour."""
    return prune_stored(engine=get_engine())
